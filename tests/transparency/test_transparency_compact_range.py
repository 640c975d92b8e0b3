"""Compact ranges: entries [start, size) plus the prefix hashes rebuild the signed root, and
any wrong prefix hash, leaf, order or count changes it."""

from __future__ import annotations

import pytest

from revstream.transparency import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    ProofError,
    TreeRangeError,
    compact_range,
    leaf_hash,
    root_hash,
)

LEAVES = [f"leaf {i}".encode() for i in range(40)]


def _tree(count: int) -> MerkleTree:
    tree = MerkleTree()
    tree.extend(LEAVES[:count])
    return tree


def _prefix(tree: MerkleTree, start: int) -> list[bytes]:
    return [tree.subtree_hash(piece.level, piece.index) for piece in compact_range(start)]


def test_compact_range_tiles_the_prefix_largest_first() -> None:
    assert compact_range(0) == ()
    assert [tuple(p) for p in compact_range(13)] == [(3, 0), (2, 2), (0, 12)]
    for size in range(1, 70):
        pieces = compact_range(size)
        covered = [(p.index << p.level, (p.index + 1) << p.level) for p in pieces]
        assert covered[0][0] == 0 and covered[-1][1] == size
        assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))
    with pytest.raises(TreeRangeError):
        compact_range(-1)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 7, 8, 9, 31, 40])
def test_every_start_rebuilds_the_root(size: int) -> None:
    tree = _tree(size)
    for start in range(size + 1):
        compact = CompactRange(start, _prefix(tree, start))
        compact.extend_hashes(leaf_hash(data) for data in LEAVES[start:size])
        assert compact.size == size
        assert compact.root() == root_hash(LEAVES[:size]) == tree.root()
    assert CompactRange(0, []).root() == EMPTY_ROOT


def test_any_change_changes_the_root() -> None:
    tree, start, size = _tree(29), 11, 29
    want = tree.root()

    def rebuilt(prefix, leaves) -> bytes:
        compact = CompactRange(start, prefix)
        compact.extend_hashes(leaf_hash(data) for data in leaves)
        return compact.root()

    prefix, leaves = _prefix(tree, start), LEAVES[start:size]
    assert rebuilt(prefix, leaves) == want
    for position in range(len(prefix)):
        bad = list(prefix)
        bad[position] = bytes([bad[position][0] ^ 1]) + bad[position][1:]
        assert rebuilt(bad, leaves) != want
    assert rebuilt(prefix, leaves[:-1]) != want  # one missing
    assert rebuilt(prefix, leaves[1:] + leaves[:1]) != want  # reordered
    changed = list(leaves)
    changed[5] = b"changed"
    assert rebuilt(prefix, changed) != want


def test_a_prefix_of_the_wrong_shape_is_refused() -> None:
    tree = _tree(8)
    with pytest.raises(ProofError):
        CompactRange(5, _prefix(tree, 4))
    with pytest.raises(ProofError):
        CompactRange(1, [b"short"])
