"""The transparency log, stored: outboxes of rows appended as typed leaves.

Metering never touches the log. A final usage record (or a fee, see `_log_sources`)
without a `log_index` is waiting in its source's outbox; `append_log` (run by every
gateway worker, one at a time) does, in ONE transaction under a lock on the `log_state`
head row (SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite):

1. pick at most `LOG_APPEND_BATCH_MAX` waiting rows, each source in a deterministic order
   (usage records by `finalized_us`, then `request_id`);
2. project each into its leaf (`revstream.leaves`: canonical JSON naming its kind and
   version, people replaced by HMAC-SHA256(host secret, id)) and store the leaf's bytes in
   `log_leaves` at consecutive indexes after the current size: leaves are stored when
   appended and never recomputed into something else;
3. store the hash of every complete subtree the new leaves complete, all levels, as the
   one Merkle core computes them (`revstream.transparency.CompactRange`): proofs and roots
   then read at most ~2 log2(size) rows;
4. when a checkpoint is due and a log key exists, check the new tree against the last
   checkpoint with a consistency proof built from the stored hashes, and sign it.

A row is therefore appended exactly once and never lost: the position, the leaf, the
hashes and the head move together or not at all. `check_log` (`_log_read`) checks that
every stored leaf hashes to its stored hash and that its row still projects to it under
the leaf's version.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

from sqlalchemy import Connection, Engine, select, update

from ..transparency import (
    EMPTY_ROOT,
    ENTRY_SIZE_MAX,
    PROOF_HASHES_MAX,
    CompactRange,
    ProofError,
    compact_range,
    consistency_plan,
    format_checkpoint,
    leaf_hash,
    node_hash,
    proof_from_plan,
    sign_note,
    verify_consistency,
)
from ._errors import StoreError
from ._host_secrets import host_secret
from ._keys import (
    PSEUDONYM_SECRET,
    SIGNER_KEY,
    require_secret,
)
from ._log_sources import SOURCES, USAGE_SOURCE, Leaf, LogSource, usage_waiting_since
from ._schema import log_checkpoints, log_state, meta
from ._sql import bulk_insert
from ._engine import writing

LOG_APPEND_BATCH_MAX = 512
"""Most rows one append transaction takes from the outboxes: small enough that the write
lock (all of SQLite) is held for milliseconds, not a visible stall."""
LOG_ENTRIES_PAGE_MAX = 10_000
"""Most leaves one `log_entries` call returns."""
LOG_CHECK_BATCH_MAX = 10_000
"""Leaves `check_log` reads per query."""


SIGNER_KEY_META_KEY = "log_signer_key"  # the key of `_signing_keys`' answer (the key itself is a key file)
VERIFIER_KEY_META_KEY = "log_verifier_key"
ORIGIN_META_KEY = "log_origin"
BASE_SIZE_META_KEY = "log_settled_base_size"
_SECRET_BYTES = 32
_LOG_ID = 1



class LogIntegrityError(StoreError):
    """The stored log contradicts itself: a missing hash or entry, or an inconsistent tree."""


# p2-fleet (issue 17, tlog-tiles): every leaf must fit an entry bundle.
class LeafTooLarge(StoreError):
    """A row projects to a leaf longer than an entry bundle can carry (C2SP tlog-tiles: a
    uint16 length, `ENTRY_SIZE_MAX` = 65,535 bytes). The append is refused, whole: the row
    stays waiting and the appender reports the error (health shows it) rather than publish a
    log that tiles cannot serve."""


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """Sign a checkpoint once `interval_us` passed or `records` leaves were added since the last."""

    interval_us: int
    records: int


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    created_us: int


@dataclass(frozen=True, slots=True)
class AppendResult:
    appended: int
    size: int
    signed: StoredCheckpoint | None


@dataclass(frozen=True, slots=True)
class LogCheck:
    """What `check_log` found: the leaves whose record no longer hashes to the stored leaf."""

    size: int
    root: bytes
    mismatched: tuple[int, ...]
    missing: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatched and not self.missing


# --- leaves ---------------------------------------------------------------------------

def pseudonym_secret(engine: Engine) -> bytes:
    """The host's pseudonym secret (customers → keyed pseudonyms in the log)."""
    return host_secret(engine, PSEUDONYM_SECRET)


# --- the tree -------------------------------------------------------------------------

def _compact_range(size: int) -> list[tuple[int, int]]:
    """(level, index) of the complete subtrees, largest first, that tile leaves [0, size)."""
    return [(piece.level, piece.index) for piece in compact_range(size)]


@functools.lru_cache(maxsize=PROOF_HASHES_MAX * 2)
def _subtrees_sql(count: int) -> str:
    """SQLite: `count` primary-key lookups in one statement (a UNION ALL: SQLite answers a
    row-value IN list with a table scan, a long OR with a costly plan; this is an index
    probe per hash)."""
    one = "SELECT level, subtree_index, hash FROM log_subtrees WHERE level = ? AND subtree_index = ?"
    return " UNION ALL ".join([one] * count)


_SUBTREES_SQL_POSTGRES = (
    "SELECT s.level, s.subtree_index, s.hash FROM log_subtrees s "
    "JOIN unnest(%s::int[], %s::bigint[]) AS w(level, subtree_index) "
    "ON s.level = w.level AND s.subtree_index = w.subtree_index"
)


def _fetch_subtrees(connection: Connection, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    wanted = sorted(set(wanted))
    if not wanted:
        return {}
    if connection.dialect.name == "postgresql":
        # One statement text whatever the count (PostgreSQL plans a long UNION ALL slowly).
        rows = connection.exec_driver_sql(_SUBTREES_SQL_POSTGRES, ([level for level, _ in wanted],
                                                                  [index for _, index in wanted])).all()
    else:
        rows = connection.exec_driver_sql(
            _subtrees_sql(len(wanted)), tuple(value for pair in wanted for value in pair)).all()
    found = {(level, index): bytes(value) for level, index, value in rows}
    missing = [pair for pair in wanted if pair not in found]
    if missing:
        raise LogIntegrityError(f"the stored log lacks the subtree hashes {missing[:4]}")
    return found


def _proof(connection: Connection, plan) -> tuple[bytes, ...]:
    hashes = _fetch_subtrees(connection, [piece for pieces in plan for piece in pieces])
    return proof_from_plan(plan, lambda level, index: hashes[(level, index)])


def _root(connection: Connection, size: int) -> bytes:
    if size == 0:
        return EMPTY_ROOT
    pieces = _compact_range(size)
    hashes = _fetch_subtrees(connection, pieces)
    return _fold([hashes[piece] for piece in pieces])


def _fold(hashes: Sequence[bytes]) -> bytes:
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


# --- appending ------------------------------------------------------------------------

@contextmanager
def _locked(engine: Engine) -> Iterator[tuple[Connection, int, int]]:
    """A transaction holding the log lock; yields the connection, the log size and the floor."""
    with writing(engine) as connection:
        size, floor_us = connection.execute(
            select(log_state.c.size, log_state.c.outbox_floor_us).where(log_state.c.log_id == _LOG_ID).with_for_update()
        ).one()
        yield connection, size, floor_us


def append_log(
    engine: Engine, policy: CheckpointPolicy, now_us: int, batch_max: int = LOG_APPEND_BATCH_MAX,
    look_first: bool = True,
) -> AppendResult:
    """Append waiting rows (at most `batch_max`), then sign a checkpoint if one is due.

    With `look_first`, a lock-free look says first whether there is anything to do (an idle
    worker takes no lock: on SQLite, the whole store's write lock); an appender catching up
    after a full batch skips it."""
    idle_size = _idle_size(engine) if look_first else None
    if idle_size is not None:  # nothing to do: take no lock
        return AppendResult(0, idle_size, None)
    secret = pseudonym_secret(engine)
    with _locked(engine) as (connection, size, floor_us):
        old_size = size
        for source in SOURCES:
            if source is USAGE_SOURCE:
                size = _append_usage(connection, size, floor_us, secret, now_us, batch_max - (size - old_size))
            elif size - old_size < batch_max:
                size = _append_from(connection, source, size, secret, now_us, batch_max - (size - old_size))
        signed = _maybe_sign(connection, size, policy, now_us)
    return AppendResult(size - old_size, size, signed)


def _append_usage(connection: Connection, size: int, floor_us: int, secret: bytes, now_us: int, limit: int) -> int:
    """Usage records: a look from the floor (the newest finalization time appended so far)
    first, then a full look whenever it comes back short.

    After a large catch-up, the index of waiting records is full of dead entries for the
    records already appended (until PostgreSQL vacuums them): a look from the start reads
    them all, every batch. Looking from the floor skips them. A record that commits with a
    finalization time below the floor (its writer's transaction was slow) is appended by the
    next full look, which runs as soon as the appender has caught up; a period's close
    appends everything waiting regardless (`checkpoint_for_close`)."""
    if limit <= 0:
        return size
    rows = connection.execute(usage_waiting_since(floor_us).limit(limit)).all() if floor_us else []
    if len(rows) < limit:
        seen = {row.request_id for row in rows}
        rows += [row for row in connection.execute(USAGE_SOURCE.waiting().limit(limit)).all()
                 if row.request_id not in seen][:limit - len(rows)]
    if not rows:
        return size
    size = _append_rows(connection, USAGE_SOURCE, size, rows, secret, now_us)
    newest_us = max(row.finalized_us for row in rows)
    if newest_us > floor_us:
        connection.execute(update(log_state).where(log_state.c.log_id == _LOG_ID).values(outbox_floor_us=newest_us))
    return size


def _idle_size(engine: Engine) -> int | None:
    """The log size if no row waits and no checkpoint can be due (a lock-free look), else None."""
    with engine.connect() as connection:
        for source in SOURCES:
            if connection.execute(source.waiting().limit(1)).first() is not None:
                return None
        size = connection.execute(select(log_state.c.size).where(log_state.c.log_id == _LOG_ID)).scalar_one()
        if connection.execute(select(meta.c.key).where(meta.c.key == VERIFIER_KEY_META_KEY)).first() is None:
            return size  # no log key: nothing to sign
        last = _latest(connection)
        return size if size == (0 if last is None else last.size) else None


def _append_from(connection: Connection, source: LogSource, size: int, secret: bytes, now_us: int, limit: int,
                 where=None) -> int:
    """Append at most `limit` waiting rows of `source` (matching `where`); the new size."""
    query = source.waiting() if where is None else source.waiting().where(where)
    rows = connection.execute(query.limit(limit)).all()
    return _append_rows(connection, source, size, rows, secret, now_us) if rows else size


def _append_rows(connection: Connection, source: LogSource, size: int, rows, secret: bytes, now_us: int) -> int:
    leaves = [source.leaf(row, secret) for row in rows]
    size = _append_leaves(connection, size, leaves, now_us)
    source.mark(connection, [(size - len(leaves) + offset, leaf.source_id) for offset, leaf in enumerate(leaves)])
    return size


def _append_leaves(connection: Connection, size: int, leaves: Sequence[Leaf], now_us: int) -> int:
    """Store `leaves` at [size, size + len) with every subtree hash they complete; the new size."""
    for leaf in leaves:  # p2-fleet: an entry bundle carries at most ENTRY_SIZE_MAX bytes per leaf
        if len(leaf.data) > ENTRY_SIZE_MAX:
            raise LeafTooLarge(f"the {leaf.kind} leaf of {leaf.source_id} is {len(leaf.data)} bytes; a log "
                               f"leaf is at most {ENTRY_SIZE_MAX} bytes (C2SP tlog-tiles entry bundles)")
    pieces = _compact_range(size)
    stored = _fetch_subtrees(connection, pieces)
    tree = CompactRange(size, [stored[piece] for piece in pieces])
    completed = tree.extend_completed([leaf_hash(leaf.data) for leaf in leaves])
    bulk_insert(connection, "log_subtrees", ("level", "subtree_index", "hash"), ("int", "bigint", "bytea"), completed)
    bulk_insert(connection, "log_leaves", ("leaf_index", "kind", "version", "source_id", "data"),
                ("bigint", "text", "int", "text", "bytea"),
                [(size + offset, str(leaf.kind), leaf.version, leaf.source_id, leaf.data)
                 for offset, leaf in enumerate(leaves)])
    connection.execute(
        update(log_state).where(log_state.c.log_id == _LOG_ID).values(size=tree.size, updated_us=now_us)
    )
    return tree.size


def _latest(connection: Connection) -> StoredCheckpoint | None:
    row = connection.execute(
        select(log_checkpoints).order_by(log_checkpoints.c.size.desc()).limit(1)
    ).first()
    return None if row is None else StoredCheckpoint(row.size, bytes(row.root), row.note, row.created_us)


def _signing_keys(connection: Connection) -> dict[str, str]:
    """The log's origin and signing key; empty when the log has no key. SecretMissing when
    the log has a key but this install cannot read it (its key directory was not copied)."""
    origin = connection.execute(select(meta.c.value).where(meta.c.key == ORIGIN_META_KEY)).scalar()
    if origin is None:
        return {}
    return {ORIGIN_META_KEY: origin, SIGNER_KEY_META_KEY: require_secret(connection, SIGNER_KEY)}


def _maybe_sign(connection: Connection, size: int, policy: CheckpointPolicy, now_us: int) -> StoredCheckpoint | None:
    if SIGNER_KEY_META_KEY not in _signing_keys(connection) or size == 0:
        return None
    last = _latest(connection)
    last_size, last_us = (0, None) if last is None else (last.size, last.created_us)
    due = last_us is None or size - last_size >= policy.records or now_us - last_us >= policy.interval_us
    if size <= last_size or not due:
        return None
    return _sign(connection, size, last, now_us)


def _sign(connection: Connection, size: int, last: StoredCheckpoint | None, now_us: int) -> StoredCheckpoint:
    """Sign the tree of `size` leaves, after proving it extends the last signed checkpoint:
    the host never signs two inconsistent checkpoints."""
    keys = _signing_keys(connection)
    root = _root(connection, size)
    if last is not None and last.size > 0:
        proof = _proof(connection, consistency_plan(last.size, size))
        try:
            verify_consistency(last.size, size, proof, last.root, root)
        except ProofError as error:
            raise LogIntegrityError(
                f"the log at size {size} is not consistent with checkpoint {last.size}; refusing to sign: {error}"
            ) from error
    note = sign_note(format_checkpoint(keys[ORIGIN_META_KEY], size, root), keys[SIGNER_KEY_META_KEY])
    connection.execute(log_checkpoints.insert().values(size=size, root=root, note=note, created_us=now_us))
    return StoredCheckpoint(size, root, note, now_us)


def _append_all(connection: Connection, size: int, secret: bytes, now_us: int, usage_where=None) -> int:
    """Append every waiting row (of usage records, only those matching `usage_where`), in
    bounded batches, in this transaction."""
    for source in SOURCES:
        where = usage_where if source is USAGE_SOURCE else None
        while True:
            new_size = _append_from(connection, source, size, secret, now_us, LOG_APPEND_BATCH_MAX, where)
            appended, size = new_size - size, new_size
            if appended < LOG_APPEND_BATCH_MAX:
                break
    return size


def checkpoint_for_close(connection: Connection, secret: bytes, now_us: int) -> StoredCheckpoint | None:
    """In a period close's write transaction: append every final record still waiting in
    the outbox, then sign a checkpoint of the result (or return the one already signed
    at that size). None when the log has no key: such a host publishes no log.

    Every record the close settles as its period's own is then a leaf below the
    checkpoint's size; a record that becomes final later is appended above it."""
    if SIGNER_KEY_META_KEY not in _signing_keys(connection):
        return None
    size = connection.execute(
        select(log_state.c.size).where(log_state.c.log_id == _LOG_ID).with_for_update()
    ).scalar_one()
    size = _append_all(connection, size, secret, now_us)
    last = _latest(connection)
    if last is not None and last.size == size:
        return last
    return _sign(connection, size, last, now_us)
