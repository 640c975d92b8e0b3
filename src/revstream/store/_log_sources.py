"""Where log leaves come from: each source is a table whose rows wait in an outbox (their
`log_index` is NULL) until the appender makes them leaves (see `_log`).

A source reads its waiting rows in a deterministic order, projects a row into its leaf
bytes (the kind's current version, `revstream.leaves`), marks the rows it appended, and
re-projects a stored row under any version it ever wrote, for `log check`. A new kind of
leaf (ad impressions, messages, ...) is a new `LogSource` in `SOURCES`.

Kinds other than usage and fees are settled by position (`revstream.settlement._contributions`):
their source names its `table`, which has `log_index` and `settled_period` columns, and its
`ready` rows (final, waiting to be leaves). A period's close marks every ready row not
settled yet, below its checkpoint when there is a log, with the period (`mark_settled`);
the statement then reads those rows' leaves (`settled_leaves`), as the verifier reads them
from the log.
"""

from __future__ import annotations

import functools
import hmac
import json
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Final, Sequence

from sqlalchemy import Connection, Table, and_, select, true, update

from ..leaves import (
    FEE_VERSION,
    decode_leaf,
    LEGACY_SHAPES,
    LEGACY_USAGE_VERSION,
    FeeEntry,
    LeafKind,
    UsageRecordFields,
    fee_leaf,
    usage_leaf,
)
from ..licence import LEAF_VERSION as LICENCE_VERSION, licence_leaf
from ._licence import freeze_licence_months, leaf_entry
from ._licence_schema import licence_leaves
from ..recitation import RECITATION_LEAF_VERSION, recitation_leaf_bytes  # recitation (issue 16)
from ._recitation import recitation_row_event  # recitation (issue 16)
from ._recitation_schema import recitation_events  # recitation (issue 16)
from ._schema import fees, log_leaves, usage_records
from ._messaging_leaves import MESSAGE_READY, MESSAGE_VERSION, message_leaf_bytes  # messaging (issue 14)
from ._messaging_schema import msg_messages  # messaging (issue 14)
from ._sql import bulk_update

PSEUDONYM_CACHE_MAX: Final = 65_536
"""Customers whose pseudonym is kept computed (a leaf is built for every record served)."""


@functools.lru_cache(maxsize=PSEUDONYM_CACHE_MAX)
def pseudonym(customer_id: str, secret: bytes) -> str:
    """The customer as a licensor sees it: stable per host, meaningless without the secret."""
    return hmac.digest(secret, customer_id.encode("utf-8"), "sha256").hex()


@dataclass(frozen=True, slots=True)
class Leaf:
    """A leaf about to be appended: its bytes and the row it projects."""

    kind: LeafKind
    version: int
    source_id: str
    data: bytes


@dataclass(frozen=True, slots=True)
class LogSource:
    kind: LeafKind
    # SELECT of the waiting rows, oldest first; `.limit(n)` is applied by the appender.
    waiting: Callable[[], object]
    # A waiting (or stored) row → its leaf in the current version.
    leaf: Callable[[object, bytes], Leaf]
    # Record the positions [(log_index, source_id)] of the rows just appended.
    mark: Callable[[Connection, Sequence[tuple[int, str]]], None]
    # The rows behind the given source ids, by id, for `log check`.
    rows: Callable[[Connection, Sequence[str]], dict]
    # A stored row re-projected under (version, the stored leaf's keys): must equal the leaf.
    reproject: Callable[[object, bytes, int, frozenset[str]], bytes]
    # Kinds settled by position: the table (with `log_index`, `settled_period`) and the
    # condition of its rows that are final.
    table: Table | None = None
    ready: object = None
    # Called by a period's close before it appends and signs (connection, period, now_us): a
    # source whose leaves a close creates (the `licence` leaf of the month) writes them here.
    prepare: Callable[[Connection, str, int], None] | None = None


def marks_positions(table: Table, key: str) -> Callable[[Connection, Sequence[tuple[int, str]]], None]:
    """A source's `mark` for a table whose rows are keyed by the text column `key`."""
    def mark(connection: Connection, positions: Sequence[tuple[int, str]]) -> None:
        bulk_update(connection, table.name, key, ("log_index",), ("bigint", "text"), positions,
                    condition="log_index IS NULL")
    return mark


def rows_by_id(table: Table, key: str) -> Callable[[Connection, Sequence[str]], dict]:
    """A source's `rows`: the whole rows of `table` behind the given values of `key`."""
    column = table.c[key]

    def rows(connection: Connection, ids: Sequence[str]) -> dict:
        return {getattr(row, key): row for row in connection.execute(select(table).where(column.in_(list(ids))))}
    return rows


# --- usage records ----------------------------------------------------------------------

USAGE_COLUMNS: Final = (
    usage_records.c.request_id, usage_records.c.time_us, usage_records.c.customer_id, usage_records.c.model,
    usage_records.c.endpoint, usage_records.c.status, usage_records.c.tokens_prompt,
    usage_records.c.tokens_completion, usage_records.c.usage_source, usage_records.c.charge_nanos,
    usage_records.c.currency, usage_records.c.late_period, usage_records.c.stream, usage_records.c.plan_id,
    usage_records.c.tokens_included,
)
UNLOGGED_USAGE: Final = and_(usage_records.c.status != "pending", usage_records.c.log_index.is_(None))


def usage_fields(row, secret: bytes) -> UsageRecordFields:
    """The public projection's fields of a usage record row ending with `USAGE_COLUMNS`."""
    (request_id, time_us, customer_id, model, endpoint, status, tokens_prompt, tokens_completion, usage_source,
     charge_nanos, currency, late_period, stream, plan_id, tokens_included) = row[-len(USAGE_COLUMNS):]
    return UsageRecordFields(request_id, time_us, pseudonym(customer_id, secret), model, endpoint, status,
                             tokens_prompt, tokens_completion, usage_source, charge_nanos, currency, late_period,
                             stream, plan_id, tokens_included or 0)


def _usage_leaf(row, secret: bytes) -> Leaf:
    fields = usage_fields(row, secret)
    return Leaf(LeafKind.USAGE, 2, fields.request_id, usage_leaf(fields))


def _usage_mark(connection: Connection, positions: Sequence[tuple[int, str]]) -> None:
    bulk_update(connection, "usage_records", "request_id", ("log_index",), ("bigint", "text"), positions,
                condition="log_index IS NULL")


def _usage_rows(connection: Connection, ids: Sequence[str]) -> dict:
    return {row.request_id: row for row in connection.execute(
        select(*USAGE_COLUMNS).where(usage_records.c.request_id.in_(list(ids))))}


def _usage_reproject(row, secret: bytes, version: int, keys: frozenset[str]) -> bytes:
    fields = usage_fields(row, secret)
    if version == LEGACY_USAGE_VERSION:
        shape = next((shape for shape in LEGACY_SHAPES if shape == keys), LEGACY_SHAPES[0])
        return usage_leaf(fields, version, shape)
    return usage_leaf(fields, version)


def usage_waiting_since(floor_us: int):
    """The waiting usage records finalized at or after ``floor_us``: an index range scan that
    starts past the records already appended (their dead index entries cost a full look
    after a large catch-up, until PostgreSQL vacuums them)."""
    return (select(usage_records.c.finalized_us, *USAGE_COLUMNS)
            .where(UNLOGGED_USAGE, usage_records.c.finalized_us >= floor_us)
            .order_by(usage_records.c.finalized_us, usage_records.c.request_id))


USAGE_SOURCE: Final = LogSource(
    LeafKind.USAGE,
    lambda: select(usage_records.c.finalized_us, *USAGE_COLUMNS).where(UNLOGGED_USAGE)
    .order_by(usage_records.c.finalized_us, usage_records.c.request_id),
    _usage_leaf, _usage_mark, _usage_rows, _usage_reproject,
)


# --- fees -------------------------------------------------------------------------------

def fee_fields(row, secret: bytes) -> FeeEntry:
    return FeeEntry(row.fee_id, row.period, pseudonym(row.customer_id, secret), row.plan_id, row.fee_kind, row.stream,
                    row.currency, Fraction(row.amount_exact), row.from_us, row.to_us, tuple(json.loads(row.models)))


def _fee_leaf(row, secret: bytes) -> Leaf:
    return Leaf(LeafKind.FEE, FEE_VERSION, row.fee_id, fee_leaf(fee_fields(row, secret)))


FEE_SOURCE: Final = LogSource(
    LeafKind.FEE,
    lambda: select(fees).where(fees.c.log_index.is_(None)).order_by(fees.c.created_us, fees.c.fee_id),
    _fee_leaf, marks_positions(fees, "fee_id"), rows_by_id(fees, "fee_id"),
    lambda row, secret, version, keys: fee_leaf(fee_fields(row, secret)),
)

# --- licence (issue 15): a closed month's active users and acceptable-use counts ---------

def _licence_leaf(row, secret: bytes) -> Leaf:
    return Leaf(LeafKind.LICENCE, LICENCE_VERSION, row.month, licence_leaf(leaf_entry(row)))


LICENCE_SOURCE: Final = LogSource(
    LeafKind.LICENCE,
    lambda: select(licence_leaves).where(licence_leaves.c.log_index.is_(None)).order_by(licence_leaves.c.month),
    _licence_leaf, marks_positions(licence_leaves, "month"), rows_by_id(licence_leaves, "month"),
    lambda row, secret, version, keys: licence_leaf(leaf_entry(row)),
    table=licence_leaves, ready=true(), prepare=freeze_licence_months,
)
# --- end licence

# --- recitation (issue 16): a registered work blocked or cited in a response ------------

def _recitation_leaf(row, secret: bytes) -> Leaf:
    return Leaf(LeafKind.RECITATION, RECITATION_LEAF_VERSION, row.event_id,
                recitation_leaf_bytes(recitation_row_event(row)))


RECITATION_SOURCE: Final = LogSource(
    LeafKind.RECITATION,
    lambda: select(recitation_events).where(recitation_events.c.log_index.is_(None))
    .order_by(recitation_events.c.time_us, recitation_events.c.event_id),
    _recitation_leaf, marks_positions(recitation_events, "event_id"), rows_by_id(recitation_events, "event_id"),
    lambda row, secret, version, keys: recitation_leaf_bytes(recitation_row_event(row)),
    table=recitation_events, ready=true(),
)
# --- end recitation

# --- messaging (issue 14): final outbound messages (delivered or failed) ----------------

def _message_leaf(row, secret: bytes) -> Leaf:
    return Leaf(LeafKind.MESSAGE, MESSAGE_VERSION, row.message_id, message_leaf_bytes(row, secret, pseudonym))


MESSAGE_SOURCE: Final = LogSource(
    LeafKind.MESSAGE,
    lambda: select(msg_messages).where(MESSAGE_READY, msg_messages.c.log_index.is_(None))
    .order_by(msg_messages.c.time_us, msg_messages.c.message_id),
    _message_leaf, marks_positions(msg_messages, "message_id"), rows_by_id(msg_messages, "message_id"),
    lambda row, secret, version, keys: message_leaf_bytes(row, secret, pseudonym),
    table=msg_messages, ready=MESSAGE_READY,
)
# --- end messaging

# --- ads (issue 13): delivered impressions and every click with a valid token ------------
from ._ads_sources import CLICK_SOURCE, IMPRESSION_SOURCE  # noqa: E402
# --- end ads

SOURCES: Final = (FEE_SOURCE, LICENCE_SOURCE, RECITATION_SOURCE, MESSAGE_SOURCE, USAGE_SOURCE, IMPRESSION_SOURCE,
                  CLICK_SOURCE)
"""Every source, in the order an append takes from them."""
SOURCE_OF_KIND: Final = {source.kind: source for source in SOURCES}


# --- kinds settled by position ------------------------------------------------------------

def positional_sources() -> tuple[LogSource, ...]:
    return tuple(source for source in SOURCES if source.table is not None)


def prepare_close(connection: Connection, period: str, now_us: int) -> None:
    """In a close's first transaction, before it appends and signs: every source that makes
    leaves at a close (see `LogSource.prepare`) makes them now, so they land below the close's
    checkpoint and are settled by it."""
    for source in SOURCES:
        if source.prepare is not None:
            source.prepare(connection, period, now_us)


def mark_settled(connection: Connection, period: str, log_size: int | None) -> None:
    """In a close's first transaction: the ready rows of every positional kind not settled
    yet (below `log_size`, with a log) are settled by `period`."""
    for source in positional_sources():
        table = source.table
        if log_size is None:
            where = and_(source.ready, table.c.settled_period.is_(None))
        else:
            where = and_(table.c.settled_period.is_(None), table.c.log_index.is_not(None),
                         table.c.log_index < log_size)
        connection.execute(update(table).where(where).values(settled_period=period))


def settled_leaves(connection: Connection, period: str, secret: bytes, open_period: bool = False) -> dict[LeafKind, list[dict]]:
    """The decoded leaves of every positional kind that `period` settles: the bytes stored in
    the log when the rows are leaves (what a verifier reads), else their projection. For an
    open period (a preview), the ready rows no close has settled yet."""
    found: dict[LeafKind, list[dict]] = {}
    for source in positional_sources():
        table = source.table
        where = and_(source.ready, table.c.settled_period.is_(None)) if open_period else table.c.settled_period == period
        rows = connection.execute(select(table).where(where)).all()
        indexes = [row.log_index for row in rows if row.log_index is not None]
        stored = dict(connection.execute(
            select(log_leaves.c.leaf_index, log_leaves.c.data).where(log_leaves.c.leaf_index.in_(indexes))
        ).all()) if indexes else {}
        values = []
        for row in sorted(rows, key=lambda r: (r.log_index is None, r.log_index or 0)):
            data = bytes(stored[row.log_index]) if row.log_index in stored else source.leaf(row, secret).data
            values.append(decode_leaf(data)[2])
        found[source.kind] = values
    return found
