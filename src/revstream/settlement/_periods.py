"""Settlement periods as epoch microseconds: calendar months, UTC, ``[start, end)``."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from revstream.settlement._terms import parse_period

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DAY_US = 86_400_000_000


def day_us(day: date) -> int:
    """Midnight UTC starting ``day``, in epoch microseconds."""
    return (day - date(1970, 1, 1)).days * _DAY_US


def period_bounds_us(period: str) -> tuple[int, int]:
    """[start, end) of a period in epoch microseconds."""
    first, last = parse_period(period)
    return day_us(first), day_us(last + timedelta(days=1))


def period_of_us(time_us: int) -> str:
    """The period (YYYY-MM) holding the instant ``time_us``."""
    moment = _EPOCH + timedelta(microseconds=time_us)
    return f"{moment.year:04d}-{moment.month:02d}"


def shift_period(period: str, months: int) -> str:
    """The period ``months`` after (or before, if negative) ``period``."""
    first, _ = parse_period(period)
    index = first.year * 12 + first.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
