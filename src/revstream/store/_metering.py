"""Admission and finalization of usage records with their money, in batches.

This module reads and writes; every decision (how much a request holds, whether its funding,
budgets and plan admit it, its charge, what it releases) is `revstream.admission`'s, pure.
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
from typing import Sequence

from sqlalchemy import Connection, bindparam, delete, select, update

from ..admission import QUOTA_KINDS, Admission, Ask, Books, Held, PlanInForce, Settlement, release, settle
from ..admission import admit_batch as decide
from ..billing import BudgetWindow, Funding, window_start_us
from ..ledger import settle_usage
from ..metering import STATUS_PENDING, FinalUsage
from ..money import Money
from ..periods import US_PER_S, datetime_of_us, rfc3339
from ..plans import QuotaWindow, window_bounds_s
from ..pricing import ModelPrice, PriceSchedule
from ._accounts import funding_of, open_windows
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
from ._plans import SubscriptionRow, active_subscriptions, allowance, plans_by_id, read_windows, renewal_us
from ._plans import move_windows as move_plan_windows
from ._plans import window_start_us as plan_window_start_us
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
_BUDGET_WINDOWS = select(budget_windows).where(budget_windows.c.budget_id.in_(bindparam("ids", expanding=True)))
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
    open_windows(connection, rows, now_us)
    state = {
        (w.budget_id, w.window_start_us): w for w in connection.execute(_BUDGET_WINDOWS, {"ids": [k[0] for k in keys]})
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


def _plan_in_force(subscription: SubscriptionRow | None, time_us: int) -> PlanInForce | None:
    if subscription is None:
        return None
    if subscription.plan.kind not in QUOTA_KINDS:
        return PlanInForce(subscription.plan, subscription.subscription_id)
    window = (subscription.subscription_id, plan_window_start_us(subscription, time_us))
    return PlanInForce(subscription.plan, subscription.subscription_id, window, rfc3339(renewal_us(subscription, time_us)))


def _ask(request: AdmitRequest, schedule: PriceSchedule, subscribed: dict) -> Ask:
    pending = request.pending
    return Ask(
        pending.customer_id, pending.key_id, pending.model, _tokens_prompt_max(request), request.max_completion_tokens,
        price_for(schedule, pending.model, pending.time_us), _plan_in_force(subscribed.get(pending.customer_id), pending.time_us),
    )


def _books(connection: Connection, asks: dict[int, Ask], subscribed: dict, now_us: int) -> Books:
    """Read, under the customers' row locks, what the decisions need: the funding and budget
    windows of every customer with something to hold, the quota windows of its plans."""
    customer_ids = {a.customer_id for a in asks.values() if a.price is not None or a.plan is not None}
    if not customer_ids:
        return Books()
    fundings = _fundings(connection, customer_ids)  # first: the lock, then what it guards
    windows = {a.plan.window for a in asks.values() if a.plan is not None and a.plan.window is not None}
    used = read_windows(connection, sorted(windows))
    quotas = {}
    for ask in asks.values():
        key = ask.plan.window if ask.plan is not None else None
        if key is not None and key not in quotas:
            quotas[key] = QuotaWindow(allowance(subscribed[ask.customer_id], key[1]), *used[key])
    return Books(fundings, _windows(connection, customer_ids, now_us), quotas)


def admit_batch(connection: Connection, requests: Sequence[AdmitRequest], schedule: PriceSchedule, now_us: int) -> list[AdmitOutcome]:
    outcomes: list[AdmitOutcome | None] = [
        claim(connection, r, now_us) if r.pending.idempotency_key else None for r in requests
    ]
    subscribed = active_subscriptions(connection, {r.pending.customer_id for r, o in zip(requests, outcomes) if o is None}, now_us)
    asks = {index: _ask(request, schedule, subscribed) for index, request in enumerate(requests) if outcomes[index] is None}
    decided = decide(list(asks.values()), _books(connection, asks, subscribed, now_us))
    admitted: dict[int, Admission] = {}
    for index, admission in zip(asks, decided.admissions):
        if admission.admitted:
            admitted[index] = admission
            outcomes[index] = AdmitOutcome(ADMITTED, admission.hold_nanos or 0, admission.currency)
        else:
            outcomes[index] = AdmitOutcome(DENIED, message=admission.message, code=admission.refused_code)
    _insert_pending(connection, requests, admitted)
    _move_windows(connection, {key: (delta, 0) for key, delta in decided.budget_reserved_nanos.items()})
    move_plan_windows(connection, {key: (tokens, 0) for key, tokens in decided.quota_reserved_tokens.items()})
    forget(connection, [
        (r.pending.customer_id, r.pending.idempotency_key)
        for r, o in zip(requests, outcomes) if o.kind == DENIED and r.pending.idempotency_key
    ])
    return outcomes


def _insert_pending(connection: Connection, requests, admitted: dict[int, Admission]) -> None:
    with_plan = any(a.plan_id is not None for a in admitted.values())
    rows = []
    for index, admission in sorted(admitted.items()):
        p = requests[index].pending
        row = (
            p.request_id, p.idempotency_key, p.time_us, p.customer_id, p.key_id, p.model, p.backend, p.endpoint,
            STATUS_PENDING, p.tokens_prompt, 0, "backend", p.worker_id, requests[index].max_completion_tokens,
            admission.hold_nanos, admission.currency, admission.funding_kind,
            ";".join(f"{b}@{s}" for b, s in admission.budget_windows) if admission.hold_nanos else None,
        )
        if with_plan:
            row += (admission.stream, admission.plan_id, admission.subscription_id, admission.tokens_included)
        rows.append(row)
    columns = _PENDING_COLUMNS + _PLAN_COLUMNS if with_plan else _PENDING_COLUMNS
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


def _held(record, plans: dict) -> Held:
    return Held(record.reserved_nanos, plans.get(record.plan_id) if record.plan_id else None, record.tokens_included)


def _plan_window(plan, record) -> tuple[str, int]:
    return record.subscription_id, window_bounds_s(plan, record.time_us // US_PER_S)[0] * US_PER_S


class _Moves:
    """What a batch's settlements move: budget windows (reserved, spent nanos) and quota
    windows (reserved, used tokens)."""

    def __init__(self) -> None:
        self.budget: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        self.quota: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])

    def add(self, record, held: Held, settled: Settlement) -> None:
        if record.budget_windows:
            for key in _hold_windows(record.budget_windows):
                moved = self.budget[key]
                moved[0] += settled.budget_reserved_delta_nanos
                moved[1] += settled.budget_spent_delta_nanos
        if held.plan is not None and held.on_quota and (settled.quota_reserved_delta_tokens or settled.quota_used_delta_tokens):
            key = _plan_window(held.plan, record)
            self.quota[key][0] += settled.quota_reserved_delta_tokens
            self.quota[key][1] += settled.quota_used_delta_tokens

    def write(self, connection: Connection) -> None:
        _move_windows(connection, {key: (r, s) for key, (r, s) in self.budget.items()})
        move_plan_windows(connection, {key: (r, u) for key, (r, u) in self.quota.items() if r or u})


def finalize_batch(
    connection: Connection, finals: Sequence[FinalUsage], schedule: PriceSchedule,
    responses: dict[str, StoredResponse] | None = None,
) -> None:
    if not finals:
        return
    records = _pending_rows(connection, [f.request_id for f in finals])
    plans = plans_by_id(connection, [r.plan_id for r in records.values() if r.plan_id])
    settlements: dict[str, Settlement] = {}
    totals: dict[tuple[str, str, str], int] = defaultdict(int)
    moves = _Moves()
    for final in finals:
        record = records.get(final.request_id)
        if record is None:
            continue
        held = _held(record, plans)
        settled = settle(held, final.tokens_prompt, final.tokens_completion, price_for(schedule, record.model, record.time_us))
        settlements[final.request_id] = settled
        if settled.charge_nanos:  # money moves: booked in the ledger
            totals[(record.customer_id, record.funding_kind, record.currency)] += settled.charge_nanos
        moves.add(record, held, settled)
    entry_ids, entries = {}, []
    moment = datetime_of_us(max(f.finalized_us for f in finals))
    for (customer_id, funding_kind, currency), total in sorted(totals.items()):
        entry_id = entry_ids[(customer_id, funding_kind, currency)] = f"use_{secrets.token_hex(10)}"
        entries.append(settle_usage(
            entry_id, moment, customer=customer_id, host=HOST_OWNER, charge=Money(total, currency), source=funding_kind,
        ))
    _write_finals(connection, finals, records, settlements, entry_ids)
    post_entries(connection, entries)
    moves.write(connection)
    settle_idempotency(connection, finals, records, responses or {})


def _write_finals(connection, finals, records, settlements: dict[str, Settlement], entry_ids) -> None:
    with_plan = any(r.plan_id is not None for r in records.values())
    rows = []
    for f in finals:
        record = records.get(f.request_id)
        if record is None:
            continue  # already final: finalizing twice cannot bill twice
        settled = settlements[f.request_id]
        entry_id = entry_ids.get((record.customer_id, record.funding_kind, record.currency)) if settled.books_money else None
        row = (
            f.status, f.tokens_prompt, f.tokens_completion, f.usage_source, f.finalized_us, f.ttft_ms,
            f.duration_ms, f.error_code, settled.charge_nanos, entry_id,
        )
        if with_plan:  # a plan's included tokens settle to what was used
            row += (settled.tokens_included if settled.tokens_included is not None else record.tokens_included,)
        rows.append((*row, f.request_id))
    columns = _FINAL_COLUMNS + (("tokens_included", "int"),) if with_plan else _FINAL_COLUMNS
    bulk_update(
        connection, "usage_records", "request_id", [c for c, _ in columns],
        [*(t for _, t in columns), "text"], rows, condition=f"status = '{STATUS_PENDING}'",
    )


def discard_batch(connection: Connection, request_ids: Sequence[str], now_us: int) -> None:
    """Remove the records (and so the holds) of requests that never reached a backend."""
    if not request_ids:
        return
    records = _pending_rows(connection, list(request_ids))
    plans = plans_by_id(connection, [r.plan_id for r in records.values() if r.plan_id])
    moves = _Moves()
    for record in records.values():
        held = _held(record, plans)
        moves.add(record, held, release(held))
    moves.write(connection)
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
