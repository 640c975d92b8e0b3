"""Alerts as the monthly active users approach a licence's threshold.

An alert at p % fires when a count goes from below p % of the threshold to at or above it:
given the previous and the new count, `alert_crossings` returns exactly the crossings between
them, so a caller that feeds every new count once fires each alert once per crossing (a new
month starts again from 0). The store keeps the alerts fired per (month, percent), so a restart
does not fire them twice. Integer arithmetic only: users * 100 >= percent * threshold.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MauAlert:
    percent: int
    threshold_users: int
    users: int

    @property
    def users_at_alert(self) -> int:
        """The smallest count at which this alert fires: ceil(threshold * percent / 100)."""
        return -(-self.threshold_users * self.percent // 100)

    def message(self) -> str:
        return (f"monthly active users {self.users:,} reached {self.percent}% of the licence threshold "
                f"({self.threshold_users:,})")


def alert_crossings(previous_users: int, users: int, threshold_users: int,
                    percents: tuple[int, ...]) -> tuple[MauAlert, ...]:
    """The alerts whose level lies in (previous_users, users], lowest first."""
    if threshold_users <= 0:
        raise ValueError("threshold_users must be positive")
    return tuple(
        MauAlert(percent, threshold_users, users)
        for percent in sorted(set(percents))
        if previous_users * 100 < percent * threshold_users <= users * 100
    )
