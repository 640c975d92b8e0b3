"""Both limiters run the same scenarios: atomic admission, give-back, unlimited keys.

The Redis one runs against the real Redis with a test clock passed to its script, so the
scenarios are exact; Redis-only behaviour (expiry, NOSCRIPT, Redis down, the script agreeing
with the pure core) is in test_ratelimit_redis.py.
"""

from __future__ import annotations

import asyncio
import os
import secrets

import pytest
import redis

from revstream.ratelimit import KeyLimits, LocalRateLimiter, RateLimitArgumentError, RedisRateLimiter

REDIS_URL = os.environ.get("REVSTREAM_TEST_REDIS", "redis://127.0.0.1:6379/0")
START_US = 4_102_444_800_000_000  # 2100-01-01: a test clock runs ahead of the real one (see RedisRateLimiter)


class FakeClock:
    def __init__(self) -> None:
        self.now_us = START_US

    def __call__(self) -> int:
        return self.now_us


def delete_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def limiter_with_clock(request):
    clock = FakeClock()
    if request.param == "local":
        yield LocalRateLimiter(clock_us=clock), clock
        return
    prefix = f"revstream:rl:test:{secrets.token_hex(6)}:"
    yield RedisRateLimiter(REDIS_URL, key_prefix=prefix, clock_us=clock), clock
    delete_prefix(prefix)


def run(coroutine):
    return asyncio.run(coroutine)


def test_both_buckets_are_charged_or_neither(limiter_with_clock):
    limiter, _ = limiter_with_clock
    limits = KeyLimits(requests_per_minute=2, tokens_per_minute=100)

    async def scenario():
        try:
            first = await limiter.admit("key-a", limits, 60)
            by_tokens = await limiter.admit("key-a", limits, 60)
            second = await limiter.admit("key-a", limits, 40)
            await limiter.give_back("key-a", limits, 100)
            by_requests = await limiter.admit("key-a", limits, 1)
            after = await limiter.admit("key-a", KeyLimits(tokens_per_minute=100), 100)
            return first, by_tokens, second, by_requests, after
        finally:
            await limiter.aclose()

    first, by_tokens, second, by_requests, after = run(scenario())
    assert first.allowed and (first.requests.remaining, first.tokens.remaining) == (1, 40)
    assert not by_tokens.allowed and [name for name, _ in by_tokens.refused] == ["tokens"]
    assert by_tokens.requests.remaining == 1  # the request bucket was not charged
    assert second.allowed and (second.requests.remaining, second.tokens.remaining) == (0, 0)
    assert not by_requests.allowed and [name for name, _ in by_requests.refused] == ["requests"]
    assert by_requests.tokens.remaining == 100  # given back, and not charged by the refusal
    assert after.allowed and after.tokens.remaining == 0  # the refusal took no tokens


def test_refill_follows_the_clock(limiter_with_clock):
    limiter, clock = limiter_with_clock
    limits = KeyLimits(requests_per_minute=60, tokens_per_minute=600)

    async def scenario():
        try:
            decisions = [await limiter.admit("key-b", limits, 10) for _ in range(60)]
            refused = await limiter.admit("key-b", limits, 10)
            clock.now_us += 999_999
            still_refused = await limiter.admit("key-b", limits, 10)
            clock.now_us += 1
            allowed = await limiter.admit("key-b", limits, 10)
            return decisions, refused, still_refused, allowed
        finally:
            await limiter.aclose()

    decisions, refused, still_refused, allowed = run(scenario())
    assert all(decision.allowed for decision in decisions)
    assert refused.retry_after_us == 1_000_000 and still_refused.retry_after_us == 1
    assert allowed.allowed and (allowed.requests.remaining, allowed.tokens.remaining) == (0, 0)


def test_unlimited_and_oversized_requests(limiter_with_clock):
    limiter, _ = limiter_with_clock

    async def scenario():
        try:
            free = await limiter.admit("key-c", KeyLimits(), 10**12)
            too_large = await limiter.admit("key-c", KeyLimits(requests_per_minute=5, tokens_per_minute=100), 101)
            await limiter.give_back("key-c", KeyLimits(), 10)
            fits = await limiter.admit("key-c", KeyLimits(requests_per_minute=5, tokens_per_minute=100), 100)
            return free, too_large, fits
        finally:
            await limiter.aclose()

    free, too_large, fits = run(scenario())
    assert free.allowed and free.decisions == ()
    assert not too_large.allowed and too_large.tokens.never_allowed and too_large.retry_after_us is None
    assert fits.allowed and fits.requests.remaining == 4


def test_bad_arguments_fail_before_any_io(limiter_with_clock):
    limiter, _ = limiter_with_clock

    async def scenario():
        try:
            for key_id, tokens in (("", 1), ("key-d", -1), ("key-d", 1.5)):
                with pytest.raises(RateLimitArgumentError):
                    await limiter.admit(key_id, KeyLimits(requests_per_minute=1, tokens_per_minute=9), tokens)
                with pytest.raises(RateLimitArgumentError):
                    await limiter.give_back(key_id, KeyLimits(tokens_per_minute=9), tokens)
        finally:
            await limiter.aclose()

    run(scenario())


def test_local_limiter_keeps_a_bounded_number_of_keys():
    clock = FakeClock()
    limiter = LocalRateLimiter(keys_max=2, clock_us=clock)
    limits = KeyLimits(requests_per_minute=1)

    async def scenario():
        assert (await limiter.admit("one", limits, 0)).allowed
        assert (await limiter.admit("two", limits, 0)).allowed
        assert not (await limiter.admit("one", limits, 0)).allowed  # "one" is now the most recent
        assert (await limiter.admit("three", limits, 0)).allowed  # evicts "two"
        assert len(limiter) == 2
        assert not (await limiter.admit("one", limits, 0)).allowed
        assert (await limiter.admit("two", limits, 0)).allowed  # forgotten, so full again

    run(scenario())
    with pytest.raises(RateLimitArgumentError):
        LocalRateLimiter(keys_max=0)
