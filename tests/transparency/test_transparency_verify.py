"""Proof verification rejects every corruption: bit flips, wrong index/size/root, bad length."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.transparency import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

TREE_SIZE = 40
LEAVES = tuple(f"entry {i}".encode() for i in range(TREE_SIZE))
INCLUSION_CASES = ((0, 1), (0, 2), (1, 2), (0, 7), (6, 7), (3, 8), (5, 13), (12, 13), (17, 32), (39, 40))
CONSISTENCY_CASES = ((1, 2), (1, 7), (2, 7), (3, 7), (4, 8), (6, 8), (5, 13), (8, 32), (13, 40), (31, 33))


@pytest.fixture(scope="module")
def tree() -> MerkleTree:
    built = MerkleTree()
    built.extend(LEAVES)
    return built


def _flip(value: bytes, bit: int) -> bytes:
    mutated = bytearray(value)
    mutated[bit // 8] ^= 1 << (bit % 8)
    return bytes(mutated)


# --- Naive reference verifiers, read straight off RFC 9162's recursive PATH and SUBPROOF -------

def _h(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _ref_inclusion_root(m: int, n: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """Root that PATH(m, D[n]) = path implies, or None if the path has the wrong length."""
    if n == 1:
        return leaf if not path else None
    if not path:
        return None
    k = _k(n)
    top, rest = path[-1], path[:-1]
    if m < k:
        below = _ref_inclusion_root(m, k, leaf, rest)
        return None if below is None else _h(below, top)
    below = _ref_inclusion_root(m - k, n - k, leaf, rest)
    return None if below is None else _h(top, below)


def _ref_consistency_roots(
    m: int, n: int, path: list[bytes], known: bool, root1: bytes
) -> tuple[bytes, bytes] | None:
    """(old root, new root) that SUBPROOF(m, D[n], known) = path implies, or None."""
    if m == n:
        if known:
            return (root1, root1) if not path else None
        return (path[0], path[0]) if len(path) == 1 else None
    if not path:
        return None
    k = _k(n)
    top, rest = path[-1], path[:-1]
    if m <= k:
        below = _ref_consistency_roots(m, k, rest, known, root1)
        return None if below is None else (below[0], _h(below[1], top))
    below = _ref_consistency_roots(m - k, n - k, rest, False, root1)
    return None if below is None else (_h(top, below[0]), _h(top, below[1]))


@pytest.mark.parametrize(("index", "size"), INCLUSION_CASES)
def test_inclusion_rejects_every_single_bit_flip(tree: MerkleTree, index: int, size: int) -> None:
    proof = tree.inclusion_proof(index, size)
    root = tree.root(size)
    leaf = leaf_hash(LEAVES[index])
    verify_inclusion(leaf, index, size, proof, root)
    for position, bit in itertools.product(range(len(proof)), range(256)):
        mutated = proof[:position] + (_flip(proof[position], bit),) + proof[position + 1 :]
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, mutated, root)
    for bit in range(256):
        with pytest.raises(ProofError):
            verify_inclusion(_flip(leaf, bit), index, size, proof, root)
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, proof, _flip(root, bit))


@pytest.mark.parametrize(("index", "size"), INCLUSION_CASES)
def test_inclusion_with_other_index_or_size_agrees_with_reference(
    tree: MerkleTree, index: int, size: int
) -> None:
    """A proof is bound to its (index, size) only as far as its shape is: a leftmost leaf's
    proof also fits neighbouring sizes (the checkpoint signature authenticates the size).
    So: accept exactly when the naive reference verifier accepts, and never accept a
    different index."""
    proof = tree.inclusion_proof(index, size)
    root = tree.root(size)
    leaf = leaf_hash(LEAVES[index])
    for other in range(size + 2):
        if other != index:
            with pytest.raises(ProofError):
                verify_inclusion(leaf, other, size, proof, root)
    other_sizes = [n for n in range(index + 1, TREE_SIZE + 1) if n != size]
    rejected = 0
    for other_size in other_sizes:
        accepted = _ref_inclusion_root(index, other_size, leaf, list(proof)) == root
        rejected += not accepted
        if accepted:
            verify_inclusion(leaf, index, other_size, proof, root)
        else:
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, other_size, proof, root)
    assert rejected > 0 or not other_sizes


@pytest.mark.parametrize(("index", "size"), INCLUSION_CASES)
def test_inclusion_rejects_truncated_or_extended_proofs(tree: MerkleTree, index: int, size: int) -> None:
    proof = tree.inclusion_proof(index, size)
    root = tree.root(size)
    leaf = leaf_hash(LEAVES[index])
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof + (root,), root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof + (b"\x00" * 32,), root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, (b"\x00" * 32,) + proof, root)
    if proof:
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, proof[:-1], root)
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, proof[1:], root)


@pytest.mark.parametrize(("size1", "size2"), CONSISTENCY_CASES)
def test_consistency_rejects_every_single_bit_flip(tree: MerkleTree, size1: int, size2: int) -> None:
    proof = tree.consistency_proof(size1, size2)
    root1, root2 = tree.root(size1), tree.root(size2)
    verify_consistency(size1, size2, proof, root1, root2)
    for position, bit in itertools.product(range(len(proof)), range(256)):
        mutated = proof[:position] + (_flip(proof[position], bit),) + proof[position + 1 :]
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, mutated, root1, root2)
    for bit in range(256):
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof, _flip(root1, bit), root2)
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof, root1, _flip(root2, bit))


@pytest.mark.parametrize(("size1", "size2"), CONSISTENCY_CASES)
def test_consistency_with_other_sizes_agrees_with_reference(
    tree: MerkleTree, size1: int, size2: int
) -> None:
    """Accept exactly when the naive reference verifier (from RFC 9162 SUBPROOF) accepts."""
    proof = tree.consistency_proof(size1, size2)
    root1, root2 = tree.root(size1), tree.root(size2)
    rejected = 0
    for other1, other2 in itertools.product(range(1, TREE_SIZE + 1), repeat=2):
        if (other1, other2) != (size1, size2) and other1 < other2:
            accepted = _ref_consistency_roots(other1, other2, list(proof), True, root1) == (root1, root2)
            rejected += not accepted
            if accepted:
                verify_consistency(other1, other2, proof, root1, root2)
            else:
                with pytest.raises(ProofError):
                    verify_consistency(other1, other2, proof, root1, root2)
    assert rejected > 0


@pytest.mark.parametrize(("size1", "size2"), CONSISTENCY_CASES)
def test_consistency_rejects_truncated_extended_or_swapped(tree: MerkleTree, size1: int, size2: int) -> None:
    proof = tree.consistency_proof(size1, size2)
    root1, root2 = tree.root(size1), tree.root(size2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof + (root1,), root1, root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, (root1,) + proof, root1, root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof[:-1], root1, root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof[1:], root1, root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, (), root1, root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root2, root1)


def test_consistency_edge_cases(tree: MerkleTree) -> None:
    root5 = tree.root(5)
    verify_consistency(5, 5, (), root5, root5)
    with pytest.raises(ProofError):
        verify_consistency(5, 5, (root5,), root5, root5)
    with pytest.raises(ProofError):
        verify_consistency(5, 5, (), root5, tree.root(6))
    verify_consistency(0, 0, (), EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(ProofError):
        verify_consistency(0, 0, (), EMPTY_ROOT, root5)  # equal sizes, different roots
    with pytest.raises(ProofError):
        verify_consistency(0, 0, (EMPTY_ROOT,), EMPTY_ROOT, EMPTY_ROOT)
    # From the empty tree there is no proof to check: rejected whatever is passed
    # (transparency-dev/merkle: "a consistency proof from an empty tree is meaningless").
    for size2 in (1, 5, TREE_SIZE):
        root2 = tree.root(size2)
        for proof in ((), (root2,), tree.consistency_proof(0, size2)):
            with pytest.raises(ProofError, match="empty tree"):
                verify_consistency(0, size2, proof, EMPTY_ROOT, root2)
    with pytest.raises(ProofError):
        verify_consistency(0, 5, (), root5, root5)  # root1 is not the empty root
    with pytest.raises(ProofError, match="empty"):  # 0 < size1 < size2 needs a proof
        verify_consistency(1, 2, (), tree.root(1), tree.root(2))
    with pytest.raises(ProofError):
        verify_consistency(6, 5, tree.consistency_proof(5, 6), tree.root(6), root5)


@pytest.mark.parametrize(
    "args",
    [
        (b"\x00" * 31, 0, 1, (), b"\x00" * 32),  # short leaf hash
        (b"\x00" * 32, 0, 1, (), b"\x00" * 33),  # long root
        (b"\x00" * 32, 0, 0, (), EMPTY_ROOT),  # index >= size
        (b"\x00" * 32, -1, 1, (), b"\x00" * 32),  # negative index
        (b"\x00" * 32, 0, 2**64, (), b"\x00" * 32),  # size beyond uint64
        (b"\x00" * 32, True, 2, (b"\x00" * 32,), b"\x00" * 32),  # bool is not an index
        (b"\x00" * 32, 0, 2, b"\x00" * 32, b"\x00" * 32),  # proof as one bytes string
        (b"\x00" * 32, 0, 2, ("x" * 32,), b"\x00" * 32),  # proof item of wrong type
        (b"\x00" * 32, 0, 2, (b"\x00" * 32,) * 66, b"\x00" * 32),  # too many hashes
    ],
)
def test_malformed_inclusion_arguments(args: tuple[object, ...]) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(*args)  # type: ignore[arg-type]


def test_single_leaf_tree_has_empty_proof(tree: MerkleTree) -> None:
    leaf = leaf_hash(LEAVES[0])
    verify_inclusion(leaf, 0, 1, (), leaf)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, 0, 1, (leaf,), leaf)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_random_corruptions_agree_with_reference(tree: MerkleTree, data: st.DataObject) -> None:
    """Drop, duplicate or replace proof hashes at random: accept exactly when the reference does."""
    size = data.draw(st.integers(1, TREE_SIZE))
    index = data.draw(st.integers(0, size - 1))
    pool = [tree.subtree_hash(0, i) for i in range(TREE_SIZE)] + list(tree.inclusion_proof(index, size))
    proof = data.draw(st.lists(st.sampled_from(pool), max_size=8))
    claimed_index = data.draw(st.integers(0, size - 1))
    leaf, root = leaf_hash(LEAVES[index]), tree.root(size)
    if _ref_inclusion_root(claimed_index, size, leaf, proof) == root:
        verify_inclusion(leaf, claimed_index, size, proof, root)
    else:
        with pytest.raises(ProofError):
            verify_inclusion(leaf, claimed_index, size, proof, root)
    size1 = data.draw(st.integers(1, size))
    root1 = tree.root(size1)
    if size1 < size and _ref_consistency_roots(size1, size, proof, True, root1) == (root1, root):
        verify_consistency(size1, size, proof, root1, root)
    elif proof or size1 < size:
        with pytest.raises(ProofError):
            verify_consistency(size1, size, proof, root1, root)
