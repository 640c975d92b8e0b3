"""Budget windows: the span of time whose charges a budget counts.

A budget created (or a window opened) in the middle of a window counts what its customer, or
its key, was already charged in that window: a budget is a limit on spending in the window,
not on spending after the budget was set.
"""

from __future__ import annotations

from revstream.billing import window_start_us
from revstream.periods import US_PER_DAY, Period


def budget_window_bounds_us(period: str, time_us: int) -> tuple[int, int | None]:
    """[start, end) of the budget window holding `time_us`; end None: a lifetime budget."""
    start = window_start_us(period, time_us)
    if period == "lifetime":
        return start, None
    if period == "day":
        return start, start + US_PER_DAY
    return start, Period.of_us(time_us).end_us
