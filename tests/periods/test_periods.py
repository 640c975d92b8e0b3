"""The one time module: periods, µs conversions and proration, exact everywhere."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

import revstream.periods as periods
from revstream.periods import Period, PeriodFormatError

# 1970-01-01 .. 9998-12-31 in µs: every instant a period can hold.
_TIME_US = st.integers(min_value=0, max_value=253_370_764_799_999_999)


def test_public_api_is_pinned() -> None:
    assert sorted(periods.__all__) == sorted([
        "SECONDS_PER_DAY", "US_PER_DAY", "US_PER_S", "Period", "PeriodFormatError", "datetime_of_us",
        "day_start_us", "day_us", "month_starts_between", "parse_time_us", "period_bounds_us", "period_of_us",
        "prorate", "rfc3339", "shift_period", "us_of_datetime",
    ])


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-01", "2026-1", "1969-12", "9999-01", " 2026-01", 202601, None])
def test_malformed_periods_are_refused(text) -> None:
    with pytest.raises(PeriodFormatError):
        Period.parse(text)


def test_bounds_of_a_leap_february() -> None:
    start, end = Period.parse("2028-02").bounds_us()
    assert (end - start) // periods.US_PER_DAY == 29
    assert periods.rfc3339(start) == "2028-02-01T00:00:00.000000Z"
    assert periods.rfc3339(end) == "2028-03-01T00:00:00.000000Z"
    assert Period.parse("2028-02").last_day == date(2028, 2, 29)


@given(_TIME_US)
def test_every_instant_lies_in_its_period(time_us: int) -> None:
    period = Period.of_us(time_us)
    assert period.start_us <= time_us < period.end_us
    assert Period.parse(str(period)) == period
    assert periods.period_of_us(time_us) == str(period)


@given(_TIME_US)
def test_microseconds_round_trip_through_datetime_and_text(time_us: int) -> None:
    assert periods.us_of_datetime(periods.datetime_of_us(time_us)) == time_us
    assert periods.parse_time_us(periods.rfc3339(time_us)) == time_us
    assert periods.day_start_us(time_us) <= time_us < periods.day_start_us(time_us) + periods.US_PER_DAY


@given(st.integers(min_value=1970 * 12, max_value=9997 * 12 + 11), st.integers(min_value=-24, max_value=24))
def test_shift_is_month_arithmetic(index: int, months: int) -> None:
    period = Period(index // 12, index % 12 + 1)
    target = index + months
    if not 1970 * 12 <= target <= 9998 * 12 + 11:
        return
    shifted = period.shift(months)
    assert (shifted.year * 12 + shifted.month - 1) == target
    assert periods.shift_period(str(period), months) == str(shifted)
    if months == 1:
        assert shifted.start_us == period.end_us


def test_month_starts_between_lists_every_month_boundary() -> None:
    first = periods.parse_time_us("2026-01-15T10:00:00Z")
    end = periods.parse_time_us("2026-04-01T00:00:00Z")
    assert [periods.rfc3339(t)[:10] for t in periods.month_starts_between(first, end)] == ["2026-02-01", "2026-03-01"]


def test_naive_times_are_utc_and_bad_text_is_a_clear_error() -> None:
    assert periods.parse_time_us("2026-03-01") == periods.parse_time_us("2026-03-01T00:00:00+00:00")
    assert periods.us_of_datetime(datetime(2026, 3, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == \
        periods.parse_time_us("2026-03-01")
    with pytest.raises(ValueError, match="ISO 8601"):
        periods.parse_time_us("yesterday")


def test_prorate_is_exact_and_bounded() -> None:
    assert periods.prorate(30_000_000_000, 1, 3) == Fraction(10_000_000_000)
    assert periods.prorate(10**27, 7, 11) * 11 == 7 * 10**27
    with pytest.raises(ValueError):
        periods.prorate(1, 2, 1)
    with pytest.raises(ValueError):
        periods.prorate(1, 0, 0)
