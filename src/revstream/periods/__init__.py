"""Time as the money core counts it: epoch microseconds (UTC), calendar-month periods,
day and month windows, and exact proration.

Pure values and functions, no clock: every caller passes the instant it means. One module
for every calculation that settlement, plans, budgets, invoices, the dashboard and the
verifier make about months, so they can never disagree about where a month begins.
Errors: ``PeriodFormatError`` (a ``ValueError``) for a malformed period or time text.
"""

from revstream.periods._period import Period, PeriodFormatError, month_starts_between, period_bounds_us, period_of_us, shift_period
from revstream.periods._time import (
    SECONDS_PER_DAY,
    US_PER_DAY,
    US_PER_S,
    datetime_of_us,
    day_start_us,
    day_us,
    parse_time_us,
    prorate,
    rfc3339,
    us_of_datetime,
)

__all__ = [
    "SECONDS_PER_DAY",
    "US_PER_DAY",
    "US_PER_S",
    "Period",
    "PeriodFormatError",
    "datetime_of_us",
    "day_start_us",
    "day_us",
    "month_starts_between",
    "parse_time_us",
    "period_bounds_us",
    "period_of_us",
    "prorate",
    "rfc3339",
    "shift_period",
    "us_of_datetime",
]
