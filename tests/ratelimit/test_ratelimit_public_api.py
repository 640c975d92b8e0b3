"""Pins the public face of revstream.ratelimit: a change here is a deliberate API change."""

import revstream.ratelimit as ratelimit
from revstream.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter, make_rate_limiter


def test_public_api_is_pinned():
    assert sorted(ratelimit.__all__) == sorted([
        "DEFAULT_KEY_PREFIX", "BucketState", "Decision", "KeyLimits", "KeyState", "LocalRateLimiter",
        "RateDecision", "RateLimitArgumentError", "RateLimitError", "RateLimitUnavailable", "RateLimiter",
        "RedisRateLimiter", "TokenLease", "format_duration_us", "give_back", "give_back_key", "limit_per_minute_max",
        "local_keys_max", "make_rate_limiter", "peek", "rate_limit_headers", "refund", "refusal_message", "take",
        "take_key",
    ])
    for name in ratelimit.__all__:
        assert hasattr(ratelimit, name), name


def test_errors_form_one_hierarchy():
    assert issubclass(ratelimit.RateLimitUnavailable, ratelimit.RateLimitError)
    assert issubclass(ratelimit.RateLimitArgumentError, ratelimit.RateLimitError)
    assert issubclass(ratelimit.RateLimitArgumentError, ValueError)


async def _pick(url):
    limiter = make_rate_limiter(url)
    await limiter.aclose()
    return limiter


def test_factory_picks_redis_only_when_configured():
    import asyncio

    local = asyncio.run(_pick(None))
    shared = asyncio.run(_pick("redis://127.0.0.1:6379/0"))
    assert isinstance(local, LocalRateLimiter) and isinstance(local, RateLimiter)
    assert isinstance(shared, RedisRateLimiter) and isinstance(shared, RateLimiter)
