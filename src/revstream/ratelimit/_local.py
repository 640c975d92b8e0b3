"""In-process rate limiter: the embedded default (one process, no Redis).

Its counters live in this process only. Run several workers or replicas and each holds its own,
so a key gets the limit once per process: that is why a configured ``redis_url`` always selects
``RedisRateLimiter`` and never falls back to this one.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from revstream.ratelimit._bucket import KeyLimits, KeyState, RateDecision, give_back_key, take_key
from revstream.ratelimit._errors import RateLimitArgumentError

local_keys_max = 100_000
"""Keys whose buckets one process remembers. Beyond it the least recently used key is forgotten,
which refills its buckets; a key idle for a minute is full anyway, so this only matters with more
than ``local_keys_max`` keys active within one minute."""


def monotonic_us() -> int:
    return time.monotonic_ns() // 1000


def check_key_id(key_id: object) -> str:
    if not isinstance(key_id, str) or not key_id:
        raise RateLimitArgumentError(f"key_id must be a non-empty string, not {key_id!r}")
    return key_id


class LocalRateLimiter:
    """Token buckets per API key in a bounded in-process map (least recently used evicted)."""

    def __init__(self, *, keys_max: int = local_keys_max, clock_us: Callable[[], int] = monotonic_us) -> None:
        if not isinstance(keys_max, int) or keys_max < 1:
            raise RateLimitArgumentError(f"keys_max must be a positive integer, not {keys_max!r}")
        self._keys_max = keys_max
        self._clock_us = clock_us
        self._states: OrderedDict[str, KeyState] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._states)

    def _store(self, key_id: str, state: KeyState) -> None:
        self._states[key_id] = state
        self._states.move_to_end(key_id)
        while len(self._states) > self._keys_max:
            self._states.popitem(last=False)

    async def admit(self, key_id: str, limits: KeyLimits, tokens: int) -> RateDecision:
        check_key_id(key_id)
        with self._lock:
            state = self._states.get(key_id)
            decision = take_key(state or KeyState(), self._clock_us(), limits, tokens)
            if state is not None or (decision.allowed and not limits.unlimited):
                self._store(key_id, decision.state)  # a refusal still marks the key as recently used
            return decision

    async def give_back(self, key_id: str, limits: KeyLimits, tokens: int) -> None:
        check_key_id(key_id)
        with self._lock:
            state = self._states.get(key_id)
            next_state = give_back_key(state or KeyState(), self._clock_us(), limits, tokens)
            if state is not None:
                self._store(key_id, next_state)

    async def ready(self) -> tuple[bool, str]:
        return True, "in-process"

    async def aclose(self) -> None:
        self._states.clear()
