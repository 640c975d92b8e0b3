"""C2SP tlog-tiles: paths, the spec's examples, and tiles that reproduce MerkleTree exactly."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.transparency import (
    ENTRY_BUNDLE_LEVEL,
    ENTRY_SIZE_MAX,
    Checkpoint,
    FormatError,
    MerkleTree,
    ProofError,
    Tile,
    TileReader,
    TreeRangeError,
    build_tiles,
    entry_bundle,
    leaf_hash,
    new_tiles,
    parse_entry_bundle,
    parse_tile_path,
    tile_data,
    tile_hash,
    tile_hashes,
    tile_path,
    tile_subtrees,
    tiles_for_size,
    verify_consistency,
    verify_inclusion,
    verify_tiled_entries,
)


def _entries(size: int) -> list[bytes]:
    return [b"entry %d " % index + bytes(index % 7) for index in range(size)]


def _log(size: int) -> tuple[MerkleTree, list[bytes], dict[str, bytes]]:
    entries = _entries(size)
    tree = MerkleTree()
    tree.extend(entries)
    tiles = {tile_path(tile): data for tile, data in build_tiles(size, tree.subtree_hash, entries)}
    return tree, entries, tiles


@pytest.fixture(scope="module")
def big() -> tuple[MerkleTree, list[bytes], dict[str, bytes]]:
    return _log(70_000)


@pytest.mark.parametrize(("tile", "path"), [
    (Tile(0, 1234067, 256), "tile/0/x001/x234/067"),
    (Tile(0, 5, 256), "tile/0/005"),
    (Tile(3, 1000, 256), "tile/3/x001/000"),
    (Tile(0, 1234067, 8), "tile/0/x001/x234/067.p/8"),
    (Tile(63, 0, 255), "tile/63/000.p/255"),
    (Tile(ENTRY_BUNDLE_LEVEL, 1234067, 256), "tile/entries/x001/x234/067"),
    (Tile(ENTRY_BUNDLE_LEVEL, 0, 1), "tile/entries/000.p/1"),
])
def test_paths_are_the_specs(tile: Tile, path: str) -> None:
    assert tile_path(tile) == path
    assert parse_tile_path(path) == tile


@pytest.mark.parametrize("path", [
    "tile/00/005", "tile/64/000", "tile/0/x000/005", "tile/0/1234", "tile/0/05", "tile/0/005.p/256",
    "tile/0/005.p/0", "tile/0/005.p/08", "tile/0/005.p/", "tile/0/005/", "/tile/0/005", "tile/0/x001",
    "tile/data/005", "tile/entries/005.p/300", "tile/-1/005", "tile/0/００５", 17,
])
def test_non_canonical_paths_are_refused(path) -> None:
    with pytest.raises(FormatError):
        parse_tile_path(path)


@given(st.integers(-1, 63), st.integers(0, 10**15), st.integers(1, 256))
def test_every_tile_path_parses_back(level: int, index: int, width: int) -> None:
    assert parse_tile_path(tile_path(Tile(level, index, width))) == Tile(level, index, width)


def test_the_specs_size_examples() -> None:
    assert Counter((tile.level, tile.width) for tile in tiles_for_size(70_000)) == {
        (0, 256): 273, (0, 112): 1, (1, 256): 1, (1, 17): 1, (2, 1): 1}
    assert list(tiles_for_size(256)) == [Tile(0, 0, 256), Tile(1, 0, 1)]
    assert list(tiles_for_size(0)) == []


def test_a_full_tile_hashes_to_its_entry_in_the_level_above(big) -> None:
    tree, _, tiles = big
    level1 = tile_hashes(tiles["tile/1/000"])
    assert tile_hash(tiles["tile/0/005"]) == level1[5] == tree.subtree_hash(8, 5)
    assert tile_hash(tiles["tile/1/000"]) == tree.subtree_hash(16, 0)
    assert tile_subtrees(Tile(1, 1, 17)) == (8, 256, 17)
    assert tile_data(Tile(1, 1, 17), tree.subtree_hash) == tiles["tile/1/001.p/17"]


def _check_against_tree(size: int, indices) -> None:
    tree, entries, tiles = _log(size)
    fetched = []
    reader = TileReader(size, lambda path: fetched.append(path) or tiles.get(path))
    assert reader.root() == tree.root()
    for index in indices:
        assert reader.inclusion_proof(index) == tree.inclusion_proof(index)
        assert reader.root(index + 1) == tree.root(index + 1)
        assert reader.consistency_proof(index + 1) == tree.consistency_proof(index + 1)
        assert reader.consistency_proof(index, index + 1) == tree.consistency_proof(index, index + 1)
    expected = {tile_path(tile) for tile in tiles_for_size(size)}
    assert set(fetched) <= expected  # never a tile the tree of `size` does not have
    assert list(reader.entries(0, size)) == entries


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 1300))
def test_tiles_give_the_in_memory_root_and_every_proof(size: int) -> None:
    _check_against_tree(size, range(size))


@pytest.mark.parametrize("size", [65535, 65536, 65537, 65536 + 256 * 3 + 5])
def test_tiles_across_level_two(size: int) -> None:
    _check_against_tree(size, [0, 255, 256, 4097, 65535 % size, size - 257, size - 2, size - 1])


def test_proofs_from_tiles_verify_against_the_root(big) -> None:
    tree, entries, tiles = big
    reader = TileReader(70_000, tiles.get)
    root = tree.root()
    for index in (0, 65_535, 65_536, 69_999):
        verify_inclusion(leaf_hash(entries[index]), index, 70_000, reader.inclusion_proof(index), root)
        verify_consistency(index + 1, 70_000, reader.consistency_proof(index + 1), tree.root(index + 1), root)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 700), min_size=1, max_size=6))
def test_new_tiles_over_growth_cover_every_tile(steps: list[int]) -> None:
    size, seen = 0, set()
    for step in steps:
        added = list(new_tiles(size, size + step))
        assert len(added) == len(set(added))
        seen.update(added)
        size += step
    final = set(tiles_for_size(size))
    assert final <= seen
    assert {tile for tile in final if tile.level == 0} == {
        Tile(0, tile.index, tile.width) for tile in seen if tile.is_entry_bundle} & final
    with pytest.raises(TreeRangeError):
        list(new_tiles(size + 1, size))


def test_entry_bundles_round_trip_and_refuse_malformed_bytes() -> None:
    entries = (b"", b"a", bytes(ENTRY_SIZE_MAX))
    data = entry_bundle(entries)
    assert data[:2] == b"\x00\x00" and data[2:5] == b"\x00\x01a"
    assert parse_entry_bundle(data) == entries
    assert parse_entry_bundle(data, 3) == entries
    for bad in (data[:-1], data + b"\x00", b"", data + b"\x00\x05ab"):
        with pytest.raises(FormatError):
            parse_entry_bundle(bad)
    with pytest.raises(FormatError):
        parse_entry_bundle(data, 2)
    with pytest.raises(FormatError):
        parse_entry_bundle(entry_bundle([b"x"] * 256) + b"\x00\x00")
    for bad_entries in ([bytes(ENTRY_SIZE_MAX + 1)], [], [b"x"] * 257, ["text"]):
        with pytest.raises(FormatError):
            entry_bundle(bad_entries)


def test_tiled_entries_are_proven_against_the_checkpoint(big) -> None:
    tree, entries, tiles = big
    checkpoint = Checkpoint("host.test/log", 70_000, tree.root())
    for start, end in ((0, 70_000), (300, 66_000), (69_999, 70_000), (65_536, 65_537), (5, 5)):
        assert verify_tiled_entries(checkpoint, start, end, tiles.get) == tuple(entries[start:end])
    with pytest.raises(ProofError):
        verify_tiled_entries(Checkpoint("host.test/log", 70_000, bytes(32)), 0, 10, tiles.get)
    with pytest.raises(ProofError):
        verify_tiled_entries(checkpoint, 10, 70_001, tiles.get)


def _tampered(tiles: dict[str, bytes], path: str, offset: int) -> dict[str, bytes]:
    data = bytearray(tiles[path])
    data[offset] ^= 1
    return {**tiles, path: bytes(data)}


# Entries [69,000, 69,700) of 70,000: the compact range of 69,000 reads tile/2/000.p/1
# (leaves 0..65,535), tile/1/001.p/17 (up to 68,864) and tile/0/269 (up to 69,000); the
# consistency proof to 70,000 reads tile/0/272 and tile/0/273.p/112.
@pytest.mark.parametrize(("path", "offset"), [
    ("tile/entries/272", 40),       # an entry of the range
    ("tile/0/269", 10),             # leaf 68,864: in a prefix subtree left of the range
    ("tile/1/001.p/17", 50),        # a prefix subtree hash at level 8
    ("tile/2/000.p/1", 0),          # the first 65,536 leaves' subtree
    ("tile/0/272", 8000),           # leaf 69,882: in the consistency proof
    ("tile/0/273.p/112", 3000),     # leaf 69,981: in the partial tile on the right edge
])
def test_a_tampered_tile_is_caught(big, path: str, offset: int) -> None:
    tree, entries, tiles = big
    checkpoint = Checkpoint("host.test/log", 70_000, tree.root())
    assert verify_tiled_entries(checkpoint, 69_000, 69_700, tiles.get) == tuple(entries[69_000:69_700])
    with pytest.raises(ProofError):
        verify_tiled_entries(checkpoint, 69_000, 69_700, _tampered(tiles, path, offset).get)


def test_a_root_from_tampered_tiles_differs(big) -> None:
    tree, _, tiles = big
    for path in ("tile/2/000.p/1", "tile/1/001.p/17", "tile/0/273.p/112"):
        assert TileReader(70_000, _tampered(tiles, path, 0).get).root() != tree.root()


def test_missing_and_wrong_sized_tiles_are_errors(big) -> None:
    _, _, tiles = big
    without = {path: data for path, data in tiles.items() if path != "tile/0/273.p/112"}
    with pytest.raises(ProofError, match="does not serve"):
        TileReader(70_000, without.get).root()
    short = {**tiles, "tile/1/001.p/17": tiles["tile/1/001.p/17"][:-32]}
    with pytest.raises(ProofError, match="tile/1/001.p/17"):
        TileReader(70_000, short.get).root()
    with pytest.raises(TreeRangeError):
        TileReader(70_000, tiles.get).subtree_hash(17, 0)


def test_a_dropped_partial_tile_is_read_from_the_full_one(big) -> None:
    tree, entries, tiles = big
    # A checkpoint of 69,900 leaves needs tile/0/273.p/12 and tile/entries/273.p/12; the log
    # has since grown to 70,144 and dropped them (the spec allows it) for the full tile 273.
    grown = {path: data for path, data in _log(70_144)[2].items() if ".p/" not in path}
    grown.update({path: tiles[path] for path in ("tile/1/001.p/17", "tile/2/000.p/1")})
    assert "tile/0/273.p/12" not in grown and "tile/0/273" in grown
    assert TileReader(69_900, grown.get).root() == tree.root(69_900)
    checkpoint = Checkpoint("host.test/log", 69_900, tree.root(69_900))
    assert verify_tiled_entries(checkpoint, 69_800, 69_900, grown.get) == tuple(entries[69_800:69_900])
