"""Read-only queries behind the dashboard: usage grouped by day, the customers who spend
most, customer credit and receivables, a licensor's statements, a preview of the open
periods' statements, and each statement's verification state.

Every function here reads; nothing writes. Grouping happens in SQL (one scan per panel);
the dashboard folds days into weeks and months and formats money (``revstream.dashboard``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import orjson
from sqlalchemy import Engine, and_, func, select

from ..ledger import AccountKind, normal_balance_nanos
from ..metering import STATUS_PENDING
from ..money import NANOS_PER_UNIT
from ._amounts import join, sum_request_amounts
from ._schema import account_balances, audited_statements, customers, licensors, period_closes, usage_records
from ._settlement import STREAM_API, StoredStatement, _compute, _shift, list_statements, period_of_us

MICROSECONDS_PER_DAY: Final = 86_400_000_000
# The open periods a preview computes at most (the current one and unsettled ones before it).
PREVIEW_PERIODS_MAX: Final = 3
TOP_CUSTOMERS_MAX: Final = 100
_CUSTOMER_KINDS: Final = (str(AccountKind.CUSTOMER_CREDIT), str(AccountKind.CUSTOMER_RECEIVABLE))


@dataclass(frozen=True, slots=True)
class DayUsage:
    """Final usage of one model and stream on one UTC day, in one currency (None: unpriced)."""

    day: int  # days since 1970-01-01
    stream: str
    model: str
    currency: str | None
    requests: int
    tokens_prompt: int
    tokens_completion: int
    charge_nanos: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class CustomerSpend:
    customer: str
    customer_id: str
    currency: str | None
    requests: int
    tokens: int
    charge_nanos: int


@dataclass(frozen=True, slots=True)
class CustomerAccount:
    """A customer's prepaid credit (kind ``customer_credit``) or what it owes (``customer_receivable``),
    as its owner reads it: positive when the account holds its normal side."""

    customer: str
    customer_id: str
    billing_mode: str
    kind: str
    currency: str
    balance_nanos: int
    credit_limit_nanos: int | None


@dataclass(frozen=True, slots=True)
class VerificationState:
    """What `revstream verify` last said of a statement: ``verified``, ``failed`` (with the
    reason) or ``not_checked``."""

    state: str
    reason: str | None = None

    @property
    def text(self) -> str:
        if self.state == "failed":
            return f"failed: {self.reason}"
        return "not yet checked" if self.state == "not_checked" else self.state


NOT_CHECKED: Final = VerificationState("not_checked")


def _stream_column():
    """The usage record's stream, when the store has the column (plans add it); else None
    and every record is API access."""
    return usage_records.c.get("stream")


def usage_by_day(engine: Engine, since_us: int, until_us: int, customer_id: str | None = None) -> list[DayUsage]:
    """Final usage in [since, until), one row per day, stream, model and currency."""
    day = (usage_records.c.time_us // MICROSECONDS_PER_DAY).label("day")
    stream = _stream_column()
    keys = [day, usage_records.c.model, usage_records.c.currency] + ([stream] if stream is not None else [])
    where = [usage_records.c.status != STATUS_PENDING, usage_records.c.time_us >= since_us,
             usage_records.c.time_us < until_us]
    if customer_id is not None:
        where.append(usage_records.c.customer_id == customer_id)
    query = select(
        *keys, func.count(), func.sum(usage_records.c.tokens_prompt), func.sum(usage_records.c.tokens_completion),
        *sum_request_amounts(usage_records.c.charge_nanos), func.sum(usage_records.c.duration_ms),
    ).where(*where).group_by(*keys).order_by(day, usage_records.c.model)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        DayUsage(int(row[0]), (row[3] if stream is not None else None) or STREAM_API, row[1], row[2],
                 int(row[-6]), int(row[-5] or 0), int(row[-4] or 0), join(row[-3], row[-2]), int(row[-1] or 0))
        for row in rows
    ]


def top_customers(engine: Engine, since_us: int, until_us: int, limit: int) -> list[CustomerSpend]:
    """The customers who spent most in [since, until), per currency, most first."""
    spent_units, spent_nanos = sum_request_amounts(usage_records.c.charge_nanos)
    # For the order only (SQLite may round a sum beyond 2^63 to a float here); the
    # amounts themselves are read exact from the two sums.
    spent = spent_units * NANOS_PER_UNIT + spent_nanos
    tokens = func.sum(usage_records.c.tokens_prompt + usage_records.c.tokens_completion)
    query = (
        select(customers.c.name, usage_records.c.customer_id, usage_records.c.currency, func.count(), tokens,
               spent_units, spent_nanos)
        .join(customers, customers.c.customer_id == usage_records.c.customer_id)
        .where(usage_records.c.status != STATUS_PENDING, usage_records.c.time_us >= since_us,
               usage_records.c.time_us < until_us)
        .group_by(customers.c.name, usage_records.c.customer_id, usage_records.c.currency)
        .order_by(spent.desc(), func.count().desc(), customers.c.name)
        .limit(min(limit, TOP_CUSTOMERS_MAX))
    )
    with engine.connect() as connection:
        return [CustomerSpend(r[0], r[1], r[2], int(r[3]), int(r[4] or 0), join(r[5], r[6])) for r in connection.execute(query)]


def customer_accounts(engine: Engine) -> list[CustomerAccount]:
    """Every customer's prepaid credit or receivable balance, from the ledger's balances."""
    query = (
        select(customers.c.name, customers.c.customer_id, customers.c.billing_mode, account_balances.c.kind,
               account_balances.c.currency, account_balances.c.units, account_balances.c.nanos,
               customers.c.credit_limit_units, customers.c.credit_limit_nanos)
        .join(account_balances, and_(account_balances.c.owner == customers.c.customer_id,
                                     account_balances.c.kind.in_(_CUSTOMER_KINDS)))
        .order_by(customers.c.name, account_balances.c.kind, account_balances.c.currency)
    )
    with engine.connect() as connection:
        return [CustomerAccount(r[0], r[1], r[2], r[3], r[4], normal_balance_nanos(r[3], join(r[5], r[6])),
                                join(r[7], r[8])) for r in connection.execute(query)]


def licensor_name(engine: Engine, licensor_id: str) -> str | None:
    with engine.connect() as connection:
        return connection.execute(select(licensors.c.name).where(licensors.c.licensor_id == licensor_id)).scalar()


def statements_of(engine: Engine, licensor_id: str | None = None) -> list[StoredStatement]:
    """Stored statements, every licensor's or one's, by period; each re-checked as it is read.
    (A host holds one statement per agreement and month: reading them all is cheap.)"""
    return [stored for stored in list_statements(engine) if licensor_id in (None, stored.licensor_id)]


def verification_states(engine: Engine, statement_ids: list[str]) -> dict[str, VerificationState]:
    """Each statement's verification state as `revstream verify` last recorded it in this
    install's store (`audited_statements`); "not yet checked" when it has not run here."""
    if not statement_ids:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(
            select(audited_statements.c.statement_id, audited_statements.c.state, audited_statements.c.reason)
            .where(audited_statements.c.statement_id.in_(statement_ids))
            .order_by(audited_statements.c.checked_us)
        ).all()
    found = {statement_id: VerificationState(state, reason) for statement_id, state, reason in rows}
    return {statement_id: found.get(statement_id, NOT_CHECKED) for statement_id in statement_ids}


def open_periods(engine: Engine, now_us: int) -> list[str]:
    """The periods not closed yet, up to the current one: at most PREVIEW_PERIODS_MAX, latest last."""
    current = period_of_us(now_us)
    with engine.connect() as connection:
        latest = connection.execute(
            select(func.max(period_closes.c.period)).where(period_closes.c.state == "closed")).scalar()
        earliest_us = connection.execute(select(func.min(usage_records.c.time_us))).scalar()
    first = _shift(latest, 1) if latest else (period_of_us(earliest_us) if earliest_us is not None else current)
    periods = []
    period = current
    while period >= first and len(periods) < PREVIEW_PERIODS_MAX:
        periods.append(period)
        period = _shift(period, -1)
    return periods[::-1]


def preview_statements(engine: Engine, period: str) -> list[dict]:
    """The statements of ``period`` as if it closed now: computed by settlement's own code,
    read only, never stored or posted. Pending records are not in it yet."""
    return [orjson.loads(draft.body) for draft in _compute(engine, period)]
