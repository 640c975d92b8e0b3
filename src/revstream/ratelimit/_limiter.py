"""The ``RateLimiter`` interface and the factory that picks its implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from revstream.ratelimit._bucket import KeyLimits, RateDecision
from revstream.ratelimit._local import LocalRateLimiter
from revstream.ratelimit._redis import DEFAULT_KEY_PREFIX, RedisRateLimiter


@runtime_checkable
class RateLimiter(Protocol):
    """Per-key request and token buckets.

    ``admit`` charges 1 request and ``tokens`` tokens (prompt tokens + max_tokens) atomically:
    both or neither. ``give_back`` returns the tokens reserved but not used, after the response.
    ``key_id`` is the API key's id, never its secret.
    """

    async def admit(self, key_id: str, limits: KeyLimits, tokens: int) -> RateDecision: ...

    async def give_back(self, key_id: str, limits: KeyLimits, tokens: int) -> None: ...

    async def ready(self) -> tuple[bool, str]:
        """Whether the counters can be used now, and a word on why not (safe to show anyone)."""
        ...

    async def aclose(self) -> None: ...


def make_rate_limiter(
    redis_url: str | None, *, key_prefix: str = DEFAULT_KEY_PREFIX, clock_us: Callable[[], int] | None = None,
) -> RateLimiter:
    """Redis-backed (shared by the whole fleet) when ``redis_url`` is set, else in-process.

    With a ``redis_url`` there is no fallback: if Redis cannot be reached, ``admit`` raises
    ``RateLimitUnavailable`` rather than counting per process. ``clock_us`` (µs) replaces the
    in-process limiter's monotonic clock, for tests that move time on; Redis keeps its own clock.
    """
    if redis_url:
        return RedisRateLimiter(redis_url, key_prefix=key_prefix)
    return LocalRateLimiter() if clock_us is None else LocalRateLimiter(clock_us=clock_us)
