"""TokenLease: what one request took from tokens-per-minute buckets comes back once, whatever
its end; and `refund`, the admission's decision once the lease shrank, is exact."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revstream.ratelimit import (
    KeyLimits,
    KeyState,
    LocalRateLimiter,
    RateLimitUnavailable,
    TokenLease,
    refund,
    take_key,
)
from revstream.ratelimit._bucket import BucketState

NOW_US = 1_000_000_000
TOKENS = KeyLimits(tokens_per_minute=1000)
BOTH = KeyLimits(requests_per_minute=10, tokens_per_minute=1000)


def limiter() -> LocalRateLimiter:
    return LocalRateLimiter(clock_us=lambda: NOW_US)  # time stands still: no refill


def remaining(local: LocalRateLimiter, bucket: str, limits: KeyLimits = TOKENS) -> int:
    """Tokens left in a bucket, read by admitting nothing more than one request of 0 tokens."""
    return asyncio.run(local.admit(bucket, limits, 0)).tokens.remaining


def run(coroutine):
    return asyncio.run(coroutine)


def test_release_gives_back_the_unused_tokens_once():
    local = limiter()

    async def scenario():
        lease = TokenLease(local, 300)
        assert (await lease.take("key", TOKENS)).allowed
        assert lease.holds
        await lease.release(120)
        assert not lease.holds
        await lease.release(0)  # a second end of the same request changes nothing

    run(scenario())
    assert remaining(local, "key") == 1000 - 120


def test_shrink_gives_back_now_and_release_the_rest_from_every_bucket():
    local = limiter()

    async def scenario():
        lease = TokenLease(local, 500)
        await lease.take("key", TOKENS)
        await lease.take("plan", BOTH)
        assert await lease.shrink(200) == 300
        assert lease.tokens == 200
        assert await lease.shrink(400) == 0, "a lease never grows"
        await lease.release(50)

    run(scenario())
    assert remaining(local, "key") == 1000 - 50
    assert remaining(local, "plan", BOTH) == 1000 - 50


def test_a_refused_take_holds_nothing_and_unlimited_buckets_are_not_held():
    local = limiter()

    async def scenario():
        lease = TokenLease(local, 2000)  # more than the limit: never allowed
        refused = await lease.take("key", TOKENS)
        assert not refused.allowed and not lease.holds
        requests_only = TokenLease(local, 10)
        assert (await requests_only.take("key", KeyLimits(requests_per_minute=5))).allowed
        assert not requests_only.holds, "a bucket without a token limit has nothing to give back"

    run(scenario())
    assert remaining(local, "key") == 1000


def test_a_released_lease_takes_nothing_more():
    async def scenario():
        lease = TokenLease(limiter(), 10)
        await lease.release(0)
        with pytest.raises(RuntimeError):
            await lease.take("key", TOKENS)

    run(scenario())


class Unreachable(LocalRateLimiter):
    async def give_back(self, key_id, limits, tokens):
        raise RateLimitUnavailable("down")


def test_a_failed_give_back_is_logged_not_raised(caplog):
    async def scenario():
        lease = TokenLease(Unreachable(clock_us=lambda: NOW_US), 100)
        await lease.take("key", TOKENS)
        await lease.release(0)

    run(scenario())
    assert "could not return 100 unused tokens" in caplog.text


@given(
    deficit=st.integers(0, 1000 * 60_000_000), limit=st.integers(1, 10_000),
    exact=st.integers(0, 10_000), extra=st.integers(0, 10_000),
)
def test_refund_reads_as_if_only_the_exact_count_had_been_charged(deficit, limit, exact, extra):
    limits = KeyLimits(requests_per_minute=5, tokens_per_minute=limit)
    state = KeyState(BucketState(0, NOW_US), BucketState(min(deficit, limit * 60_000_000), NOW_US))
    bound = exact + extra
    charged = take_key(state, NOW_US, limits, bound)
    if not charged.allowed:
        return
    direct = take_key(state, NOW_US, limits, exact)
    refunded = refund(charged, extra)
    assert refunded.tokens.remaining == direct.tokens.remaining
    assert refunded.tokens.reset_us == direct.tokens.reset_us
    assert refunded.tokens.state.deficit_units == direct.tokens.state.deficit_units
    assert refunded.requests == charged.requests
