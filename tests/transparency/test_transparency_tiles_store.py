"""The stored log read as C2SP tlog-tiles (`revstream.store.read_tile`), on SQLite and the
real PostgreSQL: every tile equals the one the pure core builds from the same leaves, only
tiles within the latest signed checkpoint are served, a gap in the store is an error, and a
leaf too long for an entry bundle is refused at append."""

from __future__ import annotations

import json

import pytest
from conftest import create_postgres_database, drop_postgres_database
from sqlalchemy import delete, insert, select

from revstream.leaves import LeafKind
from revstream.store import (
    CheckpointPolicy,
    LeafTooLarge,
    LogIntegrityError,
    append_log,
    inclusion_hashes,
    init_log_key,
    latest_checkpoint,
    log_size,
    make_engine,
    read_tile,
    read_tiles,
    stored_root,
    upgrade,
)
from revstream.store._log import _append_leaves, _latest, _locked, _sign
from revstream.store._log_sources import Leaf
from revstream.store._schema import fees, log_subtrees
from revstream.transparency import (
    ENTRY_BUNDLE_LEVEL,
    ENTRY_SIZE_MAX,
    MerkleTree,
    Tile,
    TileReader,
    build_tiles,
    parse_tile_path,
    tiles_for_size,
)

NOW_US = 1_780_000_000_000_000
FIRST_SIZE = 65_600  # level 2 exists (>= 65,536 leaves); partials at level 0 and 2 only
SIZE = 70_000  # the spec's example: 273 full level-0 tiles, partials of 112, 17 and 1
UNSIGNED = 300  # leaves appended after the last checkpoint
APPEND_BATCH = 5_000


def _entry(index: int) -> bytes:
    return b'{"kind":"usage","n":%d,"pad":"%s"}' % (index, b"x" * (index % 97))


def _append(engine, start: int, end: int, sign: bool) -> None:
    for first in range(start, end, APPEND_BATCH):
        last = min(end, first + APPEND_BATCH)
        leaves = [Leaf(LeafKind.USAGE, 2, f"synthetic-{n}", _entry(n)) for n in range(first, last)]
        with _locked(engine) as (connection, size, _floor):
            assert size == first
            _append_leaves(connection, size, leaves, NOW_US)
    if sign:
        with _locked(engine) as (connection, size, _floor):
            _sign(connection, size, _latest(connection), NOW_US + end)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def tiled(request, tmp_path_factory):
    """A log of SIZE synthetic leaves with checkpoints at FIRST_SIZE and SIZE, then UNSIGNED
    more; built once per store for the module (the tests only read it)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('tiles') / 'store.db'}"
    else:
        url = create_postgres_database()
    engine = make_engine(url)
    try:
        upgrade(engine)
        init_log_key(engine, "tiles.test/log", NOW_US)
        _append(engine, 0, FIRST_SIZE, sign=True)
        _append(engine, FIRST_SIZE, SIZE, sign=True)
        _append(engine, SIZE, SIZE + UNSIGNED, sign=False)
        tree = MerkleTree()
        for index in range(SIZE + UNSIGNED):
            tree.append(_entry(index))
        yield engine, tree
    finally:
        engine.dispose()
        if request.param == "postgres":
            drop_postgres_database(url)


def _entries(count: int) -> list[bytes]:
    return [_entry(index) for index in range(count)]


def test_every_tile_of_every_signed_size_is_the_tile_the_pure_core_builds(tiled):
    engine, tree = tiled
    assert latest_checkpoint(engine).size == SIZE and log_size(engine) == SIZE + UNSIGNED
    for size in (FIRST_SIZE, SIZE):
        expected = dict(build_tiles(size, tree.subtree_hash, _entries(size)))
        levels = {tile.level for tile in expected}
        assert levels == {ENTRY_BUNDLE_LEVEL, 0, 1, 2}
        served = {tile: read_tile(engine, tile) for tile in expected}
        assert {tile: found[0] for tile, found in served.items()} == expected
        assert {found[1].size for found in served.values()} == {SIZE}
    partials = {tile for tile in tiles_for_size(SIZE) if tile.is_partial}
    assert partials == {Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)}


def test_a_tile_reader_over_the_store_gives_the_checkpoints_root_and_the_stores_proofs(tiled):
    engine, _ = tiled
    checkpoint = latest_checkpoint(engine)
    reader = TileReader(checkpoint.size, lambda path: (read_tile(engine, parse_tile_path(path)) or (None,))[0])
    assert reader.root() == checkpoint.root == stored_root(engine, SIZE)
    assert reader.root(FIRST_SIZE) == stored_root(engine, FIRST_SIZE)
    for index in (0, 255, 256, 65_535, 65_536, SIZE - 1):
        assert reader.inclusion_proof(index) == inclusion_hashes(engine, index, SIZE)
    assert list(reader.entries(SIZE - 3, SIZE)) == [_entry(n) for n in range(SIZE - 3, SIZE)]


@pytest.mark.parametrize("tile", [
    Tile(0, 273, 113),  # one leaf past the checkpoint (the store has it, unsigned)
    Tile(0, 273, 256),  # the full tile: complete in the store only after more leaves
    Tile(ENTRY_BUNDLE_LEVEL, 273, 113),
    Tile(1, 1, 18),
    Tile(2, 0, 2),
    Tile(3, 0, 1),  # needs 2**32 leaves
    Tile(0, 10**9, 256),
])
def test_a_tile_beyond_the_latest_checkpoint_is_not_served(tiled, tile):
    engine, _ = tiled
    assert read_tile(engine, tile) is None


def test_a_store_without_a_checkpoint_serves_no_tile(engine):
    assert read_tile(engine, Tile(0, 0, 1)) is None and latest_checkpoint(engine) is None


def test_a_missing_row_is_an_integrity_error_never_a_short_tile(engine):
    init_log_key(engine, "tiles.test/log", NOW_US)
    _append(engine, 0, 600, sign=True)
    with engine.begin() as connection:
        connection.execute(delete(log_subtrees).where(log_subtrees.c.level == 0, log_subtrees.c.subtree_index == 300))
    assert read_tile(engine, Tile(0, 0, 256))[0]
    with pytest.raises(LogIntegrityError, match="level 0"):
        read_tile(engine, Tile(0, 1, 256))
    with pytest.raises(LogIntegrityError):
        list(read_tiles(engine, [Tile(0, 0, 256), Tile(0, 1, 100)], 600))
    with pytest.raises(ValueError, match="not complete"):
        list(read_tiles(engine, [Tile(0, 2, 89)], 600))


def test_a_leaf_longer_than_an_entry_bundle_carries_is_refused_at_append(engine):
    init_log_key(engine, "tiles.test/log", NOW_US)
    longest = Leaf(LeafKind.USAGE, 2, "fits", b"{" + b"x" * (ENTRY_SIZE_MAX - 2) + b"}")
    with _locked(engine) as (connection, size, _floor):
        _append_leaves(connection, size, [longest], NOW_US)
    assert log_size(engine) == 1
    # A real source: a fee whose models list makes its leaf too long for a bundle.
    models = [f"model-{n:05d}-" + "m" * 60 for n in range(1_200)]
    with engine.begin() as connection:
        connection.execute(insert(fees).values(
            fee_id="fee_huge", period="2026-01", customer_id="cus_1", plan_id="plan_1", fee_kind="subscription",
            stream="subscription", currency="USD", amount_exact="1000", from_us=NOW_US, to_us=NOW_US + 1,
            models=json.dumps(models), created_us=NOW_US))
    with pytest.raises(LeafTooLarge, match="fee_huge"):
        append_log(engine, CheckpointPolicy(interval_us=0, records=1), NOW_US)
    assert log_size(engine) == 1, "the append is refused whole"
    with engine.connect() as connection:
        assert connection.execute(select(fees.c.log_index).where(fees.c.fee_id == "fee_huge")).scalar() is None
