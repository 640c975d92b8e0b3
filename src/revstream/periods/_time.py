"""Exact conversions between epoch microseconds (UTC) and dates, datetimes and RFC 3339
text, with no float on the way, and exact proration."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from typing import Final

US_PER_S: Final = 1_000_000
SECONDS_PER_DAY: Final = 86_400
US_PER_DAY: Final = SECONDS_PER_DAY * US_PER_S
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_DAY: Final = date(1970, 1, 1)
_ONE_US: Final = timedelta(microseconds=1)


def day_us(day: date) -> int:
    """Midnight UTC starting ``day``, in epoch microseconds."""
    return (day - _EPOCH_DAY).days * US_PER_DAY


def day_start_us(time_us: int) -> int:
    """Midnight UTC of the day holding ``time_us``."""
    return time_us - time_us % US_PER_DAY


def datetime_of_us(time_us: int) -> datetime:
    """The UTC datetime of ``time_us``, exact to the microsecond."""
    return _EPOCH + timedelta(microseconds=time_us)


def us_of_datetime(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime (a naive one is taken as UTC), exact."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _ONE_US


def rfc3339(time_us: int | None) -> str | None:
    """``2026-03-01T00:00:00.000000Z`` (None stays None)."""
    if time_us is None:
        return None
    return datetime_of_us(time_us).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time_us(text: str) -> int:
    """An ISO 8601 date or time as epoch microseconds (UTC when no zone is given).
    Raises ValueError with a message a person can act on."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as error:
        raise ValueError(f"expected an ISO 8601 date or time such as 2026-11-01, got {text!r}") from error
    return us_of_datetime(moment)


def prorate(amount: int, part: int, whole: int) -> Fraction:
    """``amount × part / whole``, exact: the share of a monthly amount held for ``part`` of
    the ``whole`` period (in any one unit of time)."""
    if type(whole) is not int or whole <= 0 or type(part) is not int or not 0 <= part <= whole:
        raise ValueError(f"prorate needs 0 <= part <= whole, whole > 0; got {part}/{whole}")
    return Fraction(amount * part, whole)
