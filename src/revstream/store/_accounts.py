"""Customer money settings: prepaid credit, postpaid limits, budgets, balances."""

from __future__ import annotations

from dataclasses import dataclass

from ..periods import datetime_of_us
from sqlalchemy import Connection, Engine, select, update

from ..admission import budget_window_bounds_us
from ..billing import BILLING_POSTPAID, BUDGET_PERIODS, BillingError, Funding, window_start_us
from ..keys import new_id
from ..ledger import AccountKind, credit_top_up
from ..money import Money, check_amount_range
from ._amounts import amount_values, join, read_amount, sum_request_amounts
from ._errors import Conflict, NotFound
from ._ledger import post_entries
from ._repo import ensure_customer
from ..metering import STATUS_PENDING
from ._schema import account_balances, api_keys, budget_windows, budgets, customers, usage_records
from ._sql import insert_ignore
from ._engine import writing


def _customer_row(connection: Connection, name: str, lock: bool = False):
    query = select(customers).where(customers.c.name == name)
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        raise NotFound(f"no customer named {name!r}")
    return row


def _fix_currency(connection: Connection, row, currency: str) -> None:
    if row.currency is None:
        connection.execute(update(customers).where(customers.c.customer_id == row.customer_id).values(currency=currency))
    elif row.currency != currency:
        raise Conflict(f"customer {row.name!r} is billed in {row.currency}, not {currency}")


def add_credit(engine: Engine, customer: str, amount_nanos: int, currency: str, now_us: int) -> str:
    """Prepaid credit: one ledger entry, cash → customer_credit. Returns the entry id."""
    if amount_nanos <= 0:
        raise BillingError("a credit amount must be positive")
    with writing(engine) as connection:
        ensure_customer(connection, customer, now_us)
        row = _customer_row(connection, customer, lock=True)
        _fix_currency(connection, row, currency)
        entry = credit_top_up(new_id("top"), datetime_of_us(now_us), customer=row.customer_id, amount=Money(amount_nanos, currency))
        post_entries(connection, [entry])
        return entry.entry_id


def set_credit_limit(engine: Engine, customer: str, limit_nanos: int, currency: str, now_us: int) -> None:
    """Make a customer postpaid with a credit limit (0 stops new spending)."""
    if limit_nanos < 0:
        raise BillingError("a credit limit cannot be negative")
    with writing(engine) as connection:
        ensure_customer(connection, customer, now_us)
        row = _customer_row(connection, customer, lock=True)
        _fix_currency(connection, row, currency)
        connection.execute(
            update(customers).where(customers.c.customer_id == row.customer_id)
            .values(billing_mode=BILLING_POSTPAID, **amount_values("credit_limit", check_amount_range(limit_nanos)))
        )


def funding_of(row, balances: dict[tuple[str, str, str], int], held: dict[tuple[str, str], int]) -> Funding:
    """A customer's funding from its row, its account balances and its holds."""
    kind = AccountKind.CUSTOMER_RECEIVABLE if row.billing_mode == BILLING_POSTPAID else AccountKind.CUSTOMER_CREDIT
    balance = balances.get((row.customer_id, str(kind), row.currency), 0) if row.currency else 0
    return Funding(
        row.customer_id, row.name, row.billing_mode, row.currency, balance, read_amount(row, "credit_limit"),
        held.get((row.customer_id, row.currency), 0),
    )


def read_funding(connection: Connection, customer_id: str) -> Funding | None:
    row = connection.execute(select(customers).where(customers.c.customer_id == customer_id)).first()
    if row is None:
        return None
    balances = {
        (r.owner, r.kind, r.currency): join(r.units, r.nanos)
        for r in connection.execute(select(account_balances).where(account_balances.c.owner == customer_id))
    }
    held = connection.execute(
        select(*sum_request_amounts(usage_records.c.reserved_nanos))
        .where(usage_records.c.customer_id == customer_id, usage_records.c.status == STATUS_PENDING,
               usage_records.c.currency == row.currency)
    ).one()
    return funding_of(row, balances, {(customer_id, row.currency): join(*held)})


@dataclass(frozen=True, slots=True)
class Balance:
    customer: str
    customer_id: str
    billing_mode: str
    currency: str | None
    available_nanos: int
    reserved_nanos: int
    credit_limit_nanos: int | None
    spent_nanos: int


def customer_balance(engine: Engine, customer: str) -> Balance:
    with engine.connect() as connection:
        row = _customer_row(connection, customer)
        funding = read_funding(connection, row.customer_id)
        currency = row.currency
        # Holds posted to the ledger (a message's quoted price until delivered or failed,
        # issue 14) sit in customer_reserved (credit-positive), not on usage records.
        posted = connection.execute(select(account_balances).where(
            account_balances.c.owner == row.customer_id, account_balances.c.kind == str(AccountKind.CUSTOMER_RESERVED),
            account_balances.c.currency == currency)).first() if currency else None
        spent = join(*connection.execute(
            select(*sum_request_amounts(usage_records.c.charge_nanos))
            .where(usage_records.c.customer_id == row.customer_id, usage_records.c.currency == currency)
        ).one()) if currency else 0
    return Balance(
        row.name, row.customer_id, row.billing_mode, currency, max(funding.available_nanos, 0) if currency else 0,
        funding.held_nanos - (join(posted.units, posted.nanos) if posted else 0), read_amount(row, "credit_limit"), spent,
    )


def set_budget(engine: Engine, customer: str, key_id: str | None, period: str, limit_nanos: int, currency: str, now_us: int) -> str:
    if period not in BUDGET_PERIODS:
        raise BillingError(f"unknown budget period {period!r}: use one of {', '.join(BUDGET_PERIODS)}")
    if limit_nanos < 0:
        raise BillingError("a budget cannot be negative")
    with writing(engine) as connection:
        row = _customer_row(connection, customer)
        if key_id:
            owner = connection.execute(select(api_keys.c.customer_id).where(api_keys.c.key_id == key_id)).scalar()
            if owner != row.customer_id:
                raise NotFound(f"customer {customer!r} has no key {key_id}")
        scope = (budgets.c.customer_id == row.customer_id, budgets.c.key_id == (key_id or ""), budgets.c.period == period)
        existing = connection.execute(select(budgets.c.budget_id).where(*scope)).scalar()
        if existing:
            connection.execute(update(budgets).where(*scope).values(**amount_values("limit", limit_nanos), currency=currency))
            budget_id = existing
        else:
            budget_id = new_id("bud")
            connection.execute(budgets.insert().values(
                budget_id=budget_id, customer_id=row.customer_id, key_id=key_id or "", period=period,
                currency=currency, **amount_values("limit", limit_nanos), created_us=now_us,
            ))
        # Created mid-window, the budget counts what was already spent in the window.
        open_windows(connection, connection.execute(select(budgets).where(budgets.c.budget_id == budget_id)).all(), now_us)
        return budget_id


def list_budgets(engine: Engine, now_us: int) -> list[dict]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(budgets, customers.c.name).join(customers, customers.c.customer_id == budgets.c.customer_id)
            .order_by(customers.c.name, budgets.c.key_id, budgets.c.period)
        ).all()
        out = []
        for row in rows:
            start = window_start_us(row.period, now_us)
            window = connection.execute(
                select(budget_windows).where(budget_windows.c.budget_id == row.budget_id, budget_windows.c.window_start_us == start)
            ).first()
            out.append({
                "budget_id": row.budget_id, "customer": row.name, "key_id": row.key_id or None, "period": row.period,
                "currency": row.currency, "limit_nanos": read_amount(row, "limit"), "window_start_us": start,
                "spent_nanos": read_amount(window, "spent") if window else 0,
                "reserved_nanos": read_amount(window, "reserved") if window else 0,
            })
        return out


def _spent_in_window(connection: Connection, budget, time_us: int) -> int:
    """What the budget's customer (or key) was charged in the window holding `time_us`, in
    the budget's currency: a window opened mid-way counts what was spent before it opened."""
    start_us, end_us = budget_window_bounds_us(budget.period, time_us)
    where = [usage_records.c.customer_id == budget.customer_id, usage_records.c.currency == budget.currency,
             usage_records.c.charge_nanos.is_not(None), usage_records.c.time_us >= start_us]
    if end_us is not None:
        where.append(usage_records.c.time_us < end_us)
    if budget.key_id:
        where.append(usage_records.c.key_id == budget.key_id)
    return join(*connection.execute(select(*sum_request_amounts(usage_records.c.charge_nanos)).where(*where)).one())


def open_windows(connection: Connection, budget_rows, time_us: int) -> None:
    """Create the window holding `time_us` of each budget that has none yet, with what was
    already spent in it (see `_spent_in_window`). One read when every window exists."""
    keys = {row.budget_id: window_start_us(row.period, time_us) for row in budget_rows}
    if not keys:
        return
    present = set(connection.execute(
        select(budget_windows.c.budget_id, budget_windows.c.window_start_us)
        .where(budget_windows.c.budget_id.in_(sorted(keys)))
    ).tuples())
    missing = [row for row in budget_rows if (row.budget_id, keys[row.budget_id]) not in present]
    insert_ignore(
        connection, budget_windows,
        [{"budget_id": row.budget_id, "window_start_us": keys[row.budget_id],
          **amount_values("spent", _spent_in_window(connection, row, time_us)), **amount_values("reserved", 0)}
         for row in sorted(missing, key=lambda r: r.budget_id)],
        ("budget_id", "window_start_us"),
    )
