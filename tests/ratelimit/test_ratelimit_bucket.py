"""The pure token bucket: hand-computed cases and hypothesis properties, all in exact integers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.ratelimit import (
    BucketState,
    KeyLimits,
    KeyState,
    RateLimitArgumentError,
    give_back,
    give_back_key,
    limit_per_minute_max,
    peek,
    take,
    take_key,
)

SECOND_US = 1_000_000
UNITS = 60_000_000  # units per token
FULL = BucketState()


def test_first_take_from_a_full_bucket():
    decision = take(FULL, 0, 60, 1)
    assert decision.allowed
    assert (decision.remaining, decision.reset_us, decision.retry_after_us) == (59, SECOND_US, 0)
    assert decision.state == BucketState(UNITS, 0)


def test_empty_bucket_refuses_until_one_token_refilled():
    empty = take(FULL, 0, 60, 60)
    assert (empty.allowed, empty.remaining, empty.reset_us) == (True, 0, 60 * SECOND_US)
    refused = take(empty.state, SECOND_US // 2, 60, 1)
    assert not refused.allowed
    assert (refused.remaining, refused.reset_us, refused.retry_after_us) == (0, 59_500_000, 500_000)
    assert refused.state is empty.state
    allowed = take(empty.state, SECOND_US, 60, 1)
    assert (allowed.allowed, allowed.remaining, allowed.reset_us) == (True, 0, 60 * SECOND_US)


def test_non_integer_refill_interval_is_exact_to_the_microsecond():
    # 7 per minute: one token every 60/7 s = 8_571_428.57... µs
    one = take(FULL, 0, 7, 1)
    assert (one.remaining, one.reset_us) == (6, 8_571_429)
    refused = take(one.state, 0, 7, 7)
    assert (refused.allowed, refused.retry_after_us) == (False, 8_571_429)
    just_before = take(one.state, 8_571_428, 7, 7)
    assert (just_before.allowed, just_before.retry_after_us) == (False, 1)
    on_time = take(one.state, 8_571_429, 7, 7)
    assert (on_time.allowed, on_time.remaining, on_time.reset_us) == (True, 0, 60 * SECOND_US)


def test_partial_refill_keeps_fractions_of_a_token():
    state = take(FULL, 0, 60, 60).state
    state = take(state, 1_500_000, 60, 1).state  # 1.5 tokens refilled, 1 taken: 0.5 left
    decision = peek(state, 1_500_000, 60, 1)
    assert (decision.allowed, decision.remaining, decision.retry_after_us) == (False, 0, 500_000)
    assert decision.reset_us == 59_500_000


def test_token_cost_and_remaining_floor():
    decision = take(FULL, 0, 1000, 333)
    assert (decision.remaining, decision.reset_us) == (667, 19_980_000)
    refused = take(decision.state, 0, 1000, 700)
    assert (refused.allowed, refused.remaining, refused.retry_after_us) == (False, 667, 1_980_000)


def test_cost_above_the_limit_is_never_allowed():
    decision = take(FULL, 0, 10, 11)
    assert not decision.allowed and decision.never_allowed and decision.retry_after_us is None
    assert decision.state is FULL and decision.remaining == 10
    assert take(FULL, 0, 10, 10).allowed


def test_zero_cost_is_always_allowed():
    empty = take(FULL, 0, 10, 10).state
    decision = take(empty, 0, 10, 0)
    assert decision.allowed and decision.remaining == 0


def test_give_back_returns_tokens_but_never_past_capacity():
    state = take(FULL, 0, 10, 4).state
    partly = give_back(state, 0, 10, 3)
    assert peek(partly, 0, 10, 0).remaining == 9
    assert give_back(state, 0, 10, 1_000_000) == BucketState(0, 0)
    assert give_back(FULL, 5, 10, 7) == BucketState(0, 5)
    assert peek(give_back(FULL, 5, 10, 7), 5, 10, 0).remaining == 10


def test_lowered_limit_empties_the_bucket_but_does_not_overdraw_it():
    state = take(FULL, 0, 100, 100).state
    decision = peek(state, 0, 10, 1)
    assert (decision.remaining, decision.reset_us, decision.retry_after_us) == (0, 60 * SECOND_US, 6 * SECOND_US)


def test_a_clock_that_goes_back_does_not_refill():
    state = take(FULL, 10 * SECOND_US, 60, 60).state
    decision = take(state, 0, 60, 1)
    assert (decision.allowed, decision.retry_after_us) == (False, SECOND_US)


def test_bad_arguments_are_typed_errors():
    for limit in (0, -1, limit_per_minute_max + 1, 1.5, True, None):
        with pytest.raises(RateLimitArgumentError):
            take(FULL, 0, limit, 1)
    for cost in (-1, 1.0, 2**53):
        with pytest.raises(RateLimitArgumentError):
            take(FULL, 0, 10, cost)
    with pytest.raises(RateLimitArgumentError):
        take(FULL, -1, 10, 1)
    with pytest.raises(ValueError):
        KeyLimits(requests_per_minute=0)
    with pytest.raises(RateLimitArgumentError):
        give_back(FULL, 0, 10, -1)


def test_take_key_charges_both_buckets_or_neither():
    limits = KeyLimits(requests_per_minute=2, tokens_per_minute=100)
    first = take_key(KeyState(), 0, limits, 60)
    assert first.allowed and (first.requests.remaining, first.tokens.remaining) == (1, 40)
    refused = take_key(first.state, 0, limits, 60)  # tokens refuse
    assert not refused.allowed and refused.state is first.state
    assert refused.requests.allowed and refused.requests.remaining == 1  # would allow, not charged
    assert [name for name, _ in refused.refused] == ["tokens"]
    second = take_key(first.state, 0, limits, 40)
    assert second.allowed and (second.requests.remaining, second.tokens.remaining) == (0, 0)
    refused_by_requests = take_key(give_back_key(second.state, 0, limits, 100), 0, limits, 1)
    assert [name for name, _ in refused_by_requests.refused] == ["requests"]
    assert refused_by_requests.tokens.allowed and refused_by_requests.tokens.remaining == 100


def test_unlimited_dimensions_have_no_bucket():
    decision = take_key(KeyState(), 0, KeyLimits(tokens_per_minute=10), 11)
    assert decision.requests is None and decision.tokens.never_allowed and decision.retry_after_us is None
    free = take_key(KeyState(), 0, KeyLimits(), 10**9)
    assert free.allowed and free.decisions == () and free.retry_after_us == 0


# --- properties -----------------------------------------------------------------------------

limits_st = st.one_of(st.integers(1, 200), st.sampled_from([7, 1000, 10**6, limit_per_minute_max]))
gaps_us_st = st.one_of(st.just(0), st.integers(0, 2 * SECOND_US), st.integers(0, 90 * SECOND_US))


@st.composite
def take_sequences(draw):
    limit = draw(limits_st)
    cost_st = st.one_of(st.integers(0, limit), st.integers(0, max(1, limit // 10)), st.integers(0, 2 * limit + 1))
    steps = draw(st.lists(st.tuples(gaps_us_st, cost_st), min_size=1, max_size=40))
    start_us = draw(st.sampled_from([0, 1_700_000_000_000_000]))
    return limit, start_us, steps


@settings(max_examples=300, deadline=None)
@given(take_sequences())
def test_allowed_cost_in_any_window_is_bounded(sequence):
    limit, now_us, steps = sequence
    state, allowed = FULL, []
    for gap_us, cost in steps:
        now_us += gap_us
        decision = take(state, now_us, limit, cost)
        if decision.allowed:
            allowed.append((now_us, cost))
        state = decision.state
    for first in range(len(allowed)):
        total = 0
        for last in range(first, len(allowed)):
            total += allowed[last][1]
            span_us = allowed[last][0] - allowed[first][0]
            # total <= limit + limit * span_s / 60, multiplied through by 60e6
            assert total * UNITS <= limit * UNITS + limit * span_us


@settings(max_examples=300, deadline=None)
@given(take_sequences())
def test_decisions_are_consistent_and_refusals_change_nothing(sequence):
    limit, now_us, steps = sequence
    state = FULL
    for gap_us, cost in steps:
        now_us += gap_us
        decision = take(state, now_us, limit, cost)
        assert 0 <= decision.remaining <= limit and 0 <= decision.reset_us <= 60 * SECOND_US
        if not decision.allowed:
            assert decision.state is state
            if cost > limit:
                assert decision.retry_after_us is None
            else:
                retry_us = decision.retry_after_us
                assert retry_us > 0
                assert take(state, now_us + retry_us, limit, cost).allowed
                assert not take(state, now_us + retry_us - 1, limit, cost).allowed
        else:
            assert decision.retry_after_us == 0
        assert peek(decision.state, now_us + decision.reset_us, limit, 0).remaining == limit
        if decision.reset_us:
            assert peek(decision.state, now_us + decision.reset_us - 1, limit, 0).remaining < limit
        state = decision.state


@settings(max_examples=200, deadline=None)
@given(take_sequences(), st.lists(st.integers(0, 10**9), min_size=1, max_size=40))
def test_give_back_never_exceeds_capacity(sequence, amounts):
    limit, now_us, steps = sequence
    state = FULL
    for (gap_us, cost), amount in zip(steps, amounts, strict=False):
        now_us += gap_us
        decision = take(state, now_us, limit, cost)
        state = give_back(decision.state, now_us, limit, min(amount, cost) if decision.allowed else amount)
        level = peek(state, now_us, limit, 0)
        assert 0 <= state.deficit_units <= limit * UNITS and level.remaining <= limit
        if decision.allowed:
            assert level.remaining >= decision.remaining
