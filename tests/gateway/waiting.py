"""Waiting on a condition, bounded: tests never sleep a fixed time hoping that something
happened meanwhile; they poll the condition itself until it holds or the bound passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
POLL_INTERVAL_S = 0.02


def wait_until(condition: Callable[[], T], timeout_s: float = 20.0, what: str = "the condition") -> T:
    """Poll `condition` until it returns a true value, and return that value; fail the test
    after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout_s}s")
        time.sleep(POLL_INTERVAL_S)


class ManualClock:
    """A clock for `create_app(..., clock=...)`: µs since the epoch, moved on only by `advance`."""

    def __init__(self, start_us: int | None = None) -> None:
        self.now_us = time.time_ns() // 1000 if start_us is None else start_us

    def __call__(self) -> int:
        return self.now_us

    def advance(self, seconds: float) -> None:
        self.now_us += int(seconds * 1_000_000)
