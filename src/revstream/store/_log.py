"""The transparency log, stored: an outbox of final usage records appended as leaves.

Metering never touches the log. A final usage record without a `log_index` is waiting
in the outbox; `append_log` (run by every gateway worker, one at a time) does, in ONE
transaction under a lock on the `log_state` head row (SELECT ... FOR UPDATE on
PostgreSQL, BEGIN IMMEDIATE on SQLite):

1. pick at most `LOG_APPEND_BATCH_MAX` waiting records, oldest finalization first
   (`finalized_us`, then `request_id`: a deterministic order);
2. give them consecutive `log_index` values after the current size;
3. store the hash of every complete subtree the new leaves complete, all levels
   (level 0 is the leaf hash: ~2 rows per leaf; proofs and roots then read at most
   ~2 log2(size) rows and nothing is ever recomputed from records);
4. when a checkpoint is due and a log key exists, check the new tree against the last
   checkpoint with a consistency proof built from the stored hashes, and sign it.

A record is therefore appended exactly once and never lost: the position, the hashes
and the head move together or not at all.

A leaf is `leaf_data(row, secret)`: the RFC 8785 canonical JSON of the record's public
projection, its customer replaced by HMAC-SHA256(host secret, customer_id). Leaf data
is not stored: it is recomputed from the record row, so a changed row no longer hashes
to its stored leaf (`check_log` finds it, and so does any licensor's proof check).
"""

from __future__ import annotations

import hmac
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256
from typing import Iterator, Sequence

from sqlalchemy import Connection, Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..transparency import (
    EMPTY_ROOT,
    ProofError,
    TransparencyError,
    canonical_json,
    consistency_plan,
    format_checkpoint,
    generate_key,
    inclusion_plan,
    leaf_hash,
    node_hash,
    proof_from_plan,
    sign_note,
    verify_consistency,
)
from ._errors import Conflict, StoreError
from ._repo import get_meta, put_meta_if_absent
from ._schema import log_checkpoints, log_state, log_subtrees, meta, usage_records
from ._sql import bulk_insert, bulk_update
from ._engine import writing

LOG_APPEND_BATCH_MAX = 512
"""Most usage records one append transaction takes from the outbox: small enough that
the write lock (all of SQLite) is held for milliseconds, not a visible stall."""
LOG_ENTRIES_PAGE_MAX = 1000
"""Most leaves one `log_entries` call returns."""
LOG_CHECK_BATCH_MAX = 10_000
"""Records `check_log` reads per query."""

SECRET_META_KEY = "log_pseudonym_secret"
SIGNER_KEY_META_KEY = "log_signer_key"
VERIFIER_KEY_META_KEY = "log_verifier_key"
ORIGIN_META_KEY = "log_origin"
_SECRET_BYTES = 32
_LOG_ID = 1

# The record columns a leaf is computed from.
_LEAF_COLUMNS = (
    usage_records.c.request_id, usage_records.c.time_us, usage_records.c.customer_id, usage_records.c.model,
    usage_records.c.endpoint, usage_records.c.status, usage_records.c.tokens_prompt,
    usage_records.c.tokens_completion, usage_records.c.usage_source, usage_records.c.charge_nanos,
    usage_records.c.currency,
)
UNLOGGED = and_(usage_records.c.status != "pending", usage_records.c.log_index.is_(None))


class LogIntegrityError(StoreError):
    """The stored log contradicts itself: a missing hash or entry, or an inconsistent tree."""


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

def pseudonym(customer_id: str, secret: bytes) -> str:
    """The customer as a licensor sees it: stable per host, meaningless without the secret."""
    return hmac.new(secret, customer_id.encode("utf-8"), sha256).hexdigest()


def leaf_data(row, secret: bytes) -> bytes:
    """The log leaf of a final usage record row: canonical JSON of its public projection."""
    return canonical_json({
        "request_id": row.request_id,
        "time_us": row.time_us,
        "customer": pseudonym(row.customer_id, secret),
        "model": row.model,
        "endpoint": row.endpoint,
        "status": row.status,
        "tokens_prompt": row.tokens_prompt,
        "tokens_completion": row.tokens_completion,
        "usage_source": row.usage_source,
        "charge_nanos": row.charge_nanos,
        "currency": row.currency,
    })


def pseudonym_secret(engine: Engine) -> bytes:
    """The host's pseudonym secret, generated once and kept in `meta`."""
    stored = get_meta(engine, SECRET_META_KEY)
    if stored is None:
        put_meta_if_absent(engine, SECRET_META_KEY, secrets.token_hex(_SECRET_BYTES))
        stored = get_meta(engine, SECRET_META_KEY)
    return bytes.fromhex(stored)


# --- the tree -------------------------------------------------------------------------

def _compact_range(size: int) -> list[tuple[int, int]]:
    """(level, index) of the complete subtrees, largest first, that tile leaves [0, size)."""
    pieces, begin = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            pieces.append((level, begin >> level))
            begin += 1 << level
    return pieces


def _fetch_subtrees(connection: Connection, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    wanted = sorted(set(wanted))
    if not wanted:
        return {}
    condition = or_(*(and_(log_subtrees.c.level == level, log_subtrees.c.subtree_index == index)
                      for level, index in wanted))
    rows = connection.execute(
        select(log_subtrees.c.level, log_subtrees.c.subtree_index, log_subtrees.c.hash).where(condition)
    ).all()
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


def _grow(edge: list[bytes], size: int, leaf_hashes: Sequence[bytes]) -> list[tuple[int, int, bytes]]:
    """Append leaf hashes to a tree of `size` whose compact range is `edge` (updated in place);
    return every newly completed subtree as (level, index, hash)."""
    completed = []
    for offset, current in enumerate(leaf_hashes):
        index = size + offset
        completed.append((0, index, current))
        level, carry = 0, index
        while carry & 1:
            current = node_hash(edge.pop(), current)
            level += 1
            carry >>= 1
            completed.append((level, carry, current))
        edge.append(current)
    return completed


# --- appending ------------------------------------------------------------------------

@contextmanager
def _locked(engine: Engine) -> Iterator[tuple[Connection, int]]:
    """A transaction holding the log lock; yields the connection and the log size."""
    with writing(engine) as connection:
        size = connection.execute(
            select(log_state.c.size).where(log_state.c.log_id == _LOG_ID).with_for_update()
        ).scalar_one()
        yield connection, size


def append_log(
    engine: Engine, policy: CheckpointPolicy, now_us: int, batch_max: int = LOG_APPEND_BATCH_MAX
) -> AppendResult:
    """Append waiting final records (at most `batch_max`), then sign a checkpoint if one is due."""
    idle_size = _idle_size(engine)
    if idle_size is not None:  # nothing to do: take no lock (on SQLite, the write lock)
        return AppendResult(0, idle_size, None)
    secret = pseudonym_secret(engine)
    with _locked(engine) as (connection, size):
        rows = connection.execute(
            select(*_LEAF_COLUMNS).where(UNLOGGED)
            .order_by(usage_records.c.finalized_us, usage_records.c.request_id).limit(batch_max)
        ).all()
        old_size = size
        if rows:
            size = _append_rows(connection, size, rows, secret, now_us)
        signed = _maybe_sign(connection, size, policy, now_us)
    return AppendResult(size - old_size, size, signed)


def _idle_size(engine: Engine) -> int | None:
    """The log size if no record waits and no checkpoint can be due (a lock-free look), else None."""
    with engine.connect() as connection:
        if connection.execute(select(usage_records.c.request_id).where(UNLOGGED).limit(1)).first() is not None:
            return None
        size = connection.execute(select(log_state.c.size).where(log_state.c.log_id == _LOG_ID)).scalar_one()
        if connection.execute(select(meta.c.key).where(meta.c.key == SIGNER_KEY_META_KEY)).first() is None:
            return size
        last = _latest(connection)
        return size if size == (0 if last is None else last.size) else None


def _append_rows(connection: Connection, size: int, rows, secret: bytes, now_us: int) -> int:
    pieces = _compact_range(size)
    stored = _fetch_subtrees(connection, pieces)
    edge = [stored[piece] for piece in pieces]
    completed = _grow(edge, size, [leaf_hash(leaf_data(row, secret)) for row in rows])
    bulk_insert(connection, "log_subtrees", ("level", "subtree_index", "hash"), ("int", "bigint", "bytea"), completed)
    positions = [(size + offset, row.request_id) for offset, row in enumerate(rows)]
    bulk_update(connection, "usage_records", "request_id", ("log_index",), ("bigint", "text"), positions,
                condition="log_index IS NULL")
    new_size = size + len(rows)
    connection.execute(
        update(log_state).where(log_state.c.log_id == _LOG_ID).values(size=new_size, updated_us=now_us)
    )
    return new_size


def _latest(connection: Connection) -> StoredCheckpoint | None:
    row = connection.execute(
        select(log_checkpoints).order_by(log_checkpoints.c.size.desc()).limit(1)
    ).first()
    return None if row is None else StoredCheckpoint(row.size, bytes(row.root), row.note, row.created_us)


def _maybe_sign(connection: Connection, size: int, policy: CheckpointPolicy, now_us: int) -> StoredCheckpoint | None:
    keys = dict(connection.execute(
        select(meta.c.key, meta.c.value).where(meta.c.key.in_((SIGNER_KEY_META_KEY, ORIGIN_META_KEY)))
    ).all())
    if SIGNER_KEY_META_KEY not in keys or size == 0:
        return None
    last = _latest(connection)
    last_size, last_us = (0, None) if last is None else (last.size, last.created_us)
    due = last_us is None or size - last_size >= policy.records or now_us - last_us >= policy.interval_us
    if size <= last_size or not due:
        return None
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


# --- keys -----------------------------------------------------------------------------

def init_log_key(engine: Engine, origin: str) -> str:
    """Create the log's Ed25519 key for `origin`; returns the verifier key. The signer key
    stays in `meta`. Raises Conflict if the log has a key already."""
    try:
        skey, vkey = generate_key(origin)
    except TransparencyError as error:
        raise ValueError(f"origin {origin!r}: {error}") from error
    try:
        with writing(engine) as connection:
            connection.execute(meta.insert(), [
                {"key": SIGNER_KEY_META_KEY, "value": skey},
                {"key": VERIFIER_KEY_META_KEY, "value": vkey},
                {"key": ORIGIN_META_KEY, "value": origin},
            ])
    except IntegrityError:
        raise Conflict("the log key exists already; `revstream log vkey` prints its verifier key") from None
    return vkey


def log_verifier_key(engine: Engine) -> str | None:
    return get_meta(engine, VERIFIER_KEY_META_KEY)


# --- reading --------------------------------------------------------------------------

def log_size(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(log_state.c.size).where(log_state.c.log_id == _LOG_ID)).scalar_one()


def latest_checkpoint(engine: Engine) -> StoredCheckpoint | None:
    with engine.connect() as connection:
        return _latest(connection)


def inclusion_hashes(engine: Engine, index: int, size: int) -> tuple[bytes, ...]:
    """Inclusion proof of leaf `index` in the tree of `size` leaves; ValueError on a bad range."""
    with engine.connect() as connection:
        current = connection.execute(select(log_state.c.size).where(log_state.c.log_id == _LOG_ID)).scalar_one()
        if not 0 < size <= current:
            raise ValueError(f"size must be between 1 and the log size {current}, got {size}")
        if not 0 <= index < size:
            raise ValueError(f"index must be between 0 and size - 1 = {size - 1}, got {index}")
        return _proof(connection, inclusion_plan(index, size))


def consistency_hashes(engine: Engine, old: int, new: int) -> tuple[bytes, ...]:
    """Consistency proof from `old` to `new` leaves; ValueError on a bad range."""
    with engine.connect() as connection:
        current = connection.execute(select(log_state.c.size).where(log_state.c.log_id == _LOG_ID)).scalar_one()
        if not 0 <= new <= current:
            raise ValueError(f"new must be between 0 and the log size {current}, got {new}")
        if not 0 <= old <= new:
            raise ValueError(f"old must be between 0 and new = {new}, got {old}")
        return _proof(connection, consistency_plan(old, new))


def log_entries(engine: Engine, start: int, end: int) -> list[bytes]:
    """Leaf data of leaves [start, min(end, start + LOG_ENTRIES_PAGE_MAX)), recomputed from the records."""
    secret = pseudonym_secret(engine)
    with engine.connect() as connection:
        current = connection.execute(select(log_state.c.size).where(log_state.c.log_id == _LOG_ID)).scalar_one()
        if not 0 <= start <= end:
            raise ValueError(f"start must be between 0 and end = {end}, got {start}")
        if end > current:
            raise ValueError(f"end must be at most the log size {current}, got {end}")
        end = min(end, start + LOG_ENTRIES_PAGE_MAX)
        rows = connection.execute(
            select(usage_records.c.log_index, *_LEAF_COLUMNS)
            .where(usage_records.c.log_index >= start, usage_records.c.log_index < end)
            .order_by(usage_records.c.log_index)
        ).all()
    if [row.log_index for row in rows] != list(range(start, end)):
        raise LogIntegrityError(f"usage records of log entries [{start}, {end}) are missing from the store")
    return [leaf_data(row, secret) for row in rows]


def check_log(engine: Engine) -> LogCheck:
    """Recompute every leaf from its record and compare it with the stored leaf hash."""
    secret = pseudonym_secret(engine)
    mismatched, missing = [], []
    with engine.connect() as connection:
        size = connection.execute(select(log_state.c.size).where(log_state.c.log_id == _LOG_ID)).scalar_one()
        for start in range(0, size, LOG_CHECK_BATCH_MAX):
            end = min(size, start + LOG_CHECK_BATCH_MAX)
            stored = dict(connection.execute(
                select(log_subtrees.c.subtree_index, log_subtrees.c.hash)
                .where(log_subtrees.c.level == 0, log_subtrees.c.subtree_index >= start,
                       log_subtrees.c.subtree_index < end)
            ).all())
            rows = {row.log_index: row for row in connection.execute(
                select(usage_records.c.log_index, *_LEAF_COLUMNS)
                .where(usage_records.c.log_index >= start, usage_records.c.log_index < end)
            )}
            for index in range(start, end):
                if index not in rows or index not in stored:
                    missing.append(index)
                elif leaf_hash(leaf_data(rows[index], secret)) != bytes(stored[index]):
                    mismatched.append(index)
        root = _root(connection, size)
    return LogCheck(size, root, tuple(mismatched), tuple(missing))
