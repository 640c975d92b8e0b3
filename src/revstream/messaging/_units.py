"""Units of the messaging core: exact epoch microseconds, calendar months, JSON amounts.

Every instant is an int of epoch microseconds (UTC), as in the rest of revstream; no
float ever represents a time or an amount.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Final

from revstream.messaging._errors import MessagingValueError

SECOND_US: Final = 1_000_000
HOUR_US: Final = 3_600 * SECOND_US
DAY_US: Final = 24 * HOUR_US
SERVICE_WINDOW_US: Final = 24 * HOUR_US
"""A customer-service window lasts 24 hours from the contact's latest inbound message."""
ENTRY_REPLY_US: Final = 24 * HOUR_US
"""After an entry-point inbound message, the business must reply within 24 hours..."""
ENTRY_WINDOW_US: Final = 72 * HOUR_US
"""...and that reply opens a 72-hour free entry window."""
JSON_SAFE_INT_MAX: Final = 2**53 - 1
"""Largest magnitude every IEEE-double JSON reader holds exactly; beyond it amounts travel as strings."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_INSTANT_TEXT_CHARS_MAX: Final = 40
_DATE_ONLY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def require_int(value: object, what: str, *, minimum: int | None = None) -> int:
    """Return ``value`` if it is a true int (no bool, no float) not below ``minimum``."""
    if type(value) is not int:
        raise MessagingValueError(f"{what} must be an int, got {type(value).__name__}: {value!r}")
    if minimum is not None and value < minimum:
        raise MessagingValueError(f"{what} must be >= {minimum}, got {value}")
    return value


def json_nanos(nanos: int) -> int | str:
    """An amount for JSON: the int itself within ±(2**53-1), else its decimal string.

    The one place this package encodes amounts for JSON, so it can be switched to the
    shared helper of issue 11."""
    require_int(nanos, "nanos")
    return nanos if abs(nanos) <= JSON_SAFE_INT_MAX else str(nanos)


def parse_json_nanos(value: object, what: str) -> int:
    """Read an amount written by ``json_nanos`` (an int, or a decimal string beyond 2**53-1)."""
    if type(value) is int:
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,40}", value, re.ASCII):
        number = int(value)
        if abs(number) > JSON_SAFE_INT_MAX:
            return number
    raise MessagingValueError(f"{what} must be an int of nanos (or a decimal string beyond 2**53-1), got {value!r}")


def _moment_us(moment: datetime) -> int:
    delta = moment - _EPOCH  # exact: timedelta holds days, seconds and microseconds as ints
    return (delta.days * 86_400 + delta.seconds) * SECOND_US + delta.microseconds


def instant_us(text: str) -> int:
    """An ISO 8601 date ("2025-07-01", midnight UTC) or date-time as epoch microseconds.

    A date-time without a zone is UTC. Exact to the microsecond (no float seconds)."""
    if not isinstance(text, str) or not text or len(text) > _INSTANT_TEXT_CHARS_MAX:
        raise MessagingValueError(f"expected an ISO 8601 date or time such as 2025-07-01, got {text!r}")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise MessagingValueError(f"expected an ISO 8601 date or time such as 2025-07-01, got {text!r}") from None
    if _DATE_ONLY.fullmatch(text) is None and "T" not in text and " " not in text:
        raise MessagingValueError(f"expected an ISO 8601 date or time such as 2025-07-01, got {text!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return _moment_us(moment)


def rfc3339_us(time_us: int) -> str:
    """Epoch microseconds as an RFC 3339 UTC time ("2025-07-01T00:00:00.000000Z")."""
    moment = _EPOCH + timedelta(microseconds=require_int(time_us, "time_us"))
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def month_of_us(time_us: int) -> str:
    """The calendar month (UTC) holding ``time_us``, as "YYYY-MM" (proleptic Gregorian,
    integer arithmetic only: H. Hinnant's days-to-civil algorithm)."""
    days = require_int(time_us, "time_us") // DAY_US + 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1_460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153
    month = month_index + 3 if month_index < 10 else month_index - 9
    year = year_of_era + era * 400 + (1 if month <= 2 else 0)
    return f"{year:04d}-{month:02d}"
