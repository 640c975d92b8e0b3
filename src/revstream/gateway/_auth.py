"""Authentication: customer API keys on /v1, the admin token on /admin.

Verified keys are cached per worker for `auth_cache_ttl_s`, so the hot path reads
the store once per key per interval; a revocation reaches every worker within
that bound (and at once in the worker that served the revocation).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import Engine

from ..keys import hash_secret, secrets_equal
from ..ratelimit import KeyLimits
from ..store import find_key, get_meta
from ._errors import ApiError, unauthorized
from ._loads import SharedLoads

AUTH_CACHE_ENTRIES_MAX = 10_000
ADMIN_TOKEN_META_KEY = "admin_token_sha256"


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    customer_id: str
    customer: str
    limits: KeyLimits = KeyLimits()


def bearer(headers) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class KeyCache:
    def __init__(self, engine: Engine, ttl_s: float) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[Principal | None, float]] = OrderedDict()
        self._loads = SharedLoads()

    def forget(self, key_id: str) -> None:
        for digest, (principal, _) in list(self._entries.items()):
            if principal is not None and principal.key_id == key_id:
                del self._entries[digest]

    async def authenticate(self, headers) -> Principal:
        token = bearer(headers)
        if token is None:
            raise unauthorized(
                "You didn't provide an API key. Send it as an HTTP header: Authorization: Bearer YOUR_KEY "
                "(create one with `revstream keys create --customer NAME`)."
            )
        digest = hash_secret(token)
        cached = self._entries.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            principal = cached[0]
        else:  # one read for every request that asks meanwhile
            principal = await self._loads.run(digest, lambda: self._load(digest))
        if principal is None:
            raise unauthorized("Incorrect API key provided: the key is unknown or revoked.")
        return principal

    async def _load(self, digest: str) -> Principal | None:
        now = time.monotonic()
        row = await asyncio.to_thread(find_key, self._engine, digest)
        principal = None
        if row is not None and row.revoked_us is None:
            limits = KeyLimits(row.requests_per_minute, row.tokens_per_minute)
            principal = Principal(row.key_id, row.customer_id, row.customer, limits)
        self._remember(digest, principal, now)
        return principal

    def _remember(self, digest: str, principal: Principal | None, now: float) -> None:
        if self._ttl_s <= 0:
            return
        self._entries[digest] = (principal, now + self._ttl_s)
        self._entries.move_to_end(digest)
        while len(self._entries) > AUTH_CACHE_ENTRIES_MAX:
            self._entries.popitem(last=False)


async def require_admin(engine: Engine, headers) -> None:
    token = bearer(headers)
    if token is None:
        raise ApiError(401, "admin endpoints need the admin token: Authorization: Bearer rsadmin-…", code="invalid_admin_token")
    stored = await asyncio.to_thread(get_meta, engine, ADMIN_TOKEN_META_KEY)
    if stored is None or not secrets_equal(stored, hash_secret(token)):
        raise ApiError(403, "this operation needs the admin token; a customer key is not enough", code="forbidden")
