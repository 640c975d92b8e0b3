"""Secrets are 256-bit random strings, so a single SHA-256 is a sound stored hash:
there is nothing to brute-force that a slow hash would protect."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "rs-"
ADMIN_TOKEN_PREFIX = "rsadmin-"
LICENSOR_TOKEN_PREFIX = "rslic-"
SECRET_BYTES = 32
HINT_CHARS = 6


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def new_admin_token() -> str:
    return ADMIN_TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def new_licensor_token() -> str:
    return LICENSOR_TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_hint(key: str) -> str:
    """What a person sees in listings: the prefix and the last few characters."""
    return f"{KEY_PREFIX}…{key[-HINT_CHARS:]}"


def secrets_equal(hash_a: str, hash_b: str) -> bool:
    return hmac.compare_digest(hash_a.encode(), hash_b.encode())
