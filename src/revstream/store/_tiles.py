"""The stored log read as C2SP tlog-tiles (c2sp.org/tlog-tiles): hash tiles and entry
bundles straight from the rows the appender writes (see `_log`), bounded by the latest
signed checkpoint.

* A hash tile ``(L, N, W)`` is the rows ``log_subtrees(level = 8L, subtree_index in
  [256N, 256N + W))``; an entry bundle ``(N, W)`` the rows ``log_leaves(leaf_index in
  [256N, 256N + W))``. Each is one range scan on its table's primary key, in key order.
* A tile is served only when it lies wholly within the tree of the latest signed
  checkpoint: ``(256N + W) * 256**L <= size``. Every hash it holds is then the hash of a
  complete subtree below a signed size and every entry a stored leaf below it: rows that
  never change once appended, so the tile's bytes never change either (immutable). That
  covers every full tile and every partial tile of every signed size (the spec's MUST),
  and also partials of sizes between checkpoints, which are just as immutable.
* A tile the store should have but lacks (a missing row, a gap) is a `LogIntegrityError`,
  never a short tile.

Nothing here decides what a tile is: the pure core (`revstream.transparency`) names the
rows (`tile_subtrees`) and builds the bundle (`entry_bundle`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import Connection, Engine, select

from ..transparency import (
    EMPTY_ROOT,
    ENTRY_BUNDLE_LEVEL,
    ENTRY_SIZE_MAX,
    TILE_HEIGHT,
    TILE_WIDTH,
    FormatError,
    Tile,
    entry_bundle,
    tile_subtrees,
)
from ._log import LogIntegrityError, StoredCheckpoint, _latest, _root
from ._schema import log_leaves, log_subtrees

__all__ = ("read_tile", "read_tiles", "stored_root", "tile_end")


def tile_end(tile: Tile) -> int:
    """The number of leaves a tree needs for ``tile`` to be complete in it: the end of the
    last subtree (or entry) the tile holds."""
    level = 0 if tile.level == ENTRY_BUNDLE_LEVEL else tile.level
    return (tile.index * TILE_WIDTH + tile.width) << (TILE_HEIGHT * level)


def read_tile(engine: Engine, tile: Tile) -> tuple[bytes, StoredCheckpoint] | None:
    """The bytes of ``tile`` and the checkpoint it lies within, or None when no signed
    checkpoint contains it (not yet, or never: a tile beyond the log)."""
    with engine.connect() as connection:
        latest = _latest(connection)
        if latest is None or tile_end(tile) > latest.size:
            return None
        return _tile_bytes(connection, tile), latest


def read_tiles(engine: Engine, tiles: Iterable[Tile], size: int) -> Iterator[tuple[Tile, bytes]]:
    """The bytes of each tile, in the order given, over one connection; every tile must lie
    within a tree of ``size`` leaves that the store holds (ValueError otherwise)."""
    with engine.connect() as connection:
        for tile in tiles:
            if tile_end(tile) > size:
                raise ValueError(f"tile {tile} is not complete in a tree of {size} leaves")
            yield tile, _tile_bytes(connection, tile)


def stored_root(engine: Engine, size: int) -> bytes:
    """The root of the stored tree at ``size`` leaves (at most the log's size)."""
    if size == 0:
        return EMPTY_ROOT
    with engine.connect() as connection:
        return _root(connection, size)


def _tile_bytes(connection: Connection, tile: Tile) -> bytes:
    if tile.is_entry_bundle:
        return _bundle_bytes(connection, tile)
    level, first, count = tile_subtrees(tile)
    rows = connection.execute(
        select(log_subtrees.c.subtree_index, log_subtrees.c.hash)
        .where(log_subtrees.c.level == level, log_subtrees.c.subtree_index >= first,
               log_subtrees.c.subtree_index < first + count)
        .order_by(log_subtrees.c.subtree_index)
    ).all()
    if [row.subtree_index for row in rows] != list(range(first, first + count)):
        raise LogIntegrityError(f"the stored log lacks subtree hashes of level {level} in [{first}, {first + count})")
    return b"".join(bytes(row.hash) for row in rows)


def _bundle_bytes(connection: Connection, tile: Tile) -> bytes:
    first = tile.index * TILE_WIDTH
    rows = connection.execute(
        select(log_leaves.c.leaf_index, log_leaves.c.data)
        .where(log_leaves.c.leaf_index >= first, log_leaves.c.leaf_index < first + tile.width)
        .order_by(log_leaves.c.leaf_index)
    ).all()
    if [row.leaf_index for row in rows] != list(range(first, first + tile.width)):
        raise LogIntegrityError(f"the stored log lacks leaves in [{first}, {first + tile.width})")
    try:
        return entry_bundle([bytes(row.data) for row in rows])
    except FormatError as error:  # appends refuse such leaves (`_log`): only an edited store has one
        raise LogIntegrityError(f"a stored leaf in [{first}, {first + tile.width}) does not fit an entry "
                                f"bundle (at most {ENTRY_SIZE_MAX} bytes): {error}") from error
