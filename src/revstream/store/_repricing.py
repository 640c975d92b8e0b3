"""Re-pricing every final usage record: the charge a record carries must be what its tokens
cost at the price in force at its time (under its plan's rules, never above its hold), so an
edited token count or price is found by `revstream ledger check` even on a host that keeps
no transparency log.

Read in pages of `REPRICE_PAGE_MAX` records in key order, so a store of any size is checked
in bounded memory; `progress(done, total)` is told after each page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, func, select

from ..admission import Held
from ..admission import expected_charge as admission_expected_charge
from ..metering import STATUS_PENDING
from ..plans import Plan
from ..pricing import PriceSchedule
from ._plans import plans_by_id
from ._prices import load_prices
from ._schema import usage_records

REPRICE_PAGE_MAX: Final = 10_000
REPRICE_REPORTED_MAX: Final = 1_000
"""Mismatches listed at most (all are counted)."""

_COLUMNS = (usage_records.c.request_id, usage_records.c.model, usage_records.c.time_us,
            usage_records.c.tokens_prompt, usage_records.c.tokens_completion, usage_records.c.charge_nanos,
            usage_records.c.reserved_nanos, usage_records.c.plan_id, usage_records.c.tokens_included)


@dataclass(frozen=True, slots=True)
class Repriced:
    records: int
    mismatches: tuple[tuple[str, int, int], ...]  # request_id, charged, expected
    mismatch_count: int


def expected_charge(row, schedule: PriceSchedule, plan: Plan | None) -> int | None:
    """The charge the finalizer books for this record's tokens (None: an unpriced record);
    the same decision (`revstream.admission`), so the check and the finalizer cannot drift."""
    held = Held(row.reserved_nanos, plan, row.tokens_included)
    return admission_expected_charge(held, row.tokens_prompt, row.tokens_completion,
                                     schedule.price_at_us(row.model, row.time_us))


def reprice_records(connection: Connection, progress: Callable[[int, int], None] | None = None) -> Repriced:
    schedule = load_prices(connection)
    final = (usage_records.c.status != STATUS_PENDING, usage_records.c.charge_nanos.is_not(None))
    total = connection.execute(select(func.count()).where(*final)).scalar() or 0
    checked, mismatches, count, after = 0, [], 0, ""
    while True:
        rows = connection.execute(select(*_COLUMNS).where(*final, usage_records.c.request_id > after)
                                  .order_by(usage_records.c.request_id).limit(REPRICE_PAGE_MAX)).all()
        if not rows:
            break
        plans = plans_by_id(connection, [row.plan_id for row in rows if row.plan_id])
        for row in rows:
            expected = expected_charge(row, schedule, plans.get(row.plan_id) if row.plan_id else None)
            if expected is not None and expected != row.charge_nanos:
                count += 1
                if len(mismatches) < REPRICE_REPORTED_MAX:
                    mismatches.append((row.request_id, row.charge_nanos, expected))
        checked += len(rows)
        after = rows[-1].request_id
        if progress is not None:
            progress(checked, total)
    return Repriced(checked, tuple(mismatches), count)
