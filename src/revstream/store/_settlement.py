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
from dataclasses import dataclass, replace
from datetime import timedelta
from fractions import Fraction

from sqlalchemy import Connection, Engine, and_, case, func, insert, literal, or_, select, update

from ..ledger import Account, AccountKind, accrue_licensor_share, rounding_adjustment
from ..metering import STATUS_PENDING
from ..money import Money, parse_json_int
from ..periods import datetime_of_us, rfc3339
from ..plans import Plan
from ..pricing import PriceSchedule
from ..settlement import (
    STREAM_API,
    FeeShare,
    PeriodError,
    Statement,
    StatementInputs,
    UsageLine,
    UsageLineError,
    attribute_fees,
    checked_statement,
    contribute,
    draft_statement,
    statement_bytes,
    statement_id_of,
    usage_line_of_json,
)
from ..settlement import day_us as _day_us, period_bounds_us, period_of_us, shift_period as _shift
from .. import features  # noqa: F401  (every stream's contributor, as the verifier has them)
from ._agreements import AgreementRow, _agreement_rows
from ._amounts import join, sum_request_amounts
from ._errors import NotFound, StoreError
from ._fees import computed_fees, period_fees, plan_tokens, record_period_fees
from ._ledger import post_entries
from ._log_sources import mark_settled, positional_sources, prepare_close, settled_leaves
from ._log import LogIntegrityError, checkpoint_for_close, pseudonym_secret
from ._log_keys import log_origin, settled_base_size, sign_statement
from ._plans import plans_by_id
from ._prices import load_prices
from ._schema import fees, log_checkpoints, period_closes, statements, usage_records
from ._engine import writing

HOST_OWNER = "host"
CLOSING, CLOSED = "closing", "closed"


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
    # The statement as a signed note (None when it was closed without the log).
    signed_note: str | None = None

    def json(self) -> dict:
        """The statement's JSON, re-checked against every invariant."""
        return checked_statement(self.body, self.share_total_minor, self.residue_nanos)[0]


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


def _previous_log_size(connection: Connection, period: str) -> int:
    """The checkpoint size of the latest earlier close bound to the log, else the log's
    settled base (every leaf below it was settled before the log had a key)."""
    size = connection.execute(
        select(period_closes.c.log_size).where(period_closes.c.period < period, period_closes.c.log_size.is_not(None))
        .order_by(period_closes.c.period.desc()).limit(1)
    ).scalar()
    return settled_base_size(connection) if size is None else size


def _begin_close(engine: Engine, period: str, now_us: int) -> None:
    start_us, end_us = period_bounds_us(period)
    secret = pseudonym_secret(engine)
    with writing(engine) as connection:
        _lock_closes(connection)
        if connection.execute(select(period_closes.c.state).where(period_closes.c.period == period)).scalar():
            return  # another settle began it; compute and finish resume it
        _check_order(connection, period, start_us)
        # With a log key, the close is bound to a checkpoint: every final record is appended
        # first, and the period's records that are not leaves below it (still pending, or
        # final an instant too late) become late. A late record of an earlier period is
        # claimed only once it is a leaf, so a verifier finds this statement's adjustments
        # exactly between the previous close's checkpoint and this one's.
        # The period's fees are stored first, so the checkpoint below has them as leaves.
        record_period_fees(connection, period, now_us)
        prepare_close(connection, period, now_us)  # leaves a close makes (the month's `licence` leaf, issue 15)
        checkpoint = checkpoint_for_close(connection, secret, now_us)
        if checkpoint is None:
            not_settled_now, claimable = usage_records.c.status == STATUS_PENDING, usage_records.c.status != STATUS_PENDING
        else:
            not_settled_now, claimable = usage_records.c.log_index.is_(None), usage_records.c.log_index.is_not(None)
        connection.execute(insert(period_closes).values(
            period=period, state=CLOSING, started_us=now_us,
            log_size=None if checkpoint is None else checkpoint.size,
            log_previous_size=None if checkpoint is None else _previous_log_size(connection, period),
        ))
        connection.execute(
            update(usage_records)
            .where(usage_records.c.time_us >= start_us, usage_records.c.time_us < end_us,
                   not_settled_now, usage_records.c.late_period.is_(None))
            .values(late_period=period)
        )
        connection.execute(
            update(usage_records)
            .where(usage_records.c.late_period.is_not(None), usage_records.c.settled_period.is_(None),
                   usage_records.c.late_period < period, claimable)
            .values(settled_period=period)
        )
        mark_settled(connection, period, None if checkpoint is None else checkpoint.size)


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
    currency: str | None = None


def _boundaries(schedule: PriceSchedule, rows: list[AgreementRow], models: set[str]) -> list[int]:
    """Every time at which a price or an agreement of these models starts or ends."""
    times = {
        price.effective_from_us
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
               func.sum(records.tokens_included), *sum_request_amounts(records.charge_nanos),
               *sum_request_amounts(prepaid))
        .where(*([records.model.in_(models)] if models is not None else []), *where)
        .group_by(records.model, period_column, bucket, records.stream, records.plan_id)
    )
    rows = connection.execute(query).all()
    plans = plans_by_id(connection, [row[4] for row in rows if row[4]])
    return [
        _Group(row[0], row[1], int(row[5]), int(row[6]), int(row[7] or 0), int(row[8] or 0), row[3],
               plans.get(row[4]) if row[4] else None, int(row[9] or 0), join(row[10], row[11]), join(row[12], row[13]))
        for row in rows
    ]


def _fee_shares(connection: Connection, period: str) -> tuple[FeeShare, ...]:
    """The period's fees (stored by its close; for an open period, what they would be now),
    attributed to models by the rule a verifier applies too."""
    closing = connection.execute(select(period_closes.c.state).where(period_closes.c.period == period)).scalar()
    entries = period_fees(connection, period) if closing else computed_fees(connection, period)
    return attribute_fees(entries, plan_tokens(connection, period, [entry.plan for entry in entries]))


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
            prior = usage_line_of_json(line)
            total = merged.setdefault((prior.model, prior.stream), [0, 0, 0, 0])
            for index, value in enumerate((prior.requests, prior.tokens_prompt, prior.tokens_completion,
                                           int(prior.gross_exact))):
                total[index] += value
    return tuple(UsageLine(m, s, t[0], t[1], t[2], Fraction(t[3])) for (m, s), t in sorted(merged.items()))


@dataclass(frozen=True, slots=True)
class _Draft:
    row: AgreementRow
    statement: Statement
    body: bytes


def _draft(connection, row: AgreementRow, period: str, groups, late_groups, fees, schedule, log: dict | None,
           leaves: dict) -> _Draft:
    agreement = row.agreement
    bodies = _stored_bodies(connection, agreement.agreement_id, period)
    late_by_period: dict[str, list[_Group]] = defaultdict(list)
    for group in late_groups:
        late_by_period[group.period].append(group)
    inputs = StatementInputs(
        agreement, period, tuple(groups), {late: tuple(items) for late, items in late_by_period.items()},
        fees, schedule, parse_json_int(bodies[-1]["residue_nanos"]) if bodies else 0,
        {late: _prior_lines(bodies, late) for late in late_by_period}, log,
    )
    try:
        inputs = replace(inputs, contribution=contribute(agreement, period, leaves))
        statement, value = draft_statement(inputs)
    except UsageLineError as error:
        raise StoreError(str(error)) from error
    return _Draft(row, statement, statement_bytes(value))


def _log_section(connection: Connection, period: str) -> dict | None:
    """Where the close's records are in the transparency log, or None without a log key.

    Checks the binding: every record the close settles is a leaf below the checkpoint."""
    close = connection.execute(
        select(period_closes.c.log_size, period_closes.c.log_previous_size).where(period_closes.c.period == period)
    ).first()
    if close is None or close.log_size is None:  # a preview of an open period, or a close without a log
        return None
    start_us, end_us = period_bounds_us(period)
    settled = or_(
        and_(usage_records.c.time_us >= start_us, usage_records.c.time_us < end_us,
             usage_records.c.status != STATUS_PENDING, usage_records.c.late_period.is_(None)),
        usage_records.c.settled_period == period,
    )
    index = usage_records.c.log_index
    first, unbound = connection.execute(
        select(func.min(index), func.sum(case((or_(index.is_(None), index >= close.log_size), 1), else_=0)))
        .where(settled)
    ).one()
    if unbound:
        raise LogIntegrityError(f"{unbound} records settled in {period} are not leaves below its checkpoint "
                                f"of size {close.log_size}")
    fee_first, fee_unbound = connection.execute(
        select(func.min(fees.c.log_index),
               func.sum(case((or_(fees.c.log_index.is_(None), fees.c.log_index >= close.log_size), 1), else_=0)))
        .where(fees.c.period == period)
    ).one()
    if fee_unbound:
        raise LogIntegrityError(f"{fee_unbound} fees of {period} are not leaves below its checkpoint of size {close.log_size}")
    positional_first = [connection.execute(select(func.min(source.table.c.log_index))
                                           .where(source.table.c.settled_period == period)).scalar()
                        for source in positional_sources()]
    first = min((value for value in (first, fee_first, *positional_first) if value is not None), default=None)
    note = connection.execute(select(log_checkpoints.c.note).where(log_checkpoints.c.size == close.log_size)).scalar()
    if note is None:
        raise LogIntegrityError(f"the checkpoint of size {close.log_size} that closed {period} is missing")
    return {"origin": log_origin(connection), "checkpoint": note, "size": close.log_size,
            "previous_size": close.log_previous_size, "start": close.log_size if first is None else int(first)}


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
        late_groups = _aggregate(connection, models, boundaries, (usage_records.c.settled_period == period,), late=True)
        fees = _fee_shares(connection, period)
        log = _log_section(connection, period)
        closing = connection.execute(select(period_closes.c.state).where(period_closes.c.period == period)).scalar()
        leaves = settled_leaves(connection, period, pseudonym_secret(engine), open_period=closing is None)
        return [_draft(connection, row, period, groups, late_groups, fees, schedule, log, leaves) for row in rows]


# --- 3. finish ----------------------------------------------------------------------------

def _entries(draft: _Draft, statement_id: str, now_us: int) -> list:
    stmt, licensor_id = draft.statement, draft.row.licensor_id
    moment = datetime_of_us(now_us)
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
                signed_note=sign_statement(connection, draft.body),
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
                             bytes(row.body), row.share_total_minor, row.residue_nanos, row.created_us,
                             row.signed_note)
    checked_statement(stored.body, stored.share_total_minor, stored.residue_nanos)
    return stored


def list_statements(engine: Engine, period: str | None = None, licensor_id: str | None = None) -> list[StoredStatement]:
    """Stored statements (of one period and/or one licensor, or all), each re-checked as it is read."""
    query = select(statements).order_by(statements.c.period, statements.c.agreement_id)
    if period is not None:
        query = query.where(statements.c.period == period)
    if licensor_id is not None:
        query = query.where(statements.c.licensor_id == licensor_id)
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
