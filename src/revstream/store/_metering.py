"""Admission and finalization of usage records with their money, in batches.

Everything one batch does happens in one transaction, so a usage record and the
money it moves are written together or not at all:

- `admit_batch`: idempotency claim; reservation of each priced request's maximum cost
  against the customer's funding and budgets, under a lock on the customer row (the
  mutex that serializes one customer's reservations across workers and replicas);
  the pending usage record, which carries the hold (`reserved_nanos`, its funding
  account and budget windows). What a customer has reserved is the sum of the holds
  on its pending records: no hold is ever written anywhere else, so none can leak.
- `finalize_batch`: the final usage record with its charge, rated at the price in
  force at the record's time and never above its hold; one ledger entry per
  customer, funding account and currency in the batch books the sum of those charges
  (each record names it: `ledger_entry_id`); budget windows move from reserved to spent.
- `discard_batch`: a request that never reached a backend: its record, and with it
  the hold, is removed.

The hot statements go to the driver as plain tuples (see `_sql.executemany`).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from ..periods import datetime_of_us
from sqlalchemy import Connection, bindparam, delete, select, update

from ..billing import CODE_AMOUNT_OUT_OF_RANGE, REQUEST_NANOS_MAX, BudgetWindow, Funding, check_reservation, window_start_us
from ..ledger import settle_usage
from ..metering import STATUS_PENDING, FinalUsage
from ..money import Money, format_nanos_exact, round_half_even
from ..pricing import ModelPrice, PriceSchedule, max_cost_nanos, provisional_charge_nanos
from ._accounts import ensure_windows, funding_of
from ._amounts import add_amount, join, read_amount, split, sum_request_amounts
from ._idempotency import (
    ADMITTED,
    DENIED,
    AdmitOutcome,
    AdmitRequest,
    StoredResponse,
    claim,
    forget,
)
from ._idempotency import settle as settle_idempotency
from ._ledger import post_entries
from ._plan_admission import NO_PLAN, PlanFinals, PlanHold, PlanQuotas, list_cost_nanos, uses_plan_money
from ._plans import active_subscriptions
from ._prices import load_prices
from ._repo import forget_dead_workers, stale_pending
from ._schema import account_balances, budget_windows, budgets, customers, usage_records
from ._sql import bulk_insert, bulk_update
from ._engine import writing

HOST_OWNER = "host"
# Column order of the bulk statements, with their PostgreSQL array types.
_PENDING_COLUMNS = (
    ("request_id", "text"), ("idempotency_key", "text"), ("time_us", "bigint"), ("customer_id", "text"),
    ("key_id", "text"), ("model", "text"), ("backend", "text"), ("endpoint", "text"), ("status", "text"),
    ("tokens_prompt", "int"), ("tokens_completion", "int"), ("usage_source", "text"), ("worker_id", "text"),
    ("max_tokens", "int"), ("reserved_nanos", "bigint"), ("currency", "text"), ("funding_kind", "text"),
    ("budget_windows", "text"),
)
# A batch with a plan's request writes these too; one without leaves the defaults (stream "api").
_PLAN_COLUMNS = (("stream", "text"), ("plan_id", "text"), ("subscription_id", "text"), ("tokens_included", "int"))
_FINAL_COLUMNS = (
    ("status", "text"), ("tokens_prompt", "int"), ("tokens_completion", "int"), ("usage_source", "text"),
    ("finalized_us", "bigint"), ("ttft_ms", "int"), ("duration_ms", "int"), ("error_code", "text"),
    ("charge_nanos", "bigint"), ("ledger_entry_id", "text"),
)


def price_for(schedule: PriceSchedule, model: str, time_us: int) -> ModelPrice | None:
    return schedule.price_at_us(model, time_us)


# --- admission ------------------------------------------------------------------------

# The batch queries, built once (expanding IN lists): building SQL expressions per
# batch cost more than running them.
_CUSTOMERS_LOCKED = (
    select(customers).where(customers.c.customer_id.in_(bindparam("ids", expanding=True)))
    .order_by(customers.c.customer_id).with_for_update()
)
_BALANCES = select(account_balances).where(account_balances.c.owner.in_(bindparam("ids", expanding=True)))
_HELD = (
    select(usage_records.c.customer_id, usage_records.c.currency, *sum_request_amounts(usage_records.c.reserved_nanos))
    .where(usage_records.c.status == STATUS_PENDING, usage_records.c.customer_id.in_(bindparam("ids", expanding=True)),
           usage_records.c.reserved_nanos.is_not(None))
    .group_by(usage_records.c.customer_id, usage_records.c.currency)
)
_BUDGETS = select(budgets).where(budgets.c.customer_id.in_(bindparam("ids", expanding=True)))
_PENDING_ROWS = (
    select(usage_records.c.request_id, usage_records.c.model, usage_records.c.time_us,
           usage_records.c.customer_id, usage_records.c.idempotency_key, usage_records.c.reserved_nanos,
           usage_records.c.currency, usage_records.c.funding_kind, usage_records.c.budget_windows,
           usage_records.c.plan_id, usage_records.c.subscription_id, usage_records.c.tokens_included)
    .where(usage_records.c.request_id.in_(bindparam("ids", expanding=True)), usage_records.c.status == STATUS_PENDING)
    .with_for_update()
)


def _fundings(connection: Connection, customer_ids: set[str]) -> dict[str, Funding]:
    """Lock the customer rows (in a fixed order: no deadlocks) and read their funding:
    the funding account's balance and the holds on their pending records."""
    ids = {"ids": sorted(customer_ids)}
    rows = connection.execute(_CUSTOMERS_LOCKED, ids).all()
    balances = {(r.owner, r.kind, r.currency): join(r.units, r.nanos) for r in connection.execute(_BALANCES, ids)}
    held = {(r[0], r[1]): join(r[2], r[3]) for r in connection.execute(_HELD, ids)}
    return {row.customer_id: funding_of(row, balances, held) for row in rows}


def _windows(connection: Connection, customer_ids: set[str], now_us: int) -> dict[str, list[BudgetWindow]]:
    """Every budget window of these customers that is current at `now_us`, by customer."""
    rows = connection.execute(_BUDGETS, {"ids": sorted(customer_ids)}).all()
    if not rows:
        return {}
    keys = [(row.budget_id, window_start_us(row.period, now_us)) for row in rows]
    ensure_windows(connection, keys)
    state = {
        (w.budget_id, w.window_start_us): w
        for w in connection.execute(select(budget_windows).where(budget_windows.c.budget_id.in_([k[0] for k in keys])))
    }
    by_customer: dict[str, list[BudgetWindow]] = defaultdict(list)
    for row, key in zip(rows, keys):
        window = state[key]
        by_customer[row.customer_id].append(BudgetWindow(
            row.budget_id, row.key_id, row.period, row.currency, read_amount(row, "limit"), key[1],
            read_amount(window, "spent"), read_amount(window, "reserved"),
        ))
    return by_customer


def _tokens_prompt_max(request: AdmitRequest) -> int:
    return max(request.pending.tokens_prompt, request.tokens_prompt_max or 0)


def _amounts(requests: Sequence[AdmitRequest], outcomes: list, schedule: PriceSchedule, subscribed: dict) -> dict[int, tuple[int, str]]:
    amounts = {}
    for index, request in enumerate(requests):
        if outcomes[index] is not None:
            continue
        pending = request.pending
        subscription = subscribed.get(pending.customer_id)
        if uses_plan_money(subscription):
            continue  # a subscription's overage or a free plan: priced by the plan (see PlanQuotas)
        price = price_for(schedule, pending.model, pending.time_us)
        if price is None:
            continue
        if subscription is None:
            amount = max_cost_nanos(_tokens_prompt_max(request), request.max_completion_tokens, price)
        else:
            amount = list_cost_nanos(subscription.plan, _tokens_prompt_max(request), request.max_completion_tokens, price)
        if amount > REQUEST_NANOS_MAX:
            outcomes[index] = AdmitOutcome(DENIED, code=CODE_AMOUNT_OUT_OF_RANGE, message=(
                f"this request could cost up to {format_nanos_exact(amount, price.currency)} {price.currency}, "
                f"more than one request may reserve; lower max_tokens"))
        elif amount > 0:
            amounts[index] = (amount, price.currency)
    return amounts


@dataclass(slots=True)
class _Hold:
    amount_nanos: int
    currency: str
    funding_kind: str
    windows: str


def admit_batch(connection: Connection, requests: Sequence[AdmitRequest], schedule: PriceSchedule, now_us: int) -> list[AdmitOutcome]:
    outcomes: list[AdmitOutcome | None] = [
        claim(connection, r, now_us) if r.pending.idempotency_key else None for r in requests
    ]
    subscribed = active_subscriptions(connection, {r.pending.customer_id for r, o in zip(requests, outcomes) if o is None}, now_us)
    amounts = _amounts(requests, outcomes, schedule, subscribed)
    customer_ids = {requests[i].pending.customer_id for i in amounts} | set(subscribed)
    fundings = _fundings(connection, customer_ids) if customer_ids else {}
    windows = _windows(connection, customer_ids, now_us) if customer_ids else {}
    quotas = PlanQuotas(connection, subscribed, requests) if subscribed else None
    holds: dict[int, _Hold] = {}
    plan_holds: dict[int, PlanHold] = {}
    held_extra: dict[str, int] = defaultdict(int)
    window_deltas: dict[tuple[str, int], int] = defaultdict(int)
    for index, request in enumerate(requests):
        if outcomes[index] is not None:
            continue
        pending = request.pending
        plan_hold = NO_PLAN
        if quotas is not None:
            decision, plan_hold, overage_nanos = quotas.decide(request, _tokens_prompt_max(request) + request.max_completion_tokens)
            if decision.refused_code:
                outcomes[index] = AdmitOutcome(DENIED, message=decision.message, code=decision.refused_code)
                continue
            if overage_nanos:
                amounts[index] = (overage_nanos, subscribed[pending.customer_id].plan.currency)
        if index not in amounts:
            outcomes[index] = _admitted_on_plan(quotas, plan_holds, index, plan_hold)
            continue
        amount, currency = amounts[index]
        funding = fundings.get(pending.customer_id)
        applicable = tuple(w for w in windows.get(pending.customer_id, ()) if w.key_id in ("", pending.key_id))
        denial = check_reservation(
            amount, currency, funding, applicable, held_extra[pending.customer_id], window_deltas,
        ) if funding else None
        if funding is None or denial is not None:
            outcomes[index] = AdmitOutcome(DENIED, message=denial.message if denial else "unknown customer")
            continue
        held_extra[pending.customer_id] += amount
        charged = [w for w in applicable if w.currency == currency]
        for window in charged:
            window_deltas[(window.budget_id, window.window_start_us)] += amount
        holds[index] = _Hold(amount, currency, str(funding.funding_kind),
                             ";".join(f"{w.budget_id}@{w.window_start_us}" for w in charged))
        outcomes[index] = _admitted_on_plan(quotas, plan_holds, index, plan_hold, amount, currency)
    _insert_pending(connection, requests, outcomes, holds, plan_holds)
    _move_windows(connection, {key: (delta, 0) for key, delta in window_deltas.items()})
    if quotas is not None:
        quotas.write(connection)
    forget(connection, [
        (r.pending.customer_id, r.pending.idempotency_key)
        for r, o in zip(requests, outcomes) if o.kind == DENIED and r.pending.idempotency_key
    ])
    return outcomes


def _admitted_on_plan(quotas, plan_holds, index: int, hold: PlanHold, amount: int = 0, currency: str | None = None) -> AdmitOutcome:
    """Admit a request: its plan's included tokens are taken from the window."""
    if hold is not NO_PLAN:
        quotas.take(hold)
        plan_holds[index] = hold
    return AdmitOutcome(ADMITTED, amount, currency)


def _insert_pending(connection: Connection, requests, outcomes, holds: dict[int, _Hold], plan_holds: dict[int, PlanHold]) -> None:
    rows = []
    for index, (request, outcome) in enumerate(zip(requests, outcomes)):
        if outcome.kind != ADMITTED:
            continue
        p, hold = request.pending, holds.get(index)
        row = (
            p.request_id, p.idempotency_key, p.time_us, p.customer_id, p.key_id, p.model, p.backend, p.endpoint,
            STATUS_PENDING, p.tokens_prompt, 0, "backend", p.worker_id, request.max_completion_tokens,
            hold.amount_nanos if hold else None, hold.currency if hold else None,
            hold.funding_kind if hold else None, hold.windows if hold else None,
        )
        if plan_holds:
            plan = plan_holds.get(index, NO_PLAN)
            row += (plan.stream, plan.plan_id, plan.subscription_id, plan.tokens_included)
        rows.append(row)
    columns = _PENDING_COLUMNS + _PLAN_COLUMNS if plan_holds else _PENDING_COLUMNS
    bulk_insert(connection, "usage_records", [c for c, _ in columns], [t for _, t in columns], rows)


def _move_windows(connection: Connection, deltas: dict[tuple[str, int], tuple[int, int]]) -> None:
    """Add (reserved delta, spent delta) to each budget window."""
    if not deltas:
        return
    connection.execute(_MOVE_WINDOWS, [
        {"b_id": b, "b_start": s, **_delta_params("b_reserved", r), **_delta_params("b_spent", sp)}
        for (b, s), (r, sp) in sorted(deltas.items())
    ])


def _delta_params(prefix: str, nanos: int) -> dict[str, int]:
    units, rest = split(nanos)
    return {f"{prefix}_units": units, f"{prefix}_nanos": rest}


_MOVE_WINDOWS = (
    update(budget_windows)
    .where(budget_windows.c.budget_id == bindparam("b_id"), budget_windows.c.window_start_us == bindparam("b_start"))
    .values(**add_amount(budget_windows, "reserved", bindparam("b_reserved_units"), bindparam("b_reserved_nanos")),
            **add_amount(budget_windows, "spent", bindparam("b_spent_units"), bindparam("b_spent_nanos")))
)


# --- finalization ---------------------------------------------------------------------

def _hold_windows(text: str | None) -> list[tuple[str, int]]:
    return [(part.split("@")[0], int(part.split("@")[1])) for part in (text or "").split(";") if part]


def _pending_rows(connection: Connection, request_ids: list[str]) -> dict:
    return {r.request_id: r for r in connection.execute(_PENDING_ROWS, {"ids": request_ids})}


def finalize_batch(
    connection: Connection, finals: Sequence[FinalUsage], schedule: PriceSchedule,
    responses: dict[str, StoredResponse] | None = None,
) -> None:
    if not finals:
        return
    records = _pending_rows(connection, [f.request_id for f in finals])
    rated = PlanFinals(connection, records)
    charges: dict[str, int] = {}
    totals: dict[tuple[str, str, str], int] = defaultdict(int)
    deltas: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for final in finals:
        record = records.get(final.request_id)
        if record is None or (record.reserved_nanos is None and record.plan_id is None):
            continue
        price = price_for(schedule, record.model, record.time_us)
        if record.plan_id is None:  # the hot path: integer arithmetic only
            exact = provisional_charge_nanos(final.tokens_prompt, final.tokens_completion, price) if price else 0
        else:
            exact = round_half_even(rated.exact_charge(record, final, price))
        if record.reserved_nanos is None:
            continue
        charge = charges[final.request_id] = min(exact, record.reserved_nanos)
        totals[(record.customer_id, record.funding_kind, record.currency)] += charge
        for key in _hold_windows(record.budget_windows):
            deltas[key][0] -= record.reserved_nanos
            deltas[key][1] += charge
    entry_ids, entries = {}, []
    moment = datetime_of_us(max(f.finalized_us for f in finals))
    for (customer_id, funding_kind, currency), total in sorted(totals.items()):
        entry_id = entry_ids[(customer_id, funding_kind, currency)] = f"use_{secrets.token_hex(10)}"
        if total:
            entries.append(settle_usage(
                entry_id, moment, customer=customer_id, host=HOST_OWNER, charge=Money(total, currency), source=funding_kind,
            ))
    _write_finals(connection, finals, records, charges, entry_ids, rated.tokens_included)
    post_entries(connection, entries)
    _move_windows(connection, {key: (r, s) for key, (r, s) in deltas.items()})
    rated.write(connection)
    settle_idempotency(connection, finals, records, responses or {})


def _write_finals(connection, finals, records, charges, entry_ids, tokens_included: dict[str, int]) -> None:
    rows = []
    for f in finals:
        record = records.get(f.request_id)
        if record is None:
            continue  # already final: finalizing twice cannot bill twice
        charge = charges.get(f.request_id)
        entry_id = entry_ids.get((record.customer_id, record.funding_kind, record.currency)) if charge else None
        row = (
            f.status, f.tokens_prompt, f.tokens_completion, f.usage_source, f.finalized_us, f.ttft_ms,
            f.duration_ms, f.error_code, charge, entry_id,
        )
        if tokens_included:  # a plan's included tokens settle to what was used
            row += (tokens_included.get(f.request_id, record.tokens_included),)
        rows.append((*row, f.request_id))
    columns = _FINAL_COLUMNS + (("tokens_included", "int"),) if tokens_included else _FINAL_COLUMNS
    bulk_update(
        connection, "usage_records", "request_id", [c for c, _ in columns],
        [*(t for _, t in columns), "text"], rows, condition=f"status = '{STATUS_PENDING}'",
    )


def discard_batch(connection: Connection, request_ids: Sequence[str], now_us: int) -> None:
    """Remove the records (and so the holds) of requests that never reached a backend."""
    if not request_ids:
        return
    records = _pending_rows(connection, list(request_ids))
    deltas: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    rated = PlanFinals(connection, records)
    for record in records.values():
        rated.release(record)
        for key in _hold_windows(record.budget_windows):
            deltas[key][0] -= record.reserved_nanos or 0
    _move_windows(connection, {key: (r, s) for key, (r, s) in deltas.items()})
    rated.write(connection)
    forget(connection, [(r.customer_id, r.idempotency_key) for r in records.values() if r.idempotency_key])
    connection.execute(delete(usage_records).where(
        usage_records.c.request_id.in_(list(records)), usage_records.c.status == STATUS_PENDING
    ))


def recover_interrupted(engine, now_us: int, lease_us: int) -> int:
    """Close every pending record left by a dead worker as `interrupted`, billing the
    prompt tokens it knew; its hold goes with it. Returns the count."""
    closed = 0
    while True:
        with writing(engine) as connection:
            finals = stale_pending(connection, now_us, lease_us)
            if finals:
                finalize_batch(connection, finals, load_prices(connection))
            else:
                forget_dead_workers(connection, now_us, lease_us)
        closed += len(finals)
        if not finals:
            return closed
