"""Admission and finalization of usage records with their money, in batches.

Everything one batch does happens in one transaction, so a usage record, its
reservation and its ledger entries are written together or not at all:

- `admit_batch`: idempotency check, reservation of each priced request's maximum cost
  against the customer's funding and budgets (locking the customer row: the mutex
  that serializes one customer's reservations across workers and replicas), ledger
  entry `rsv_<request>`, pending usage record.
- `finalize_batch`: final usage record, charge rated at the price in force at the
  record's time (never more than what was reserved), ledger entry `stl_<request>`
  returning the unused hold, budget windows moved from reserved to spent.
- `discard_batch`: a request that never reached a backend: its hold is released
  (`rls_<request>`) and its pending record removed.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from sqlalchemy import Connection, bindparam, delete, select, update

from ..billing import BudgetWindow, Funding, check_reservation, window_start_us
from ..ledger import JournalEntry, release, reserve, settle_reservation
from ..metering import STATUS_OK, FinalUsage, PendingUsage
from ..money import Money
from ..pricing import ModelPrice, NoPriceError, PriceSchedule, max_cost_nanos, provisional_charge_nanos
from ._accounts import ensure_windows, read_funding
from ._ledger import post_entries
from ._prices import load_prices
from ._repo import finalize, forget_dead_workers, insert_pending, stale_pending
from ._schema import budget_windows, budgets, customers, idempotency_keys, reservations, usage_records
from ._sql import insert_ignore

HOST_OWNER = "host"
ADMITTED, DENIED, REPLAY, RUNNING, MISMATCH = "admitted", "denied", "replay", "running", "mismatch"
STORED_BODY_BYTES_MAX = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AdmitRequest:
    pending: PendingUsage
    max_completion_tokens: int
    request_sha256: str | None = None
    # An upper bound on the prompt's tokens when the record's count is not exact.
    tokens_prompt_max: int | None = None


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class AdmitOutcome:
    kind: str
    reserved_nanos: int = 0
    currency: str | None = None
    message: str = ""
    response: StoredResponse | None = None


def _moment(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us / 1_000_000, tz=timezone.utc)


def price_for(schedule: PriceSchedule, model: str, time_us: int) -> ModelPrice | None:
    if not schedule.has_model(model):
        return None
    try:
        return schedule.price_at(model, _moment(time_us))
    except NoPriceError:
        return None


# --- admission ------------------------------------------------------------------------

def _claim_idempotency(connection: Connection, request: AdmitRequest, now_us: int) -> AdmitOutcome | None:
    pending = request.pending
    row = {
        "customer_id": pending.customer_id, "idempotency_key": pending.idempotency_key,
        "request_id": pending.request_id, "request_sha256": request.request_sha256 or "", "state": "running",
        "status_code": None, "content_type": None, "body": None, "created_us": now_us,
    }
    if insert_ignore(connection, idempotency_keys, [row], ("customer_id", "idempotency_key")):
        return None
    existing = connection.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.customer_id == pending.customer_id,
            idempotency_keys.c.idempotency_key == pending.idempotency_key,
        )
    ).one()
    if existing.request_sha256 != (request.request_sha256 or ""):
        return AdmitOutcome(MISMATCH, message="This Idempotency-Key was already used with a different request body.")
    if existing.state == "running":
        return AdmitOutcome(RUNNING, message="A request with this Idempotency-Key is still running; retry when it has finished.")
    return AdmitOutcome(REPLAY, response=StoredResponse(existing.status_code, existing.content_type, existing.body))


def _lock_customers(connection: Connection, customer_ids: set[str]) -> dict[str, Funding]:
    """Lock each customer row in a fixed order (no deadlocks), then read its funding."""
    fundings = {}
    for customer_id in sorted(customer_ids):
        connection.execute(select(customers.c.customer_id).where(customers.c.customer_id == customer_id).with_for_update())
        funding = read_funding(connection, customer_id)
        if funding is not None:
            fundings[customer_id] = funding
    return fundings


def _windows(connection: Connection, customer_ids: set[str], now_us: int) -> dict[str, list[BudgetWindow]]:
    """Every budget window of these customers that is current at `now_us`, by customer."""
    rows = connection.execute(select(budgets).where(budgets.c.customer_id.in_(sorted(customer_ids)))).all()
    if not rows:
        return {}
    keys = [(row.budget_id, window_start_us(row.period, now_us)) for row in rows]
    ensure_windows(connection, keys)
    state = {
        (w.budget_id, w.window_start_us): w
        for w in connection.execute(
            select(budget_windows).where(budget_windows.c.budget_id.in_([k[0] for k in keys]))
        )
    }
    by_customer: dict[str, list[BudgetWindow]] = defaultdict(list)
    for row, key in zip(rows, keys):
        window = state[key]
        by_customer[row.customer_id].append(BudgetWindow(
            row.budget_id, row.key_id, row.period, row.currency, row.limit_nanos, key[1],
            window.spent_nanos, window.reserved_nanos,
        ))
    return by_customer


def _amounts(requests: Sequence[AdmitRequest], outcomes: list, schedule: PriceSchedule) -> dict[int, tuple[int, str]]:
    amounts = {}
    for index, request in enumerate(requests):
        if outcomes[index] is not None:
            continue
        pending = request.pending
        price = price_for(schedule, pending.model, pending.time_us)
        if price is None:
            continue
        tokens_prompt = max(pending.tokens_prompt, request.tokens_prompt_max or 0)
        amount = max_cost_nanos(tokens_prompt, request.max_completion_tokens, price)
        if amount > 0:
            amounts[index] = (amount, price.currency)
    return amounts


def admit_batch(connection: Connection, requests: Sequence[AdmitRequest], schedule: PriceSchedule, now_us: int) -> list[AdmitOutcome]:
    outcomes: list[AdmitOutcome | None] = [
        _claim_idempotency(connection, r, now_us) if r.pending.idempotency_key else None for r in requests
    ]
    amounts = _amounts(requests, outcomes, schedule)
    customer_ids = {requests[i].pending.customer_id for i in amounts}
    fundings = _lock_customers(connection, customer_ids) if customer_ids else {}
    windows = _windows(connection, customer_ids, now_us) if customer_ids else {}
    entries: list[JournalEntry] = []
    holds, window_deltas = [], defaultdict(int)
    for index, request in enumerate(requests):
        if outcomes[index] is not None:
            continue
        if index not in amounts:
            outcomes[index] = AdmitOutcome(ADMITTED)
            continue
        amount, currency = amounts[index]
        pending = request.pending
        funding = fundings.get(pending.customer_id)
        applicable = tuple(w for w in windows.get(pending.customer_id, ()) if w.key_id in ("", pending.key_id))
        denial = check_reservation(amount, currency, funding, applicable) if funding else None
        if funding is None or denial is not None:
            outcomes[index] = AdmitOutcome(DENIED, message=denial.message if denial else "unknown customer")
            continue
        fundings[pending.customer_id] = dataclasses.replace(funding, balance_nanos=funding.balance_nanos + amount)
        windows[pending.customer_id] = [
            dataclasses.replace(w, reserved_nanos=w.reserved_nanos + amount) if w in applicable else w
            for w in windows.get(pending.customer_id, ())
        ]
        for window in applicable:
            if window.currency == currency:
                window_deltas[(window.budget_id, window.window_start_us)] += amount
        entries.append(reserve(
            f"rsv_{pending.request_id}", _moment(pending.time_us), customer=pending.customer_id,
            amount=Money(amount, currency), funding=funding.funding_kind,
        ))
        holds.append({
            "request_id": pending.request_id, "customer_id": pending.customer_id, "currency": currency,
            "amount_nanos": amount, "funding_kind": str(funding.funding_kind),
            "budget_windows": ";".join(f"{w.budget_id}@{w.window_start_us}" for w in applicable if w.currency == currency),
            "created_us": now_us,
        })
        outcomes[index] = AdmitOutcome(ADMITTED, amount, currency)
    _write_admissions(connection, requests, outcomes, entries, holds, window_deltas)
    return outcomes


def _write_admissions(connection, requests, outcomes, entries, holds, window_deltas) -> None:
    admitted = [
        (r.pending, r.max_completion_tokens, o) for r, o in zip(requests, outcomes) if o.kind == ADMITTED
    ]
    insert_pending(connection, [p for p, _, _ in admitted], {
        p.request_id: (max_tokens, o.reserved_nanos or None, o.currency) for p, max_tokens, o in admitted
    })
    post_entries(connection, entries, [e.entry_id[4:] for e in entries])
    if holds:
        connection.execute(reservations.insert(), holds)
    _move_windows(connection, {key: (delta, 0) for key, delta in window_deltas.items()})
    refused = [r.pending for r, o in zip(requests, outcomes) if o.kind == DENIED and r.pending.idempotency_key]
    _forget_idempotency(connection, [(p.customer_id, p.idempotency_key) for p in refused])


def _move_windows(connection: Connection, deltas: dict[tuple[str, int], tuple[int, int]]) -> None:
    """Add (reserved delta, spent delta) to each budget window."""
    if not deltas:
        return
    connection.execute(
        update(budget_windows)
        .where(budget_windows.c.budget_id == bindparam("b_id"), budget_windows.c.window_start_us == bindparam("b_start"))
        .values(
            reserved_nanos=budget_windows.c.reserved_nanos + bindparam("b_reserved"),
            spent_nanos=budget_windows.c.spent_nanos + bindparam("b_spent"),
        ),
        [{"b_id": b, "b_start": s, "b_reserved": r, "b_spent": sp} for (b, s), (r, sp) in sorted(deltas.items())],
    )


def _forget_idempotency(connection: Connection, keys: list[tuple[str, str]]) -> None:
    for customer_id, key in keys:
        connection.execute(delete(idempotency_keys).where(
            idempotency_keys.c.customer_id == customer_id, idempotency_keys.c.idempotency_key == key,
            idempotency_keys.c.state == "running",
        ))


# --- finalization ---------------------------------------------------------------------

def _hold_windows(text: str) -> list[tuple[str, int]]:
    return [(part.split("@")[0], int(part.split("@")[1])) for part in text.split(";") if part]


def finalize_batch(
    connection: Connection, finals: Sequence[FinalUsage], schedule: PriceSchedule,
    responses: dict[str, StoredResponse] | None = None,
) -> None:
    if not finals:
        return
    ids = [f.request_id for f in finals]
    records = {
        r.request_id: r for r in connection.execute(
            select(usage_records.c.request_id, usage_records.c.model, usage_records.c.time_us,
                   usage_records.c.customer_id, usage_records.c.idempotency_key)
            .where(usage_records.c.request_id.in_(ids), usage_records.c.status == "pending")
            .with_for_update()
        )
    }
    holds = {h.request_id: h for h in connection.execute(select(reservations).where(reservations.c.request_id.in_(ids)))}
    entries, charges, deltas = [], {}, defaultdict(lambda: [0, 0])
    for final in finals:
        record = records.get(final.request_id)
        hold = holds.get(final.request_id)
        if record is None or hold is None:
            continue
        price = price_for(schedule, record.model, record.time_us)
        exact = provisional_charge_nanos(final.tokens_prompt, final.tokens_completion, price) if price else 0
        charge = min(exact, hold.amount_nanos)
        charges[final.request_id] = (charge, hold.currency)
        entries.append(settle_reservation(
            f"stl_{final.request_id}", _moment(final.finalized_us), customer=hold.customer_id, host=HOST_OWNER,
            reserved=Money(hold.amount_nanos, hold.currency), charge=Money(charge, hold.currency),
            funding=hold.funding_kind,
        ))
        for key in _hold_windows(hold.budget_windows):
            deltas[key][0] -= hold.amount_nanos
            deltas[key][1] += charge
    finalize(connection, [f for f in finals if f.request_id in records], charges)
    post_entries(connection, entries, [e.entry_id[4:] for e in entries])
    if holds:
        connection.execute(delete(reservations).where(reservations.c.request_id.in_(list(holds))))
    _move_windows(connection, {key: (r, s) for key, (r, s) in deltas.items()})
    _settle_idempotency(connection, finals, records, responses or {})


def _settle_idempotency(connection, finals, records, responses) -> None:
    for final in finals:
        record = records.get(final.request_id)
        if record is None or record.idempotency_key is None:
            continue
        response = responses.get(final.request_id)
        where = (idempotency_keys.c.customer_id == record.customer_id, idempotency_keys.c.idempotency_key == record.idempotency_key)
        if final.status == STATUS_OK and response is not None and len(response.body) <= STORED_BODY_BYTES_MAX:
            connection.execute(update(idempotency_keys).where(*where).values(
                state="done", status_code=response.status_code, content_type=response.content_type, body=response.body,
            ))
        else:
            # Not completed: a retry must be able to run the request again.
            connection.execute(delete(idempotency_keys).where(*where))


def discard_batch(connection: Connection, request_ids: Sequence[str], now_us: int) -> None:
    """Release the holds of requests that never reached a backend and drop their records."""
    if not request_ids:
        return
    holds = list(connection.execute(select(reservations).where(reservations.c.request_id.in_(list(request_ids)))))
    entries, deltas = [], defaultdict(lambda: [0, 0])
    for hold in holds:
        entries.append(release(
            f"rls_{hold.request_id}", _moment(now_us), customer=hold.customer_id,
            amount=Money(hold.amount_nanos, hold.currency), funding=hold.funding_kind,
        ))
        for key in _hold_windows(hold.budget_windows):
            deltas[key][0] -= hold.amount_nanos
    post_entries(connection, entries, [e.entry_id[4:] for e in entries])
    if holds:
        connection.execute(delete(reservations).where(reservations.c.request_id.in_([h.request_id for h in holds])))
    _move_windows(connection, {key: (r, s) for key, (r, s) in deltas.items()})
    rows = connection.execute(
        select(usage_records.c.customer_id, usage_records.c.idempotency_key)
        .where(usage_records.c.request_id.in_(list(request_ids)), usage_records.c.status == "pending")
    ).all()
    _forget_idempotency(connection, [(r.customer_id, r.idempotency_key) for r in rows if r.idempotency_key])
    connection.execute(delete(usage_records).where(
        usage_records.c.request_id.in_(list(request_ids)), usage_records.c.status == "pending"
    ))


def recover_interrupted(engine, now_us: int, lease_us: int) -> int:
    """Close every pending record left by a dead worker as `interrupted`, billing the
    prompt tokens it knew and returning the rest of its hold. Returns the count."""
    closed = 0
    while True:
        with engine.connect().execution_options(write_lock=True) as connection, connection.begin():
            finals = stale_pending(connection, now_us, lease_us)
            if finals:
                finalize_batch(connection, finals, load_prices(connection))
            else:
                forget_dead_workers(connection, now_us, lease_us)
        closed += len(finals)
        if not finals:
            return closed
