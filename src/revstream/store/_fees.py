"""The fees a period's close settles (subscription fees, commit minimum top-ups): computed
by the plans core from the period's subscriptions when the close begins, stored once in
`fees`, and appended to the log as `fee` leaves below the checkpoint that closes it.

Settlement then reads them back (`period_fees`) and attributes them to models with the
pure rule every verifier applies too (`revstream.settlement.attribute_fees`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from fractions import Fraction

from sqlalchemy import Connection, func, insert, select

from ..keys import new_id
from ..leaves import FeeEntry, fraction_text
from ..metering import STATUS_PENDING
from ..periods import US_PER_S, period_bounds_us
from ..plans import STREAM_OF_KIND, FeePart, fee_parts, minimum_parts
from ._amounts import join, sum_request_amounts
from ._plans import SubscriptionRow, period_subscriptions
from ._prices import load_prices
from ._schema import fees, usage_records

FEE_KIND_SUBSCRIPTION, FEE_KIND_MINIMUM = "subscription", "minimum"


def _own_records(period: str):
    """The period's own records: final, timed in it, not late (what its close settles)."""
    start_us, end_us = period_bounds_us(period)
    return (usage_records.c.time_us >= start_us, usage_records.c.time_us < end_us,
            usage_records.c.status != STATUS_PENDING, usage_records.c.late_period.is_(None))


def _commit_spent(connection: Connection, period: str, customer_ids: list[str]) -> dict[tuple[str, str], int]:
    """(customer, plan id) → what the period's own commit usage was charged."""
    if not customer_ids:
        return {}
    rows = connection.execute(
        select(usage_records.c.customer_id, usage_records.c.plan_id, *sum_request_amounts(usage_records.c.charge_nanos))
        .where(*_own_records(period), usage_records.c.customer_id.in_(customer_ids), usage_records.c.plan_id.is_not(None))
        .group_by(usage_records.c.customer_id, usage_records.c.plan_id)
    ).all()
    return {(row[0], row[1]): join(row[2], row[3]) for row in rows}


def _fallback_models(connection: Connection, plan_models: tuple[str, ...]) -> list[str]:
    """A plan's listed models; for a plan open to every model, every model with a price."""
    if plan_models:
        return sorted(plan_models)
    return sorted({price.model for price in load_prices(connection).prices})


def _models(connection: Connection, cache: dict, plan) -> list[str]:
    """A plan's fallback models, read once per plan (prices are read once per plan, not per fee)."""
    if plan.plan_id not in cache:
        cache[plan.plan_id] = _fallback_models(connection, plan.models)
    return cache[plan.plan_id]


def _row(period: str, customer_id: str, subscription: SubscriptionRow, kind: str, part: FeePart,
         amount: Fraction, models: list[str], now_us: int) -> dict:
    plan = subscription.plan
    return {"fee_id": new_id("fee"), "period": period, "customer_id": customer_id, "plan_id": plan.plan_id,
            "fee_kind": kind, "stream": STREAM_OF_KIND[plan.kind], "currency": plan.currency,
            "amount_exact": fraction_text(amount), "from_us": part.start_s * US_PER_S, "to_us": part.end_s * US_PER_S,
            "models": json.dumps(models), "created_us": now_us}


def record_period_fees(connection: Connection, period: str, now_us: int) -> int:
    """Store the fees of `period` (in the close's first transaction); returns how many."""
    rows = _fee_rows(connection, period, now_us)
    if rows:
        connection.execute(insert(fees), rows)
    return len(rows)


def computed_fees(connection: Connection, period: str) -> list[FeeEntry]:
    """The fees `period` would settle if it closed now (an open period's preview)."""
    return [_entry(row) for row in _fee_rows(connection, period, 0)]


def _fee_rows(connection: Connection, period: str, now_us: int) -> list[dict]:
    by_customer = period_subscriptions(connection, period)
    spent = _commit_spent(connection, period, sorted(by_customer))
    rows, models_of = [], {}
    for customer_id, subscriptions in sorted(by_customer.items()):
        by_name = {row.plan.name: row for row in subscriptions}
        segments = [row.segment() for row in subscriptions]
        for part in fee_parts(segments, period):
            plan = by_name[part.plan].plan
            models = _models(connection, models_of, plan)
            rows.append(_row(period, customer_id, by_name[part.plan], FEE_KIND_SUBSCRIPTION, part, part.fee_exact,
                             models, now_us))
        minimum_total: dict[str, Fraction] = defaultdict(Fraction)
        for part in minimum_parts(segments, period):
            minimum_total[part.plan] += part.fee_exact
        for part in minimum_parts(segments, period):  # each plan's top-up, spread over its parts by time
            plan = by_name[part.plan].plan
            total = minimum_total[part.plan]
            top_up = max(Fraction(0), total - spent.get((customer_id, plan.plan_id), 0))
            if top_up:
                models = _models(connection, models_of, plan)
                rows.append(_row(period, customer_id, by_name[part.plan], FEE_KIND_MINIMUM, part,
                                 top_up * part.fee_exact / total, models, now_us))
    return rows


def _entry(row) -> FeeEntry:
    get = row.get if isinstance(row, dict) else row._mapping.get
    return FeeEntry(get("fee_id"), get("period"), get("customer_id"), get("plan_id"), get("fee_kind"), get("stream"),
                    get("currency"), Fraction(get("amount_exact")), get("from_us"), get("to_us"),
                    tuple(json.loads(get("models"))))


def period_fees(connection: Connection, period: str) -> list[FeeEntry]:
    """The fees stored for `period`, in a fixed order (customers as their ids)."""
    return [_entry(row) for row in connection.execute(select(fees).where(fees.c.period == period).order_by(fees.c.fee_id))]


def plan_tokens(connection: Connection, period: str, plan_ids: list[str]) -> dict[str, dict[str, int]]:
    """plan id → model → tokens the plan served in the period's own records."""
    if not plan_ids:
        return {}
    rows = connection.execute(
        select(usage_records.c.plan_id, usage_records.c.model,
               func.sum(usage_records.c.tokens_prompt + usage_records.c.tokens_completion))
        .where(*_own_records(period), usage_records.c.plan_id.in_(sorted(set(plan_ids))))
        .group_by(usage_records.c.plan_id, usage_records.c.model)
    ).all()
    tokens: dict[str, dict[str, int]] = defaultdict(dict)
    for plan_id, model, total in rows:
        tokens[plan_id][model] = int(total or 0)
    return dict(tokens)
