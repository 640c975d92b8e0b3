"""Subscription cycles and exact proration. Pure functions over epoch seconds (UTC).

A billing period is a calendar month, UTC (``"2026-02"``), the same period that invoices
and settlement close. A subscription is a run of ``Segment`` values: each holds one plan
from ``start_s`` to ``end_s``; a change of plan ends one segment and starts the next at the
same second. A segment's fee for a period is exact and never rounded here:

    fee × seconds of the segment inside the period / seconds of the period

so any sequence of changes within a period bills exactly the time spent on each plan,
and the invoice rounds the period's total once. Included tokens follow the same rule,
rounded down to whole tokens (a customer is never promised a fraction of a token).
A free plan's quota is per UTC day instead, and is not prorated.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final, Sequence

from revstream.periods import SECONDS_PER_DAY, US_PER_S, Period, PeriodFormatError, prorate
from revstream.plans._errors import SubscriptionError
from revstream.plans._plan import KIND_COMMIT, KIND_FREE, KIND_SUBSCRIPTION, Plan

segments_per_period_max: Final = 10_000


def period_bounds_s(period: str) -> tuple[int, int]:
    """[start, end) of a calendar month "YYYY-MM", UTC, in epoch seconds."""
    try:
        return Period.parse(period).bounds_s()
    except PeriodFormatError as error:
        raise SubscriptionError(str(error)) from None


def period_of_s(time_s: int) -> str:
    return str(Period.of_us(time_s * US_PER_S))


def window_bounds_s(plan: Plan, time_s: int) -> tuple[int, int]:
    """The quota window holding ``time_s``: the UTC day for a free plan, else the month."""
    if plan.kind == KIND_FREE:
        start = time_s - time_s % SECONDS_PER_DAY
        return start, start + SECONDS_PER_DAY
    return period_bounds_s(period_of_s(time_s))


@dataclass(frozen=True, slots=True)
class Segment:
    """One plan held from ``start_s`` to ``end_s`` (None: still held)."""

    plan: Plan
    start_s: int
    end_s: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.plan, Plan):
            raise SubscriptionError(f"not a Plan: {self.plan!r}")
        if type(self.start_s) is not int or (self.end_s is not None and (type(self.end_s) is not int or self.end_s < self.start_s)):
            raise SubscriptionError(f"a segment runs from an int second to a later one, got {self.start_s!r}..{self.end_s!r}")

    def clipped(self, start_s: int, end_s: int) -> tuple[int, int]:
        """The part of this segment inside [start_s, end_s), possibly empty (a == b)."""
        lower = max(self.start_s, start_s)
        upper = end_s if self.end_s is None else min(self.end_s, end_s)
        return lower, max(lower, upper)


@dataclass(frozen=True, slots=True)
class FeePart:
    """The fee of one segment inside one period: exact nanos, unrounded."""

    plan: str
    start_s: int
    end_s: int
    fee_exact: Fraction

    @property
    def seconds(self) -> int:
        return self.end_s - self.start_s


def validate_segments(segments: Sequence[Segment]) -> list[SubscriptionError]:
    """Segments of one customer must not overlap (a plan change ends one, starts the next)."""
    errors: list[SubscriptionError] = []
    ordered = sorted(segments, key=lambda s: s.start_s)
    for earlier, later in zip(ordered, ordered[1:]):
        if earlier.end_s is None or earlier.end_s > later.start_s:
            errors.append(SubscriptionError(
                f"plan {earlier.plan.name!r} from {earlier.start_s} overlaps plan {later.plan.name!r} from {later.start_s}"))
    return errors


def fee_parts(segments: Sequence[Segment], period: str) -> tuple[FeePart, ...]:
    """The exact fee of every segment with a fee that overlaps ``period``, in time order."""
    if len(segments) > segments_per_period_max:
        raise SubscriptionError(f"at most {segments_per_period_max} segments per period")
    errors = validate_segments(segments)
    if errors:
        raise errors[0]
    start_s, end_s = period_bounds_s(period)
    parts = []
    for segment in sorted(segments, key=lambda s: s.start_s):
        lower, upper = segment.clipped(start_s, end_s)
        if upper > lower and segment.plan.kind == KIND_SUBSCRIPTION and segment.plan.fee_nanos:
            exact = prorate(segment.plan.fee_nanos, upper - lower, end_s - start_s)
            parts.append(FeePart(segment.plan.name, lower, upper, exact))
    return tuple(parts)


def minimum_parts(segments: Sequence[Segment], period: str) -> tuple[FeePart, ...]:
    """Each commit plan's minimum spend inside ``period``, prorated by the second like a fee,
    one part per segment that holds a commit plan with a minimum, in time order."""
    start_s, end_s = period_bounds_s(period)
    parts = []
    for segment in sorted(segments, key=lambda s: s.start_s):
        lower, upper = segment.clipped(start_s, end_s)
        if upper > lower and segment.plan.kind == KIND_COMMIT and segment.plan.minimum_nanos:
            parts.append(FeePart(segment.plan.name, lower, upper, prorate(segment.plan.minimum_nanos, upper - lower,
                                                                          end_s - start_s)))
    return tuple(parts)


def included_tokens(segment: Segment, window_start_s: int) -> int:
    """The tokens included for ``segment`` in the quota window starting at ``window_start_s``:
    a free plan's daily quota whole, a subscription's monthly tokens prorated by the second
    (rounded down), nothing for other kinds."""
    plan = segment.plan
    if plan.kind == KIND_FREE:
        return plan.tokens_per_day
    if plan.kind != KIND_SUBSCRIPTION:
        return 0
    start_s, end_s = window_bounds_s(plan, window_start_s)
    lower, upper = segment.clipped(start_s, end_s)
    return plan.tokens_included * (upper - lower) // (end_s - start_s)
