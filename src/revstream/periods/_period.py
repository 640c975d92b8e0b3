"""Settlement, invoice and quota periods: calendar months, UTC, ``[start, end)``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from revstream.periods._time import US_PER_S, datetime_of_us, day_us

_PERIOD_PATTERN: Final = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])", re.ASCII)
YEAR_MIN: Final = 1970
YEAR_MAX: Final = 9998
"""Periods run from 1970-01 to 9998-12, so every period has a following month a datetime can hold."""


class PeriodFormatError(ValueError):
    """A period that is not ``YYYY-MM`` inside the supported years."""


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """One calendar month, UTC."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if type(self.year) is not int or type(self.month) is not int or not 1 <= self.month <= 12 \
                or not YEAR_MIN <= self.year <= YEAR_MAX:
            raise PeriodFormatError(f"a period is a month from {YEAR_MIN}-01 to {YEAR_MAX}-12, "
                                    f"got {self.year!r}-{self.month!r}")

    @classmethod
    def parse(cls, text: object) -> Period:
        """``Period.parse("2026-03")``; PeriodFormatError for anything else."""
        match = _PERIOD_PATTERN.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise PeriodFormatError(f"period must be 'YYYY-MM', got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of_us(cls, time_us: int) -> Period:
        """The period holding the instant ``time_us``."""
        moment = datetime_of_us(time_us)
        return cls(moment.year, moment.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def following_first_day(self) -> date:
        """The first day after this month (a date, so 9998-12 has one too)."""
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def last_day(self) -> date:
        return self.following_first_day - timedelta(days=1)

    @property
    def start_us(self) -> int:
        return day_us(self.first_day)

    @property
    def end_us(self) -> int:
        return day_us(self.following_first_day)

    def bounds_us(self) -> tuple[int, int]:
        return self.start_us, self.end_us

    def bounds_s(self) -> tuple[int, int]:
        return self.start_us // US_PER_S, self.end_us // US_PER_S

    def contains_us(self, time_us: int) -> bool:
        return self.start_us <= time_us < self.end_us

    def shift(self, months: int) -> Period:
        index = self.year * 12 + self.month - 1 + months
        return Period(index // 12, index % 12 + 1)


def period_bounds_us(period: str) -> tuple[int, int]:
    """[start, end) of a "YYYY-MM" period in epoch microseconds."""
    return Period.parse(period).bounds_us()


def period_of_us(time_us: int) -> str:
    """The period (YYYY-MM) holding the instant ``time_us``."""
    return str(Period.of_us(time_us))


def shift_period(period: str, months: int) -> str:
    """The period ``months`` after (or before, if negative) ``period``."""
    return str(Period.parse(period).shift(months))


def month_starts_between(first_us: int, end_us: int) -> list[int]:
    """The starts of the months that begin strictly after ``first_us`` and before ``end_us``."""
    starts, period = [], Period.of_us(first_us).shift(1)
    while period.start_us < end_us:
        starts.append(period.start_us)
        period = period.shift(1)
    return starts
