"""The Redis limiter against the real Redis: the Lua script agrees with the pure core exactly,
keys expire once refilled, NOSCRIPT is recovered from, and Redis down is a typed error."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import socket

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revstream.ratelimit import (
    BucketState,
    KeyLimits,
    KeyState,
    RateLimitUnavailable,
    RedisRateLimiter,
    give_back_key,
    limit_per_minute_max,
    make_rate_limiter,
    take_key,
)
from revstream.ratelimit._bucket import deficit_at

pytestmark = pytest.mark.redis

REDIS_URL = os.environ.get("REVSTREAM_TEST_REDIS", "redis://127.0.0.1:6379/0")
START_US = 4_102_444_800_000_000  # 2100-01-01: a test clock runs ahead of the real one (see RedisRateLimiter)


class FakeClock:
    def __init__(self) -> None:
        self.now_us = START_US

    def __call__(self) -> int:
        return self.now_us


@pytest.fixture
def sync_redis():
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def prefix(sync_redis):
    prefix = f"revstream:rl:test:{secrets.token_hex(6)}:"
    yield prefix
    keys = list(sync_redis.scan_iter(match=prefix + "*", count=1000))
    if keys:
        sync_redis.delete(*keys)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stored_state(client: redis.Redis, key: str) -> KeyState:
    fields = client.hmget(key, "rd", "ru", "td", "tu")
    numbers = [int(value) if value is not None else 0 for value in fields]
    return KeyState(BucketState(numbers[0], numbers[1]), BucketState(numbers[2], numbers[3]))


# --- the script and the pure core decide identically ----------------------------------------

limit_st = st.one_of(
    st.none(), st.integers(1, 120), st.sampled_from([7, 1000, 10**6, limit_per_minute_max - 1, limit_per_minute_max])
)
gap_us_st = st.one_of(st.just(0), st.integers(0, 3_000_000), st.integers(0, 90_000_000))
amount_st = st.one_of(st.integers(0, 200), st.integers(0, limit_per_minute_max + 10))
step_st = st.one_of(
    st.tuples(gap_us_st, st.just("take"), amount_st),
    st.tuples(gap_us_st, st.just("take"), amount_st),
    st.tuples(gap_us_st, st.just("give"), amount_st),
    st.tuples(gap_us_st, st.just("limits"), st.builds(KeyLimits, limit_st, limit_st)),
)


def _comparable(decision):
    return None if decision is None else (
        decision.allowed, decision.limit_per_minute, decision.cost, decision.remaining,
        decision.reset_us, decision.retry_after_us,
    )


def _expire_ms(model: KeyState, now_us: int, limits: KeyLimits) -> int | None:
    """Where the script's PEXPIREAT should be: when every limited bucket is full, ceil to ms
    (None when all are full already: the key is deleted)."""
    expire_us = 0
    for limit, bucket in ((limits.requests_per_minute, model.requests), (limits.tokens_per_minute, model.tokens)):
        if limit is not None:
            deficit_units, at_us = deficit_at(bucket, now_us, limit)
            if deficit_units:
                expire_us = max(expire_us, at_us - (-deficit_units // limit))
    return -(-expire_us // 1000) if expire_us else None


async def _check_step(limiter, sync_redis, key, key_id, clock, model, limits, op, amount):
    """One step against Redis and the model; returns the model's next state."""
    if op == "take":
        expected = take_key(model, clock.now_us, limits, amount)
        actual = await limiter.admit(key_id, limits, amount)
        assert _comparable(actual.requests) == _comparable(expected.requests)
        assert _comparable(actual.tokens) == _comparable(expected.tokens)
        model, wrote = expected.state, expected.allowed and not limits.unlimited
    else:
        model = give_back_key(model, clock.now_us, limits, amount)
        await limiter.give_back(key_id, limits, amount)
        wrote = limits.tokens_per_minute is not None
    stored = stored_state(sync_redis, key)
    for limit, mine, theirs in (
        (limits.requests_per_minute, model.requests, stored.requests),
        (limits.tokens_per_minute, model.tokens, stored.tokens),
    ):
        if limit is not None:
            assert deficit_at(theirs, clock.now_us, limit)[0] == deficit_at(mine, clock.now_us, limit)[0]
    if wrote:
        expire_ms = _expire_ms(model, clock.now_us, limits)
        assert sync_redis.execute_command("PEXPIRETIME", key) == (-2 if expire_ms is None else expire_ms)
    return model


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first_limits=st.builds(KeyLimits, limit_st, limit_st), steps=st.lists(step_st, min_size=1, max_size=25))
def test_script_matches_pure_core(prefix, sync_redis, first_limits, steps):
    key_id = secrets.token_hex(8)
    clock = FakeClock()

    async def scenario():
        limiter = RedisRateLimiter(REDIS_URL, key_prefix=prefix, clock_us=clock)
        model, limits = KeyState(), first_limits
        try:
            for gap_us, op, argument in steps:
                clock.now_us += gap_us
                if op == "limits":
                    limits = argument
                else:
                    model = await _check_step(
                        limiter, sync_redis, prefix + key_id, key_id, clock, model, limits, op, argument
                    )
        finally:
            await limiter.aclose()

    asyncio.run(scenario())


def test_largest_limits_are_stored_exactly(prefix, sync_redis):
    clock = FakeClock()
    limits = KeyLimits(limit_per_minute_max, limit_per_minute_max)

    async def scenario():
        limiter = RedisRateLimiter(REDIS_URL, key_prefix=prefix, clock_us=clock)
        try:
            first = await limiter.admit("big", limits, limit_per_minute_max - 1)
            second = await limiter.admit("big", limits, 2)
            clock.now_us += 1
            third = await limiter.admit("big", limits, 2)
            return first, second, third
        finally:
            await limiter.aclose()

    first, second, third = asyncio.run(scenario())
    assert first.allowed and first.tokens.remaining == 1
    assert not second.allowed and second.tokens.retry_after_us == 1  # 1 token short; 2.5 refill per µs
    assert third.allowed and third.tokens.remaining == 1  # 1 + 2.5 refilled - 2 taken = 1.5 left
    fields = sync_redis.hgetall(prefix + "big")
    # (max - 1) tokens + 2 tokens, less 1 µs of refill (max units), in units of 1/60e6 token
    assert fields["td"] == str((limit_per_minute_max + 1) * 60_000_000 - limit_per_minute_max)
    assert fields["tu"] == str(START_US + 1)


# --- expiry, NOSCRIPT, Redis clock, Redis down ----------------------------------------------


def test_keys_expire_once_refilled_and_full_keys_are_deleted(prefix, sync_redis):
    async def scenario():
        limiter = RedisRateLimiter(REDIS_URL, key_prefix=prefix)  # the Redis clock
        try:
            await limiter.admit("requests", KeyLimits(requests_per_minute=60), 0)  # refills in 1 s
            await limiter.admit("tokens", KeyLimits(requests_per_minute=60, tokens_per_minute=60), 30)  # 30 s
            await limiter.admit("given-back", KeyLimits(tokens_per_minute=60), 30)
            await limiter.give_back("given-back", KeyLimits(tokens_per_minute=60), 30)
        finally:
            await limiter.aclose()

    asyncio.run(scenario())
    assert 0 < sync_redis.pttl(prefix + "requests") <= 1_000
    assert 29_000 < sync_redis.pttl(prefix + "tokens") <= 30_000
    assert not sync_redis.exists(prefix + "given-back")  # full again: nothing left to store


def test_redis_clock_is_used_without_a_test_clock(prefix, sync_redis):
    async def scenario():
        limiter = RedisRateLimiter(REDIS_URL, key_prefix=prefix)
        try:
            return await limiter.admit("clock", KeyLimits(requests_per_minute=1), 0)
        finally:
            await limiter.aclose()

    seconds, micros = sync_redis.time()
    decision = asyncio.run(scenario())
    updated_us = decision.requests.state.updated_us
    assert seconds * 1_000_000 + micros <= updated_us <= (seconds + 60) * 1_000_000


def test_noscript_falls_back_to_loading_the_script(prefix, sync_redis):
    async def scenario():
        limiter = RedisRateLimiter(REDIS_URL, key_prefix=prefix)
        # A script text this Redis has never seen, so EVALSHA answers NOSCRIPT.
        limiter._script += f"\n-- {secrets.token_hex(8)}\n"
        limiter._script_sha1 = hashlib.sha1(limiter._script.encode()).hexdigest()
        try:
            assert sync_redis.script_exists(limiter._script_sha1) == [False]
            first = await limiter.admit("noscript", KeyLimits(requests_per_minute=2), 0)
            assert sync_redis.script_exists(limiter._script_sha1) == [True]
            second = await limiter.admit("noscript", KeyLimits(requests_per_minute=2), 0)
            return first, second
        finally:
            await limiter.aclose()

    first, second = asyncio.run(scenario())
    assert first.allowed and second.allowed and second.requests.remaining == 0


def test_redis_down_is_unavailable_never_allowed():
    url = f"redis://127.0.0.1:{closed_port()}/0"

    async def scenario():
        limiter = make_rate_limiter(url)
        try:
            with pytest.raises(RateLimitUnavailable):
                await limiter.admit("down", KeyLimits(requests_per_minute=10), 1)
            with pytest.raises(RateLimitUnavailable):
                await limiter.give_back("down", KeyLimits(tokens_per_minute=10), 1)
        finally:
            await limiter.aclose()

    asyncio.run(scenario())
