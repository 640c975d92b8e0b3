"""Merkle tree hashing and proof generation against RFC 6962 data and a naive RFC 9162 reference."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.transparency import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    Subtree,
    SubtreeSource,
    TreeRangeError,
    consistency_plan,
    consistency_proof,
    inclusion_plan,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

DATA = json.loads((Path(__file__).parent / "data" / "rfc6962_roots.json").read_text())
RFC6962_LEAVES = tuple(bytes.fromhex(leaf) for leaf in DATA["leaf_inputs_hex"])
RFC6962_ROOTS = tuple(bytes.fromhex(root) for root in DATA["root_hash_hex_by_tree_size"])
EXHAUSTIVE_SIZE_MAX = 64
LEAVES = tuple(f"leaf {i}".encode() for i in range(EXHAUSTIVE_SIZE_MAX))


# --- Naive reference, written straight from RFC 9162 §2.1's recursive definitions -----------

def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """Largest power of two strictly smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@lru_cache(maxsize=None)
def ref_mth(leaves: tuple[bytes, ...]) -> bytes:
    if len(leaves) == 0:
        return _sha(b"")
    if len(leaves) == 1:
        return _sha(b"\x00" + leaves[0])
    k = _k(len(leaves))
    return _sha(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:]))


def ref_path(m: int, leaves: tuple[bytes, ...]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return ref_path(m, leaves[:k]) + [ref_mth(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: tuple[bytes, ...], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [ref_mth(leaves)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, leaves[:k], b) + [ref_mth(leaves[k:])]
    return ref_subproof(m - k, leaves[k:], False) + [ref_mth(leaves[:k])]


def ref_proof(m: int, leaves: tuple[bytes, ...]) -> list[bytes]:
    return ref_subproof(m, leaves, True)


# --- Fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tree() -> MerkleTree:
    built = MerkleTree()
    built.extend(LEAVES)
    return built


# --- Hashing --------------------------------------------------------------------------------

def test_data_file_keeps_its_source() -> None:
    assert "transparency-dev/merkle" in DATA["source"]


@pytest.mark.parametrize("size", range(len(RFC6962_ROOTS)))
def test_rfc6962_roots(size: int) -> None:
    assert root_hash(RFC6962_LEAVES[:size]) == RFC6962_ROOTS[size]
    incremental = MerkleTree()
    incremental.extend(RFC6962_LEAVES[:size])
    assert incremental.root() == RFC6962_ROOTS[size]
    assert ref_mth(RFC6962_LEAVES[:size]) == RFC6962_ROOTS[size]


def test_hash_prefixes() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    assert root_hash([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_historical_roots_match_reference(tree: MerkleTree) -> None:
    for size in range(EXHAUSTIVE_SIZE_MAX + 1):
        assert tree.root(size) == ref_mth(LEAVES[:size]) == root_hash(LEAVES[:size])


def test_tree_is_a_subtree_source(tree: MerkleTree) -> None:
    assert isinstance(tree, SubtreeSource)
    assert tree.subtree_hash(0, 5) == leaf_hash(LEAVES[5])
    assert tree.subtree_hash(2, 1) == ref_mth(LEAVES[4:8])
    with pytest.raises(TreeRangeError):
        tree.subtree_hash(7, 0)  # 128 leaves: not complete at size 64


def test_storage_is_one_bytearray_per_level(tree: MerkleTree) -> None:
    levels = tree._levels
    assert all(type(level) is bytearray for level in levels)
    assert [len(level) // 32 for level in levels] == [64, 32, 16, 8, 4, 2, 1]


def test_append_returns_index_and_append_hash_checks_length() -> None:
    fresh = MerkleTree()
    assert fresh.append(b"x") == 0
    assert fresh.append_hash(leaf_hash(b"y")) == 1
    assert fresh.size == len(fresh) == 2
    assert fresh.root() == ref_mth((b"x", b"y"))
    with pytest.raises(ValueError):
        fresh.append_hash(b"short")


# --- Proof generation equals the reference, and verifies --------------------------------------

def test_every_inclusion_proof_up_to_64(tree: MerkleTree) -> None:
    for size in range(1, EXHAUSTIVE_SIZE_MAX + 1):
        leaves = LEAVES[:size]
        root = ref_mth(leaves)
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert isinstance(proof, tuple)
            assert list(proof) == ref_path(index, leaves), (index, size)
            verify_inclusion(leaf_hash(leaves[index]), index, size, proof, root)


def test_every_consistency_proof_up_to_64(tree: MerkleTree) -> None:
    for size2 in range(EXHAUSTIVE_SIZE_MAX + 1):
        leaves = LEAVES[:size2]
        root2 = ref_mth(leaves)
        for size1 in range(size2 + 1):
            proof = tree.consistency_proof(size1, size2)
            expected = [] if size1 in (0, size2) else ref_proof(size1, leaves)
            assert list(proof) == expected, (size1, size2)
            if size1 == 0 < size2:  # generated (empty), but never verifies: nothing to prove
                with pytest.raises(ProofError):
                    verify_consistency(size1, size2, proof, EMPTY_ROOT, root2)
            else:
                verify_consistency(size1, size2, proof, ref_mth(LEAVES[:size1]), root2)


def test_module_functions_accept_leaf_data_or_a_source(tree: MerkleTree) -> None:
    assert inclusion_proof(3, 11, LEAVES) == tree.inclusion_proof(3, 11)
    assert inclusion_proof(3, 11, tree) == tree.inclusion_proof(3, 11)
    assert consistency_proof(5, 13, list(LEAVES)) == tree.consistency_proof(5, 13)
    assert consistency_proof(5, 13, tree) == tree.consistency_proof(5, 13)
    with pytest.raises(TreeRangeError):
        inclusion_proof(0, 65, LEAVES)


def test_plans_name_complete_subtrees_only() -> None:
    # size 7, leaf 6: siblings are the leaf-pair [4, 6) and the complete left half [0, 4).
    assert inclusion_plan(6, 7) == ((Subtree(1, 2),), (Subtree(2, 0),))
    # size 7, leaf 0: the right half [4, 7) is an incomplete edge node, folded from two subtrees.
    assert inclusion_plan(0, 7)[-1] == (Subtree(1, 2), Subtree(0, 6))
    # Equal sizes need no hashes; size1 == 0 has no RFC 9162 proof (verify_consistency rejects it).
    assert consistency_plan(0, 9) == consistency_plan(9, 9) == consistency_plan(0, 0) == ()
    assert consistency_proof(0, 9, LEAVES) == ()


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("inclusion_proof", (64, 64)),
        ("inclusion_proof", (0, 65)),
        ("inclusion_proof", (-1, 10)),
        ("consistency_proof", (10, 9)),
        ("consistency_proof", (1, 65)),
        ("root", (65,)),
    ],
)
def test_out_of_range_requests(tree: MerkleTree, call: str, args: tuple[int, ...]) -> None:
    with pytest.raises(TreeRangeError):
        getattr(tree, call)(*args)


# --- Larger trees, random sizes (hypothesis) --------------------------------------------------

BIG_SIZE = 3000
BIG_LEAVES = tuple(i.to_bytes(4, "big") for i in range(BIG_SIZE))


@pytest.fixture(scope="module")
def big_tree() -> MerkleTree:
    built = MerkleTree()
    built.extend(BIG_LEAVES)
    return built


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_proofs_in_a_larger_tree(big_tree: MerkleTree, data: st.DataObject) -> None:
    size2 = data.draw(st.integers(1, BIG_SIZE))
    size1 = data.draw(st.integers(0, size2))
    index = data.draw(st.integers(0, size2 - 1))
    root2 = big_tree.root(size2)
    assert root2 == root_hash(BIG_LEAVES[:size2])
    verify_inclusion(leaf_hash(BIG_LEAVES[index]), index, size2, big_tree.inclusion_proof(index, size2), root2)
    proof = big_tree.consistency_proof(size1, size2)
    if size1 == 0:  # from the empty tree: empty proof, always rejected
        assert proof == ()
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof, big_tree.root(size1), root2)
    else:
        verify_consistency(size1, size2, proof, big_tree.root(size1), root2)
