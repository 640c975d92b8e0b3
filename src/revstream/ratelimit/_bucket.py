"""Token bucket (GCRA) in exact integers: the pure core of the rate limiter. No I/O, no clock.

Units. Time is integer microseconds, passed in. A bucket with a limit of L per minute holds at
most L tokens and refills L/60 tokens per second, that is L/60_000_000 tokens per microsecond.
To keep that exact the bucket counts in *units* of 1/60_000_000 token (``units_per_token``):
it refills exactly L units per microsecond and holds ``L * units_per_token`` units when full.

State. ``BucketState(deficit_units, updated_us)``: how many units the bucket lacked from full
at ``updated_us``. A full bucket and an absent one are the same state (deficit 0). This is
GCRA: the theoretical arrival time is ``updated_us + deficit_units / L``.

Range. Limits are at most ``limit_per_minute_max``; a deficit is clamped to the capacity and
the refill to one window, so every intermediate value of the Redis Lua script stays at or below
``limit_per_minute_max * units_per_token`` = 9e15 < 2**53. Lua numbers are IEEE doubles, which
hold every integer below 2**53 exactly, so the script computes the very integers Python does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from revstream.ratelimit._errors import RateLimitArgumentError

micros_per_second = 1_000_000
window_us = 60 * micros_per_second
units_per_token = window_us
limit_per_minute_max = 150_000_000
"""Largest limit handled exactly: capacity in units = 150e6 * 60e6 = 9e15 < 2**53."""
count_max = 2**53 - 1
"""Largest cost, amount or time (µs) accepted: every integer up to it is exact in a Lua double."""


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def check_count(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= count_max:
        raise RateLimitArgumentError(f"{name} must be an integer in 0..{count_max}, not {value!r}")
    return value


def check_limit(name: str, value: object) -> int:
    """A limit per minute: an integer in 1..``limit_per_minute_max``."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit_per_minute_max:
        raise RateLimitArgumentError(f"{name} must be an integer in 1..{limit_per_minute_max}, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class BucketState:
    """Units missing from a full bucket at ``updated_us``; the default is a full bucket."""

    deficit_units: int = 0
    updated_us: int = 0

    def __post_init__(self) -> None:
        check_count("deficit_units", self.deficit_units)
        check_count("updated_us", self.updated_us)


@dataclass(frozen=True, slots=True)
class Decision:
    """One bucket's answer to a take.

    ``remaining``: whole tokens left after this take (floor). ``reset_us``: microseconds until
    the bucket is full again (ceil). ``retry_after_us``: microseconds until ``cost`` would be
    allowed (ceil); 0 when allowed; None when it never can be, because ``cost`` exceeds the
    limit. A refused take carries the state it was given, unchanged.
    """

    allowed: bool
    state: BucketState
    limit_per_minute: int
    cost: int
    remaining: int
    reset_us: int
    retry_after_us: int | None

    @property
    def never_allowed(self) -> bool:
        return self.retry_after_us is None


def deficit_at(state: BucketState, now_us: int, limit_per_minute: int) -> tuple[int, int]:
    """The bucket's deficit in units at ``now_us``, and the time it is taken at.

    A clock that went back (``now_us`` before ``updated_us``) is read as ``updated_us``: the
    bucket never refills backwards. A deficit above the capacity (the limit was lowered) is
    clamped to it, so the bucket is empty, not overdrawn.
    """
    check_count("now_us", now_us)
    check_limit("limit_per_minute", limit_per_minute)
    at_us = max(now_us, state.updated_us)
    elapsed_us = min(at_us - state.updated_us, window_us)
    deficit_units = min(state.deficit_units, limit_per_minute * units_per_token)
    return max(0, deficit_units - elapsed_us * limit_per_minute), at_us


def _decide(state: BucketState, now_us: int, limit_per_minute: int, cost: int, charge: bool) -> Decision:
    check_count("cost", cost)
    deficit_units, at_us = deficit_at(state, now_us, limit_per_minute)
    capacity_units = limit_per_minute * units_per_token
    if cost > limit_per_minute:
        allowed, retry_after_us = False, None
    else:
        shortfall_units = deficit_units + cost * units_per_token - capacity_units
        allowed = shortfall_units <= 0
        retry_after_us = 0 if allowed else _ceil_div(shortfall_units, limit_per_minute)
    if allowed and charge:
        deficit_units += cost * units_per_token
        state = BucketState(deficit_units, at_us)
    return Decision(
        allowed=allowed,
        state=state,
        limit_per_minute=limit_per_minute,
        cost=cost,
        remaining=(capacity_units - deficit_units) // units_per_token,
        reset_us=_ceil_div(deficit_units, limit_per_minute),
        retry_after_us=retry_after_us,
    )


def take(state: BucketState, now_us: int, limit_per_minute: int, cost: int) -> Decision:
    """Take ``cost`` tokens at ``now_us`` if the bucket holds them; a refusal changes nothing."""
    return _decide(state, now_us, limit_per_minute, cost, charge=True)


def peek(state: BucketState, now_us: int, limit_per_minute: int, cost: int) -> Decision:
    """What ``take`` would answer, with the state left as it is (remaining counts no charge)."""
    return _decide(state, now_us, limit_per_minute, cost, charge=False)


def give_back(state: BucketState, now_us: int, limit_per_minute: int, amount: int) -> BucketState:
    """Return ``amount`` reserved but unused tokens; the bucket never rises above full."""
    check_count("amount", amount)
    deficit_units, at_us = deficit_at(state, now_us, limit_per_minute)
    returned_units = min(amount, limit_per_minute) * units_per_token
    return BucketState(max(0, deficit_units - returned_units), at_us)


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """Limits of one API key; None means unlimited (no bucket, no headers for it)."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None:
                check_limit(name, value)

    @property
    def unlimited(self) -> bool:
        return self.requests_per_minute is None and self.tokens_per_minute is None


@dataclass(frozen=True, slots=True)
class KeyState:
    """Both buckets of one API key."""

    requests: BucketState = field(default_factory=BucketState)
    tokens: BucketState = field(default_factory=BucketState)


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The answer to one admission: each bucket's decision (None when unlimited), and the
    key's state afterwards. Admitted only if every limited bucket allowed; then both were
    charged, otherwise neither was (a bucket that would have allowed reports its uncharged
    level, with ``allowed`` true)."""

    requests: Decision | None
    tokens: Decision | None
    state: KeyState

    @property
    def allowed(self) -> bool:
        return all(decision.allowed for _, decision in self.decisions)

    @property
    def decisions(self) -> tuple[tuple[str, Decision], ...]:
        """(dimension, decision) for each limited bucket; dimension is "requests" or "tokens"."""
        pairs = (("requests", self.requests), ("tokens", self.tokens))
        return tuple((name, decision) for name, decision in pairs if decision is not None)

    @property
    def refused(self) -> tuple[tuple[str, Decision], ...]:
        return tuple((name, decision) for name, decision in self.decisions if not decision.allowed)

    @property
    def retry_after_us(self) -> int | None:
        """Microseconds until every refused bucket would allow; 0 when admitted; None if never."""
        waits = [decision.retry_after_us for _, decision in self.refused]
        if any(wait is None for wait in waits):
            return None
        return max(waits, default=0)


def take_key(state: KeyState, now_us: int, limits: KeyLimits, tokens: int) -> RateDecision:
    """Admit one request of ``tokens`` tokens: both buckets are charged, or neither."""
    if limits.unlimited:
        check_count("tokens", tokens)
        return RateDecision(None, None, state)  # nothing is counted for an unlimited key
    requests = tokens_decision = None
    if limits.requests_per_minute is not None:
        requests = take(state.requests, now_us, limits.requests_per_minute, 1)
    if limits.tokens_per_minute is not None:
        tokens_decision = take(state.tokens, now_us, limits.tokens_per_minute, tokens)
    else:
        check_count("tokens", tokens)
    if all(decision is None or decision.allowed for decision in (requests, tokens_decision)):
        # An unlimited dimension keeps no state: if a limit is set on it later it
        # starts full, as it does in Redis, where a key whose limited buckets are
        # full is deleted.
        next_state = KeyState(
            requests.state if requests else BucketState(),
            tokens_decision.state if tokens_decision else BucketState(),
        )
        return RateDecision(requests, tokens_decision, _forget_if_full(next_state, now_us, limits))
    if requests is not None and requests.allowed:
        requests = peek(state.requests, now_us, limits.requests_per_minute, 1)
    if tokens_decision is not None and tokens_decision.allowed:
        tokens_decision = peek(state.tokens, now_us, limits.tokens_per_minute, tokens)
    return RateDecision(requests, tokens_decision, state)


def give_back_key(state: KeyState, now_us: int, limits: KeyLimits, tokens: int) -> KeyState:
    """Return ``tokens`` unused tokens to the key's token bucket (nothing when it is unlimited)."""
    check_count("tokens", tokens)
    if limits.tokens_per_minute is None:
        return state
    requests = state.requests if limits.requests_per_minute is not None else BucketState()
    next_state = KeyState(requests, give_back(state.tokens, now_us, limits.tokens_per_minute, tokens))
    return _forget_if_full(next_state, now_us, limits)


def _forget_if_full(state: KeyState, now_us: int, limits: KeyLimits) -> KeyState:
    """A key whose limited buckets are all full holds nothing worth keeping: it starts
    afresh (Redis deletes such a key), so a later change of limits finds it full."""
    pairs = ((state.requests, limits.requests_per_minute), (state.tokens, limits.tokens_per_minute))
    if all(deficit_at(bucket, now_us, limit)[0] == 0 for bucket, limit in pairs if limit is not None):
        return KeyState(BucketState(), BucketState())
    return state


def refund(decision: RateDecision, tokens: int) -> RateDecision:
    """An admission's decision as it reads once ``tokens`` of its charge came back, at the
    decision's own time: what the headers say after the request's exact count replaced its
    bound. The token bucket's level rises (never above full); the request bucket is unchanged."""
    check_count("tokens", tokens)
    bucket = decision.tokens
    if bucket is None or not bucket.allowed or tokens == 0:
        return decision
    limit = bucket.limit_per_minute
    state = give_back(bucket.state, bucket.state.updated_us, limit, tokens)
    capacity_units = limit * units_per_token
    refunded = Decision(
        allowed=True, state=state, limit_per_minute=limit, cost=bucket.cost,
        remaining=(capacity_units - state.deficit_units) // units_per_token,
        reset_us=_ceil_div(state.deficit_units, limit), retry_after_us=0,
    )
    return RateDecision(decision.requests, refunded, KeyState(decision.state.requests, state))
