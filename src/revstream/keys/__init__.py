"""API keys and admin tokens: generation and hashing. Only hashes are stored."""

from ._keys import (
    ADMIN_TOKEN_PREFIX,
    KEY_PREFIX,
    LICENSOR_TOKEN_PREFIX,
    hash_secret,
    key_hint,
    new_admin_token,
    new_api_key,
    new_id,
    new_licensor_token,
    secrets_equal,
)

__all__ = [
    "ADMIN_TOKEN_PREFIX",
    "KEY_PREFIX",
    "LICENSOR_TOKEN_PREFIX",
    "hash_secret",
    "key_hint",
    "new_admin_token",
    "new_api_key",
    "new_id",
    "new_licensor_token",
    "secrets_equal",
]
