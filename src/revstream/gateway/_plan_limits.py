"""The rate limits of a customer's plan, cached per worker like verified keys.

A plan's limits hold for the customer as a whole (every key), in the same limiter as the
keys' limits (in-process or Redis) under the bucket ``plan:<customer id>``. A worker reads
a customer's plan at most once per ``auth_cache_ttl_s``, so a change of plan reaches every
worker within that bound.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from sqlalchemy import Engine

from ..ratelimit import KeyLimits
from ..store._plans import plan_rate_limits
from ._loads import SharedLoads

PLAN_CACHE_ENTRIES_MAX = 10_000


def plan_bucket(customer_id: str) -> str:
    return f"plan:{customer_id}"


class PlanLimitCache:
    def __init__(self, engine: Engine, ttl_s: float) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[KeyLimits | None, float]] = OrderedDict()
        self._loads = SharedLoads()

    async def limits_of(self, customer_id: str) -> KeyLimits | None:
        cached = self._entries.get(customer_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return await self._loads.run(customer_id, lambda: self._load(customer_id))

    async def _load(self, customer_id: str) -> KeyLimits | None:
        now = time.monotonic()
        found = await asyncio.to_thread(plan_rate_limits, self._engine, customer_id, time.time_ns() // 1000)
        limits = KeyLimits(*found) if found else None
        if self._ttl_s > 0:
            self._entries[customer_id] = (limits, now + self._ttl_s)
            self._entries.move_to_end(customer_id)
            while len(self._entries) > PLAN_CACHE_ENTRIES_MAX:
                self._entries.popitem(last=False)
        return limits
