"""Read-only queries behind the dashboard: usage grouped by day, the fees of the periods
in a window, the customers who spend most, customer credit and receivables, a licensor's
statements, a preview of every unsettled period's statements, and each statement's
verification state.

Every function here reads; nothing writes. Grouping happens in SQL (one scan per panel);
the dashboard folds days into weeks and months and formats money (``revstream.dashboard``).
Fees are what settlement settles, read with settlement's own code: a closed (or closing)
period's fees as its close stored them, an open period's as its close would store them now
(``_fees.computed_fees``), each attributed to models by ``settlement.attribute_fees``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final, Iterable

import orjson
from sqlalchemy import Engine, and_, func, select

from ..ledger import AccountKind, normal_balance_nanos
from ..metering import STATUS_PENDING
from ..money import NANOS_PER_UNIT
from ..settlement import attribute_fees
from ._amounts import join, sum_request_amounts
from ._fees import FEE_KIND_MINIMUM, computed_fees, period_fees, plan_tokens
from ._plans import plans_by_id
from ._schema import (
    account_balances,
    audited_statements,
    customers,
    licensors,
    period_closes,
    subscriptions,
    usage_records,
)
from ._settlement import STREAM_API, StoredStatement, _compute, _shift, list_statements, period_of_us

MICROSECONDS_PER_DAY: Final = 86_400_000_000
# Unsettled periods `open_periods` lists at most: a century of months (listing is cheap;
# the dashboard previews fewer, see `dashboard._api.PREVIEW_PERIODS_MAX`).
UNSETTLED_PERIODS_MAX: Final = 1200
TOP_CUSTOMERS_MAX: Final = 100
# Customer ids per IN (...) list (SQLite allows 32,766 parameters; PostgreSQL 65,535).
CUSTOMER_IDS_PER_QUERY: Final = 500
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
class FeeRevenue:
    """The part of one fee (a subscription fee for the time a plan was held, a commit plan's
    minimum top-up) attributed to one model, earned evenly over ``[from_us, to_us)``.

    ``settled``: stored by its period's close; otherwise what an open period's close would
    store now. ``model`` None: the one case settlement leaves unattributed (a plan that
    served nothing, open to every model, on a host that prices none)."""

    period: str
    settled: bool
    stream: str
    model: str | None
    currency: str
    customer_id: str
    customer: str
    plan: str  # the plan's name
    fee_kind: str  # "subscription" or "minimum"
    from_us: int
    to_us: int
    amount_exact: Fraction  # nanos

    @property
    def label(self) -> str:
        return f"{self.plan} {'minimum top-up' if self.fee_kind == FEE_KIND_MINIMUM else 'fee'}"


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


def _final_between(since_us: int, until_us: int) -> tuple:
    return (usage_records.c.status != STATUS_PENDING, usage_records.c.time_us >= since_us,
            usage_records.c.time_us < until_us)


def _leading_customers(connection, since_us: int, until_us: int, limit: int) -> set[str]:
    """The ``limit`` customers who spent most in each currency of the window, and the
    ``limit`` with most requests (unpriced usage ranks by requests)."""
    window = _final_between(since_us, until_us)
    spent_units, spent_nanos = sum_request_amounts(usage_records.c.charge_nanos)
    # For the order only (SQLite may round a sum beyond 2^63 to a float here); the
    # amounts themselves are read exact from the two sums.
    spent = spent_units * NANOS_PER_UNIT + spent_nanos
    currencies = connection.execute(select(usage_records.c.currency).where(
        *window, usage_records.c.currency.is_not(None)).distinct()).scalars().all()
    leading: set[str] = set(connection.execute(
        select(usage_records.c.customer_id).where(*window).group_by(usage_records.c.customer_id)
        .order_by(func.count().desc(), usage_records.c.customer_id).limit(limit)).scalars())
    for currency in currencies:
        leading.update(connection.execute(
            select(usage_records.c.customer_id).where(*window, usage_records.c.currency == currency)
            .group_by(usage_records.c.customer_id).order_by(spent.desc(), usage_records.c.customer_id).limit(limit)
        ).scalars())
    return leading


def top_customers(engine: Engine, since_us: int, until_us: int, limit: int,
                  also_customer_ids: Iterable[str] = ()) -> list[CustomerSpend]:
    """Final usage in [since, until) per customer and currency (None: unpriced) of every
    customer who may rank among the ``limit`` who spent most: the ``limit`` leading ones
    by spend in each currency and by requests, and ``also_customer_ids`` (those who paid
    fees in the window). All of each such customer's rows, so its figures are whole; the
    dashboard adds the fees and ranks (``revstream.dashboard``)."""
    limit = min(limit, TOP_CUSTOMERS_MAX)
    tokens = func.sum(usage_records.c.tokens_prompt + usage_records.c.tokens_completion)
    rows = []
    with engine.connect() as connection:
        ids = sorted(_leading_customers(connection, since_us, until_us, limit) | set(also_customer_ids))
        for first in range(0, len(ids), CUSTOMER_IDS_PER_QUERY):
            rows += connection.execute(
                select(customers.c.name, usage_records.c.customer_id, usage_records.c.currency, func.count(), tokens,
                       *sum_request_amounts(usage_records.c.charge_nanos))
                .join(customers, customers.c.customer_id == usage_records.c.customer_id)
                .where(*_final_between(since_us, until_us),
                       usage_records.c.customer_id.in_(ids[first:first + CUSTOMER_IDS_PER_QUERY]))
                .group_by(customers.c.name, usage_records.c.customer_id, usage_records.c.currency)
            ).all()
    return sorted((CustomerSpend(r[0], r[1], r[2], int(r[3]), int(r[4] or 0), join(r[5], r[6])) for r in rows),
                  key=lambda spend: (spend.customer, spend.currency or ""))


def _periods_between(since_us: int, until_us: int, now_us: int) -> list[str]:
    """The periods overlapping [since, until) that have begun by ``now_us``."""
    if until_us <= since_us:
        return []
    last = min(period_of_us(until_us - 1), period_of_us(now_us))
    periods, period = [], period_of_us(since_us)
    while period <= last:
        periods.append(period)
        period = _shift(period, 1)
    return periods


def fee_revenue(engine: Engine, since_us: int, until_us: int, now_us: int,
                customer_id: str | None = None) -> list[FeeRevenue]:
    """The fees of every period overlapping [since, until) that has begun (a closed or
    closing period's as its close stored them, an open one's as its close would store
    them now), one row per fee and model it is attributed to, by settlement's rule;
    only those whose interval overlaps the window (the caller takes the part inside)."""
    rows = []
    with engine.connect() as connection:
        periods = _periods_between(since_us, until_us, now_us)
        closing = set(connection.execute(select(period_closes.c.period).where(period_closes.c.period.in_(periods)))
                      .scalars()) if periods else set()
        for period in periods:
            entries = period_fees(connection, period) if period in closing else computed_fees(connection, period)
            tokens = plan_tokens(connection, period, [entry.plan for entry in entries])
            for entry in entries:
                if (customer_id is not None and entry.customer != customer_id) or entry.to_us <= since_us \
                        or entry.from_us >= until_us:
                    continue
                shares = attribute_fees([entry], tokens)  # the rule is per fee: one at a time keeps the customer
                for model, amount in ([(share.model, share.amount_exact) for share in shares]
                                      or [(None, entry.amount_exact)]):
                    rows.append((period, period in closing, entry, model, amount))
        plan_names = {plan_id: plan.name for plan_id, plan in plans_by_id(connection, [row[2].plan for row in rows]).items()}
        names = _customer_names(connection, {row[2].customer for row in rows})
    return [FeeRevenue(period, settled, entry.stream, model, entry.currency, entry.customer,
                       names.get(entry.customer, entry.customer), plan_names.get(entry.plan, entry.plan),
                       entry.fee_kind, entry.from_us, entry.to_us, amount)
            for period, settled, entry, model, amount in rows]


def _customer_names(connection, customer_ids: set[str]) -> dict[str, str]:
    ids, names = sorted(customer_ids), {}
    for first in range(0, len(ids), CUSTOMER_IDS_PER_QUERY):
        names.update(connection.execute(select(customers.c.customer_id, customers.c.name).where(
            customers.c.customer_id.in_(ids[first:first + CUSTOMER_IDS_PER_QUERY]))).all())
    return names


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
    """Every period not closed yet, up to the current one, oldest first: from the one after
    the latest close, or (before any close) from the first period with usage or with a
    subscription (its fee is owed too). At most UNSETTLED_PERIODS_MAX, the oldest kept."""
    current = period_of_us(now_us)
    with engine.connect() as connection:
        latest = connection.execute(
            select(func.max(period_closes.c.period)).where(period_closes.c.state == "closed")).scalar()
        earliest = [connection.execute(select(func.min(usage_records.c.time_us))).scalar(),
                    connection.execute(select(func.min(subscriptions.c.started_us))).scalar()]
    starts = [period_of_us(time_us) for time_us in earliest if time_us is not None]
    first = _shift(latest, 1) if latest else min(starts, default=current)
    periods, period = [], first
    while period <= current and len(periods) < UNSETTLED_PERIODS_MAX:
        periods.append(period)
        period = _shift(period, 1)
    return periods


def preview_statements(engine: Engine, period: str) -> list[dict]:
    """The statements of ``period`` as if it closed now: computed by settlement's own code,
    read only, never stored or posted. Pending records are not in it yet."""
    return [orjson.loads(draft.body) for draft in _compute(engine, period)]
