"""Bulk import of usage records (backfill, migration from another gateway).

One JSON object per line: ``request_id``, ``time`` (RFC 3339, with its offset),
``customer``, ``model``, ``tokens_prompt``, ``tokens_completion``, ``status`` (a final
status). The whole input is validated first: one malformed line rejects it whole, with
line numbers and reasons, unless ``skip_invalid``. Then records are written in batches
of ``import_batch_records_max``, each batch in one transaction:

- idempotent by ``request_id``: a record whose id is stored already is skipped;
- rated at the price in force at the record's time (any model with a price, served
  today or not) into ``charge_nanos``, rounded half-even to the nano as the gateway does;
- charges booked like postpaid gateway usage: one ledger entry per customer and currency
  per batch, customer receivable to host revenue, named by each record;
- a record whose period is closed (or closing) is flagged late, to be settled by the next
  close as an adjustment (see ``_settlement``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Final, Iterable, Iterator

import orjson
from sqlalchemy import Connection, Engine, select

from ..ledger import AccountKind, settle_usage
from ..metering import FINAL_STATUSES
from ..money import Money
from ..periods import datetime_of_us, us_of_datetime
from ..pricing import PriceSchedule, provisional_charge_nanos
from ._ledger import post_entries
from ._prices import load_prices
from ._repo import ensure_customer
from ._schema import usage_records
from ._settlement import HOST_OWNER, closed_periods, lock_closes_shared, period_of_us
from ._sql import bulk_insert
from ._engine import writing

import_batch_records_max: Final = 5_000
import_errors_reported_max: Final = 20
tokens_max: Final = 2**31 - 1
_FIELDS = ("request_id", "time", "customer", "model", "tokens_prompt", "tokens_completion", "status")
_COLUMNS = (
    ("request_id", "text"), ("time_us", "bigint"), ("finalized_us", "bigint"), ("customer_id", "text"),
    ("key_id", "text"), ("model", "text"), ("backend", "text"), ("endpoint", "text"), ("status", "text"),
    ("tokens_prompt", "int"), ("tokens_completion", "int"), ("usage_source", "text"), ("worker_id", "text"),
    ("charge_nanos", "bigint"), ("currency", "text"), ("ledger_entry_id", "text"), ("late_period", "text"),
)
IMPORT_SOURCE = "import"


class ImportRejected(ValueError):
    """The input has malformed lines; ``errors`` holds (line number, reason), the first few."""

    def __init__(self, errors: list[tuple[int, str]], invalid: int) -> None:
        shown = "; ".join(f"line {number}: {reason}" for number, reason in errors)
        more = f" (and {invalid - len(errors)} more)" if invalid > len(errors) else ""
        super().__init__(f"{invalid} malformed line(s), nothing imported: {shown}{more}")
        self.errors = errors
        self.invalid = invalid


@dataclass(frozen=True, slots=True)
class _Record:
    request_id: str
    time_us: int
    customer: str
    model: str
    tokens_prompt: int
    tokens_completion: int
    status: str


@dataclass
class ImportReport:
    lines: int = 0
    imported: int = 0
    duplicates: int = 0
    invalid: int = 0
    late: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _text(value: object, name: str, chars_max: int) -> str:
    if not isinstance(value, str) or not value or len(value) > chars_max:
        raise ValueError(f"{name} must be a string of 1..{chars_max} characters")
    return value


def _tokens(value: object, name: str) -> int:
    if type(value) is not int or not 0 <= value <= tokens_max:
        raise ValueError(f"{name} must be an integer in 0..{tokens_max}")
    return value


def _time_us(value: object) -> int:
    if not isinstance(value, str):
        raise ValueError("time must be an RFC 3339 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"time {value!r} is not RFC 3339") from None
    if moment.tzinfo is None:
        raise ValueError(f"time {value!r} has no UTC offset (RFC 3339 requires one)")
    return us_of_datetime(moment)


def parse_line(raw: bytes, schedule: PriceSchedule) -> _Record:
    """One usage record from one line, or ValueError with the reason."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in _FIELDS if name not in value]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    status = value["status"]
    if status not in FINAL_STATUSES:
        raise ValueError(f"status must be one of {', '.join(FINAL_STATUSES)}, got {status!r}")
    record = _Record(
        _text(value["request_id"], "request_id", 64), _time_us(value["time"]), _text(value["customer"], "customer", 200),
        _text(value["model"], "model", 200), _tokens(value["tokens_prompt"], "tokens_prompt"),
        _tokens(value["tokens_completion"], "tokens_completion"), status,
    )
    if schedule.price_at_us(record.model, record.time_us) is None:
        raise ValueError(f"no price for model {record.model!r} at {value['time']}")
    return record


def _parsed(lines: Iterable[bytes], schedule: PriceSchedule, report: ImportReport) -> Iterator[tuple[int, _Record | str]]:
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        report.lines += 1
        try:
            yield number, parse_line(raw, schedule)
        except ValueError as error:
            yield number, str(error)


def validate_lines(lines: Iterable[bytes], schedule: PriceSchedule) -> ImportReport:
    """The first pass: count the lines and collect the malformed ones."""
    report = ImportReport()
    for number, result in _parsed(lines, schedule, report):
        if isinstance(result, str):
            report.invalid += 1
            if len(report.errors) < import_errors_reported_max:
                report.errors.append((number, result))
    return report


def _write_batch(engine: Engine, batch: list[_Record], schedule: PriceSchedule, customer_ids: dict, now_us: int) -> tuple[int, int]:
    """Insert one batch in one transaction; returns (imported, late)."""
    with writing(engine) as connection:
        lock_closes_shared(connection)
        closed = closed_periods(connection)
        unique = list({record.request_id: record for record in batch}.values())
        taken = set(connection.execute(
            select(usage_records.c.request_id).where(usage_records.c.request_id.in_([r.request_id for r in unique]))
        ).scalars())
        fresh = [record for record in unique if record.request_id not in taken]
        rows, totals, late = _rows(connection, fresh, schedule, customer_ids, closed, now_us)
        bulk_insert(connection, "usage_records", [c for c, _ in _COLUMNS], [t for _, t in _COLUMNS], rows)
        _book(connection, totals, now_us)
        return len(fresh), late


def _rows(connection, fresh, schedule, customer_ids, closed, now_us):
    totals: dict[tuple[str, str], list] = {}
    rows, late = [], 0
    for record in fresh:
        customer_id = customer_ids.get(record.customer)
        if customer_id is None:
            customer_id = customer_ids[record.customer] = ensure_customer(connection, record.customer, now_us)
        price = schedule.price_at_us(record.model, record.time_us)
        charge = provisional_charge_nanos(record.tokens_prompt, record.tokens_completion, price)
        entry_id = None
        if charge:
            total = totals.setdefault((customer_id, price.currency), [f"use_{secrets.token_hex(10)}", 0])
            total[1] += charge
            entry_id = total[0]
        period = period_of_us(record.time_us)
        late_period = period if period in closed else None
        late += late_period is not None
        rows.append((
            record.request_id, record.time_us, now_us, customer_id, IMPORT_SOURCE, record.model, IMPORT_SOURCE,
            IMPORT_SOURCE, record.status, record.tokens_prompt, record.tokens_completion, IMPORT_SOURCE,
            IMPORT_SOURCE, charge, price.currency, entry_id, late_period,
        ))
    return rows, totals, late


def _book(connection: Connection, totals: dict, now_us: int) -> None:
    moment = datetime_of_us(now_us)
    post_entries(connection, [
        settle_usage(entry_id, moment, customer=customer_id, host=HOST_OWNER, charge=Money(nanos, currency),
                     source=AccountKind.CUSTOMER_RECEIVABLE)
        for (customer_id, currency), (entry_id, nanos) in sorted(totals.items())
    ])


def import_usage(
    engine: Engine, open_lines: Callable[[], Iterable[bytes]], now_us: int, skip_invalid: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Validate every line of ``open_lines()``, then import (see the module docstring).
    ``open_lines`` is called twice: once to validate, once to write."""
    with engine.connect() as connection:
        schedule = load_prices(connection)
    report = validate_lines(open_lines(), schedule)
    if report.invalid and not skip_invalid:
        raise ImportRejected(report.errors, report.invalid)
    customer_ids: dict[str, str] = {}
    batch: list[_Record] = []
    done = 0
    for _, result in _parsed(open_lines(), schedule, ImportReport()):
        if isinstance(result, str):
            continue
        batch.append(result)
        if len(batch) >= import_batch_records_max:
            done += len(batch)
            _flush(engine, batch, schedule, customer_ids, now_us, report)
            if progress is not None:
                progress(done, report.lines)
    _flush(engine, batch, schedule, customer_ids, now_us, report)
    if progress is not None:
        progress(report.lines, report.lines)
    return report


def _flush(engine, batch, schedule, customer_ids, now_us, report: ImportReport) -> None:
    if not batch:
        return
    imported, late = _write_batch(engine, batch, schedule, customer_ids, now_us)
    report.imported += imported
    report.duplicates += len(batch) - imported
    report.late += late
    batch.clear()
