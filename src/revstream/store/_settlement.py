"""Settle a period: aggregate its final usage, compute each agreement's statement with the
pure core (``revstream.settlement.compute_statement``), post the ledger entries and store
the statements, in the same transaction.

A period is a calendar month, UTC, settled only once it has ended, and periods close in
order (the first one after the earliest usage). A close runs in three transactions, so a
long aggregation never holds the write lock the live gateway needs:

1. **begin** (short, write lock): record the period as ``closing``; flag the period's
   records still pending as late (``late_period``); claim the late records of earlier
   periods that have become final since (``settled_period`` = this period). From here on
   the set of records the close settles is fixed, whatever the gateway or an import does:
   a record finalised later is flagged late, and an import into a closing or closed
   period flags its records late (it takes the same lock per batch).
2. **compute** (read only): one grouped scan of the period, SUM and COUNT per model and
   price interval in SQL; exact integer and Fraction arithmetic in Python.
3. **finish** (short, write lock): statements, ledger entries, the period ``closed``.

A crash between 1 and 3 leaves the period ``closing``; settling it again resumes at 2,
which reads the same records. Settling a closed period returns the stored statements,
byte for byte, and posts nothing.

Ledger, per statement: the share moves from host revenue to the licensor's payable
(``accrue_licensor_share``); the rounding to the minor unit moves ``residue - carry_in``
between the licensor's payable and the host's rounding account. So the payable always
holds exactly the minor amounts of the statements, and the rounding account holds the
residue carried into the next period: no money is created or lost.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from typing import Final

from sqlalchemy import Connection, Engine, case, func, insert, literal, select, update

from ..ledger import Account, AccountKind, accrue_licensor_share, rounding_adjustment
from ..metering import STATUS_PENDING, rfc3339
from ..money import Money
from ..plans import Plan
from ..pricing import PriceSchedule
from ..settlement import Adjustment, Agreement, PeriodError, Statement, UsageLine, compute_statement, parse_period
from ._agreements import AgreementRow, _agreement_rows, agreement_terms
from ._errors import NotFound, StoreError
from ._ledger import post_entries
from ._prices import load_prices
from ._plans import plans_by_id
from ._streams import STREAM_API, STREAM_GROSS, STREAM_SUBSCRIPTION, fee_shares
from ._schema import period_closes, statements, usage_records
from ._statement_json import checked_statement, statement_bytes, statement_id_of, statement_json
from ._engine import writing

HOST_OWNER = "host"
CLOSING, CLOSED = "closing", "closed"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class StoredStatement:
    statement_id: str
    agreement_id: str
    period: str
    licensor_id: str
    currency: str
    body: bytes
    share_total_minor: int
    residue_nanos: int
    created_us: int

    def json(self) -> dict:
        """The statement's JSON, re-checked against every invariant."""
        return checked_statement(self.body, self.share_total_minor, self.residue_nanos)[0]


def _day_us(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400_000_000


def period_bounds_us(period: str) -> tuple[int, int]:
    """[start, end) of a period in epoch microseconds."""
    first, last = parse_period(period)
    return _day_us(first), _day_us(last + timedelta(days=1))


def period_of_us(time_us: int) -> str:
    moment = _EPOCH + timedelta(microseconds=time_us)
    return f"{moment.year:04d}-{moment.month:02d}"


def _shift(period: str, months: int) -> str:
    first, _ = parse_period(period)
    index = first.year * 12 + first.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _lock_closes(connection: Connection) -> None:
    """Serialise period closes with import batches (SQLite: BEGIN IMMEDIATE does it)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE period_closes IN EXCLUSIVE MODE")


# --- 1. begin -----------------------------------------------------------------------------

def _check_order(connection: Connection, period: str, start_us: int) -> None:
    latest = connection.execute(
        select(period_closes.c.period, period_closes.c.state).order_by(period_closes.c.period.desc()).limit(1)
    ).first()
    if latest is None:
        earliest_us = connection.execute(
            select(func.min(usage_records.c.time_us)).where(usage_records.c.time_us < start_us)
        ).scalar()
        if earliest_us is not None:
            first = period_of_us(earliest_us)
            raise PeriodError(f"usage from {first} is not settled yet: settle {first} first (periods close in order)")
        return
    if latest.period > period:
        raise PeriodError(f"period {latest.period} is already closed: periods close in order, {period} cannot follow it")
    if latest.state != CLOSED:
        raise PeriodError(f"the close of {latest.period} was interrupted: settle {latest.period} again first")
    if _shift(latest.period, 1) != period:
        raise PeriodError(f"settle {_shift(latest.period, 1)} first: periods close in order")


def _begin_close(engine: Engine, period: str, now_us: int) -> None:
    start_us, end_us = period_bounds_us(period)
    with writing(engine) as connection:
        _lock_closes(connection)
        if connection.execute(select(period_closes.c.state).where(period_closes.c.period == period)).scalar():
            return  # another settle began it; compute and finish resume it
        _check_order(connection, period, start_us)
        connection.execute(insert(period_closes).values(period=period, state=CLOSING, started_us=now_us))
        connection.execute(
            update(usage_records)
            .where(usage_records.c.time_us >= start_us, usage_records.c.time_us < end_us,
                   usage_records.c.status == STATUS_PENDING, usage_records.c.late_period.is_(None))
            .values(late_period=period)
        )
        connection.execute(
            update(usage_records)
            .where(usage_records.c.late_period.is_not(None), usage_records.c.settled_period.is_(None),
                   usage_records.c.late_period < period, usage_records.c.status != STATUS_PENDING)
            .values(settled_period=period)
        )


# --- 2. compute ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Group:
    """Usage of one model in one interval where its price and its agreement are constant."""

    model: str
    period: str
    first_us: int
    requests: int
    tokens_prompt: int
    tokens_completion: int
    # The stream and plan of the usage (see `revstream.plans`); subscription fees come as
    # groups of their own with no usage and their exact share of the fee.
    stream: str = STREAM_API
    plan: Plan | None = None
    tokens_included: int = 0
    charge_nanos: int = 0
    prepaid_nanos: int = 0
    fee_exact: Fraction = Fraction(0)


def _boundaries(schedule: PriceSchedule, rows: list[AgreementRow], models: set[str]) -> list[int]:
    """Every time at which a price or an agreement of these models starts or ends."""
    times = {
        int((price.effective_from_utc - _EPOCH) / timedelta(microseconds=1))
        for price in schedule.prices if price.model in models
    }
    for row in rows:
        times.add(_day_us(row.agreement.effective_from))
        if row.agreement.effective_to is not None:
            times.add(_day_us(row.agreement.effective_to + timedelta(days=1)))
    return sorted(times)


def _aggregate(connection: Connection, models: list[str] | None, boundaries: list[int], where, late: bool) -> list[_Group]:
    """SUM and COUNT per model, stream, plan and interval in SQL: the one scan of the
    period's records (`models` None: every model)."""
    time, records = usage_records.c.time_us, usage_records.c
    bucket = case(*[(time < b, index) for index, b in enumerate(boundaries)], else_=len(boundaries)) if boundaries else literal(0)
    period_column = records.late_period if late else literal("")
    prepaid = case((records.funding_kind == str(AccountKind.CUSTOMER_CREDIT), records.charge_nanos), else_=0)
    keys = (records.model, period_column.label("period"), bucket.label("bucket"), records.stream, records.plan_id)
    query = (
        select(*keys, func.min(time), func.count(), func.sum(records.tokens_prompt), func.sum(records.tokens_completion),
               func.sum(records.tokens_included), func.sum(records.charge_nanos), func.sum(prepaid))
        .where(*([records.model.in_(models)] if models is not None else []), *where)
        .group_by(records.model, period_column, bucket, records.stream, records.plan_id)
    )
    rows = connection.execute(query).all()
    plans = plans_by_id(connection, [row[4] for row in rows if row[4]])
    return [
        _Group(row[0], row[1], int(row[5]), int(row[6]), int(row[7] or 0), int(row[8] or 0), row[3],
               plans.get(row[4]) if row[4] else None, int(row[9] or 0), int(row[10] or 0), int(row[11] or 0))
        for row in rows
    ]


def _fee_groups(connection: Connection, period: str) -> list[_Group]:
    """Subscription fees of `period` as groups of the `subscription` stream (see `fee_shares`)."""
    start_us = period_bounds_us(period)[0]
    return [_Group(model, "", start_us, 0, 0, 0, STREAM_SUBSCRIPTION, plan, fee_exact=fee)
            for model, plan, fee in fee_shares(connection, period, *period_bounds_us(period))]


def _in_force(agreement: Agreement, time_us: int) -> bool:
    if time_us < _day_us(agreement.effective_from):
        return False
    return agreement.effective_to is None or time_us < _day_us(agreement.effective_to + timedelta(days=1))


def _usage_lines(agreement: Agreement, groups: list[_Group], schedule: PriceSchedule) -> tuple[UsageLine, ...]:
    """One line per model and stream, gross exact: at the price of each interval (less a
    commit plan's discount) for `api`, fees plus overage for `subscription` (see STREAM_GROSS)."""
    totals: dict[tuple[str, str], list] = {}
    for group in groups:
        if group.model not in agreement.models or not _in_force(agreement, group.first_us):
            continue
        rate = STREAM_GROSS.get(group.stream)
        if rate is None:
            raise StoreError(f"no settlement rule for stream {group.stream!r}")
        price = schedule.price_at_us(group.model, group.first_us)
        gross = rate(group, price)
        currency = price.currency if group.stream == STREAM_API and price else group.plan.currency if group.plan else None
        if gross and currency != agreement.currency:
            raise StoreError(f"model {group.model!r} is priced in {currency}, agreement "
                             f"{agreement.agreement_id} settles in {agreement.currency}")
        total = totals.setdefault((group.model, group.stream), [0, 0, 0, Fraction(0)])
        for index, value in enumerate((group.requests, group.tokens_prompt, group.tokens_completion, gross)):
            total[index] += value
    return tuple(
        UsageLine(model, stream, t[0], t[1], t[2], t[3])
        for (model, stream), t in sorted(totals.items())
    )


def _stored_bodies(connection: Connection, agreement_id: str, before: str) -> list[dict]:
    rows = connection.execute(
        select(statements).where(statements.c.agreement_id == agreement_id, statements.c.period < before)
        .order_by(statements.c.period)
    ).all()
    return [checked_statement(row.body, row.share_total_minor, row.residue_nanos)[0] for row in rows]


def _prior_lines(bodies: list[dict], period: str) -> tuple[UsageLine, ...]:
    """What earlier statements settled of ``period``: its own lines and its adjustments."""
    merged: dict[tuple[str, str], list[int]] = {}
    for body in bodies:
        lines = body["lines"] if body["period"] == period else [
            line for line in body["adjustment_lines"] if line["period"] == period]
        for line in lines:
            total = merged.setdefault((line["model"], line["stream"]), [0, 0, 0, 0])
            for index, name in enumerate(("requests", "tokens_prompt", "tokens_completion", "gross_nanos")):
                total[index] += line[name]
    return tuple(UsageLine(m, s, t[0], t[1], t[2], Fraction(t[3])) for (m, s), t in sorted(merged.items()))


@dataclass(frozen=True, slots=True)
class _Draft:
    row: AgreementRow
    statement: Statement
    body: bytes


def _draft(connection, row: AgreementRow, period: str, groups, late_groups, schedule) -> _Draft:
    agreement = row.agreement
    start_us, end_us = period_bounds_us(period)
    bodies = _stored_bodies(connection, agreement.agreement_id, period)
    carry_in = bodies[-1]["residue_nanos"] if bodies else 0
    late_by_period: dict[str, list[_Group]] = defaultdict(list)
    for group in late_groups:
        late_by_period[group.period].append(group)
    adjustments = []
    for late_period in sorted(late_by_period):
        lines = _usage_lines(agreement, late_by_period[late_period], schedule)
        if lines and agreement.covers(late_period):
            adjustments.append(Adjustment(late_period, lines, _prior_lines(bodies, late_period)))
    lines = _usage_lines(agreement, groups, schedule)
    statement = compute_statement(agreement, period, lines, carry_in, tuple(adjustments))
    window_from = max(start_us, _day_us(agreement.effective_from))
    window_to = end_us if agreement.effective_to is None else min(end_us, _day_us(agreement.effective_to + timedelta(days=1)))
    usage = {"time_from": rfc3339(window_from), "time_before": rfc3339(window_to),
             "records": sum(line.requests for line in lines),
             "late_records": sum(line.requests for a in adjustments for line in a.lines)}
    body = statement_bytes(statement_json(statement, agreement_terms(agreement), usage))
    return _Draft(row, statement, body)


def _compute(engine: Engine, period: str) -> list[_Draft]:
    start_us, end_us = period_bounds_us(period)
    with engine.connect() as connection, connection.begin():
        rows = [row for row in _agreement_rows(connection) if row.agreement.covers(period)]
        if not rows:
            return []
        models = sorted({model for row in rows for model in row.agreement.models})
        schedule = load_prices(connection)
        boundaries = _boundaries(schedule, rows, set(models))
        inside = [b for b in boundaries if start_us < b < end_us]
        groups = _aggregate(connection, models, inside, (
            usage_records.c.time_us >= start_us, usage_records.c.time_us < end_us,
            usage_records.c.status != STATUS_PENDING, usage_records.c.late_period.is_(None),
        ), late=False)
        groups += _fee_groups(connection, period)
        late_groups = _aggregate(connection, models, boundaries, (usage_records.c.settled_period == period,), late=True)
        return [_draft(connection, row, period, groups, late_groups, schedule) for row in rows]


# --- 3. finish ----------------------------------------------------------------------------

def _entries(draft: _Draft, statement_id: str, now_us: int) -> list:
    stmt, licensor_id = draft.statement, draft.row.licensor_id
    moment = _EPOCH + timedelta(microseconds=now_us)
    entries = []
    if stmt.share_total_nanos > 0:
        entries.append(accrue_licensor_share(
            f"stl_{statement_id}_share", moment, host=HOST_OWNER, licensor=licensor_id,
            share=Money(stmt.share_total_nanos, stmt.currency)))
    delta = stmt.residue_nanos - stmt.carry_in_residue_nanos
    if delta:
        entries.append(rounding_adjustment(
            f"stl_{statement_id}_rounding", moment, account=Account(licensor_id, AccountKind.LICENSOR_PAYABLE),
            delta_nanos=delta, currency=stmt.currency, rounding_owner=HOST_OWNER,
            description=f"rounding of statement {statement_id}"))
    return entries


def _finish_close(engine: Engine, period: str, drafts: list[_Draft], now_us: int) -> None:
    with writing(engine) as connection:
        _lock_closes(connection)
        state = connection.execute(select(period_closes.c.state).where(period_closes.c.period == period)).scalar()
        if state == CLOSED:
            return  # another settle finished it first, with the same statements
        for draft in drafts:
            stmt = draft.statement
            statement_id = statement_id_of(stmt.agreement_id, period)
            connection.execute(insert(statements).values(
                statement_id=statement_id, agreement_id=stmt.agreement_id, period=period,
                licensor_id=draft.row.licensor_id, currency=stmt.currency, body=draft.body,
                share_total_minor=stmt.share_total_minor, residue_nanos=stmt.residue_nanos, created_us=now_us,
            ))
            post_entries(connection, _entries(draft, statement_id, now_us))
        connection.execute(update(period_closes).where(period_closes.c.period == period)
                           .values(state=CLOSED, closed_us=now_us))


def settle(engine: Engine, period: str, now_us: int) -> list[StoredStatement]:
    """Close ``period`` (see the module docstring) and return its statements."""
    start_us, end_us = period_bounds_us(period)
    if end_us > now_us:
        raise PeriodError(f"period {period} has not ended: it can be settled from {rfc3339(end_us)}")
    with engine.connect() as connection:
        state = connection.execute(select(period_closes.c.state).where(period_closes.c.period == period)).scalar()
    if state != CLOSED:
        _begin_close(engine, period, now_us)
        _finish_close(engine, period, _compute(engine, period), now_us)
    return list_statements(engine, period)


# --- reading ------------------------------------------------------------------------------

def _stored(row) -> StoredStatement:
    stored = StoredStatement(row.statement_id, row.agreement_id, row.period, row.licensor_id, row.currency,
                             bytes(row.body), row.share_total_minor, row.residue_nanos, row.created_us)
    checked_statement(stored.body, stored.share_total_minor, stored.residue_nanos)
    return stored


def list_statements(engine: Engine, period: str | None = None) -> list[StoredStatement]:
    """Stored statements (of one period, or all), each re-checked as it is read."""
    query = select(statements).order_by(statements.c.period, statements.c.agreement_id)
    if period is not None:
        query = query.where(statements.c.period == period)
    with engine.connect() as connection:
        return [_stored(row) for row in connection.execute(query)]


def get_statement(engine: Engine, statement_id: str) -> StoredStatement:
    with engine.connect() as connection:
        row = connection.execute(select(statements).where(statements.c.statement_id == statement_id)).first()
    if row is None:
        raise NotFound(f"no statement with id {statement_id}")
    return _stored(row)


def closed_periods(connection: Connection) -> set[str]:
    """Periods closed or closing: usage recorded into them now is late."""
    return set(connection.execute(select(period_closes.c.period)).scalars())


def lock_closes_shared(connection: Connection) -> None:
    """Taken by an import batch so it never overlaps the begin of a close (PostgreSQL;
    on SQLite the batch's BEGIN IMMEDIATE already excludes it)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE period_closes IN SHARE MODE")
