"""Reading the stored transparency log: its size and latest checkpoint, proofs, the
prefix hashes a verifier folds a run of entries into, entries, and the full check.

Every function answers for a tree size at most the current one, from the stored
complete-subtree hashes (see `_log`); a bad range is a ValueError, a store that
contradicts itself a LogIntegrityError.
"""

from __future__ import annotations

from collections import defaultdict

import orjson
from sqlalchemy import Connection, Engine, select

from ..leaves import LeafKind
from ..transparency import consistency_plan, inclusion_plan, leaf_hash
from ._log import (
    _LOG_ID,
    LOG_CHECK_BATCH_MAX,
    LOG_ENTRIES_PAGE_MAX,
    LogCheck,
    LogIntegrityError,
    StoredCheckpoint,
    _compact_range,
    _fetch_subtrees,
    _latest,
    _proof,
    _root,
    pseudonym_secret,
)
from ._log_sources import SOURCE_OF_KIND
from ._schema import log_leaves, log_state, log_subtrees


def _current_size(connection: Connection) -> int:
    return connection.execute(select(log_state.c.size).where(log_state.c.log_id == _LOG_ID)).scalar_one()


def log_size(engine: Engine) -> int:
    with engine.connect() as connection:
        return _current_size(connection)


def latest_checkpoint(engine: Engine) -> StoredCheckpoint | None:
    with engine.connect() as connection:
        return _latest(connection)


def inclusion_hashes(engine: Engine, index: int, size: int) -> tuple[bytes, ...]:
    """Inclusion proof of leaf `index` in the tree of `size` leaves; ValueError on a bad range."""
    with engine.connect() as connection:
        current = _current_size(connection)
        if not 0 < size <= current:
            raise ValueError(f"size must be between 1 and the log size {current}, got {size}")
        if not 0 <= index < size:
            raise ValueError(f"index must be between 0 and size - 1 = {size - 1}, got {index}")
        return _proof(connection, inclusion_plan(index, size))


def consistency_hashes(engine: Engine, old: int, new: int) -> tuple[bytes, ...]:
    """Consistency proof from `old` to `new` leaves; ValueError on a bad range."""
    with engine.connect() as connection:
        current = _current_size(connection)
        if not 0 <= new <= current:
            raise ValueError(f"new must be between 0 and the log size {current}, got {new}")
        if not 0 <= old <= new:
            raise ValueError(f"old must be between 0 and new = {new}, got {old}")
        return _proof(connection, consistency_plan(old, new))


def prefix_hashes(engine: Engine, start: int) -> tuple[bytes, ...]:
    """The hashes of the complete subtrees tiling leaves [0, start), largest first: what a
    verifier holding entries [start, size) needs to recompute the root of size leaves
    (`revstream.transparency.CompactRange`). ValueError on a bad range."""
    with engine.connect() as connection:
        current = _current_size(connection)
        if not 0 <= start <= current:
            raise ValueError(f"start must be between 0 and the log size {current}, got {start}")
        pieces = _compact_range(start)
        hashes = _fetch_subtrees(connection, pieces)
    return tuple(hashes[piece] for piece in pieces)


def log_entries(engine: Engine, start: int, end: int) -> list[bytes]:
    """Leaf data of leaves [start, min(end, start + LOG_ENTRIES_PAGE_MAX)), as stored when appended."""
    with engine.connect() as connection:
        current = _current_size(connection)
        if not 0 <= start <= end:
            raise ValueError(f"start must be between 0 and end = {end}, got {start}")
        if end > current:
            raise ValueError(f"end must be at most the log size {current}, got {end}")
        end = min(end, start + LOG_ENTRIES_PAGE_MAX)
        rows = connection.execute(
            select(log_leaves.c.leaf_index, log_leaves.c.data)
            .where(log_leaves.c.leaf_index >= start, log_leaves.c.leaf_index < end)
            .order_by(log_leaves.c.leaf_index)
        ).all()
    if [row.leaf_index for row in rows] != list(range(start, end)):
        raise LogIntegrityError(f"leaves of log entries [{start}, {end}) are missing from the store")
    return [bytes(row.data) for row in rows]


def check_log(engine: Engine) -> LogCheck:
    """Every stored leaf hashes to its stored hash, and the row it projects still projects
    to it under the leaf's own version (a changed or deleted row is found)."""
    secret = pseudonym_secret(engine)
    mismatched, missing = [], []
    with engine.connect() as connection:
        size = _current_size(connection)
        for start in range(0, size, LOG_CHECK_BATCH_MAX):
            end = min(size, start + LOG_CHECK_BATCH_MAX)
            bad, absent = _check_batch(connection, start, end, secret)
            mismatched += bad
            missing += absent
        root = _root(connection, size)
    return LogCheck(size, root, tuple(sorted(mismatched)), tuple(sorted(missing)))


def _check_batch(connection: Connection, start: int, end: int, secret: bytes) -> tuple[list[int], list[int]]:
    hashes = dict(connection.execute(
        select(log_subtrees.c.subtree_index, log_subtrees.c.hash)
        .where(log_subtrees.c.level == 0, log_subtrees.c.subtree_index >= start, log_subtrees.c.subtree_index < end)
    ).all())
    leaves = {row.leaf_index: row for row in connection.execute(
        select(log_leaves).where(log_leaves.c.leaf_index >= start, log_leaves.c.leaf_index < end))}
    by_kind: dict[str, list] = defaultdict(list)
    for row in leaves.values():
        by_kind[row.kind].append(row)
    sources = {kind: SOURCE_OF_KIND[LeafKind(kind)].rows(connection, [row.source_id for row in rows])
               for kind, rows in by_kind.items() if kind in SOURCE_OF_KIND}
    mismatched, missing = [], []
    for index in range(start, end):
        leaf = leaves.get(index)
        if leaf is None or index not in hashes:
            missing.append(index)
            continue
        data = bytes(leaf.data)
        if leaf_hash(data) != bytes(hashes[index]):
            mismatched.append(index)
        elif leaf.kind in sources:
            row = sources[leaf.kind].get(leaf.source_id)
            if row is None:
                missing.append(index)
            elif _reprojected(leaf, row, secret) != data:
                mismatched.append(index)
    return mismatched, missing


def _reprojected(leaf, row, secret: bytes) -> bytes:
    source = SOURCE_OF_KIND[LeafKind(leaf.kind)]
    keys = frozenset(orjson.loads(leaf.data))
    return source.reproject(row, secret, leaf.version, keys)
