"""Verification of RFC 9162 inclusion and consistency proofs.

The loops follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step. Edge cases
follow transparency-dev/merkle (``proof/verify.go``) where the RFC is silent,
including its rejection of consistency proofs from the empty tree (see
:func:`verify_consistency`).
Every failure, including malformed arguments, raises :class:`ProofError`: to an
auditor a proof that cannot be checked is a proof that does not verify.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

from ._errors import ProofError
from ._merkle import HASH_SIZE, PROOF_HASHES_MAX, TREE_SIZE_MAX

__all__ = ("verify_consistency", "verify_inclusion")

_NODE_PREFIX = b"\x01"


def _hash_arg(value: object, name: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ProofError(f"{name} must be bytes, got {type(value).__name__}")
    raw = bytes(value)
    if len(raw) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes, got {len(raw)}")
    return raw


def _size_arg(value: object, name: str) -> int:
    if type(value) is not int or not 0 <= value <= TREE_SIZE_MAX:
        raise ProofError(f"{name} must be an int in [0, {TREE_SIZE_MAX}], got {value!r}")
    return value


def _proof_arg(proof: Sequence[bytes]) -> tuple[bytes, ...]:
    if isinstance(proof, (bytes, bytearray, str)):
        raise ProofError("proof must be a sequence of hashes, not a single string")
    hashes = tuple(proof)
    if len(hashes) > PROOF_HASHES_MAX:
        raise ProofError(f"proof has {len(hashes)} hashes, more than {PROOF_HASHES_MAX}")
    return tuple(_hash_arg(item, f"proof[{position}]") for position, item in enumerate(hashes))


def _node(left: bytes, right: bytes) -> bytes:
    return sha256(_NODE_PREFIX + left + right).digest()


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Raises :class:`ProofError` on any failure (index >= size, wrong proof
    length, wrong hash lengths, root mismatch); returns None on success.
    """
    leaf = _hash_arg(leaf_hash, "leaf_hash")
    expected = _hash_arg(root, "root")
    _size_arg(index, "index")
    _size_arg(size, "size")
    path = _proof_arg(proof)
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    position, last = index, size - 1  # RFC 9162 fn, sn
    computed = leaf
    for sibling in path:
        if last == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if position & 1 or position == last:
            computed = _node(sibling, computed)
            while not position & 1 and position != 0:
                position >>= 1
                last >>= 1
        else:
            computed = _node(computed, sibling)
        position >>= 1
        last >>= 1
    if last != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if computed != expected:
        raise ProofError("inclusion proof does not lead to the given root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree (size2, root2) extends the tree (size1, root1).

    Follows RFC 9162 §2.1.4.2. Edge cases:

    * size1 > size2: error.
    * size1 == size2 (0 == 0 included): the proof must be empty and
      root1 == root2.
    * size1 == 0 < size2: always rejected, whatever the proof, as
      transparency-dev/merkle does ("a consistency proof from an empty tree is
      meaningless"): every tree extends the empty one, so a verifier holding an
      empty checkpoint needs no proof and must not ask for one
      (:func:`verify_checkpoint_consistency` skips the check in that case).
    * 0 < size1 < size2 with an empty proof: rejected.

    Raises :class:`ProofError` on any failure; returns None on success.
    """
    first = _hash_arg(root1, "root1")
    second = _hash_arg(root2, "root2")
    _size_arg(size1, "size1")
    _size_arg(size2, "size2")
    path = _proof_arg(proof)
    if size1 > size2:
        raise ProofError(f"size1 {size1} is larger than size2 {size2}")
    if size1 == size2:
        if path:
            raise ProofError("consistency proof between equal sizes must be empty")
        if first != second:
            raise ProofError("equal tree sizes with different roots")
        return
    if size1 == 0:
        raise ProofError("a consistency proof from an empty tree is meaningless")
    if not path:
        raise ProofError("consistency proof is empty")
    _check_consistency_path(size1, size2, path, first, second)


def _check_consistency_path(
    size1: int, size2: int, path: tuple[bytes, ...], first: bytes, second: bytes
) -> None:
    """RFC 9162 §2.1.4.2 steps 2-8 for 0 < size1 < size2 and a non-empty path."""
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root is a node of the new tree
        path = (first, *path)
    position, last = size1 - 1, size2 - 1  # RFC 9162 fn, sn
    while position & 1:
        position >>= 1
        last >>= 1
    first_computed = second_computed = path[0]
    for sibling in path[1:]:
        if last == 0:
            raise ProofError("consistency proof is longer than the tree is deep")
        if position & 1 or position == last:
            first_computed = _node(sibling, first_computed)
            second_computed = _node(sibling, second_computed)
            while not position & 1 and position != 0:
                position >>= 1
                last >>= 1
        else:
            second_computed = _node(second_computed, sibling)
        position >>= 1
        last >>= 1
    if last != 0:
        raise ProofError("consistency proof is shorter than the tree is deep")
    if first_computed != first:
        raise ProofError("consistency proof does not lead to root1")
    if second_computed != second:
        raise ProofError("consistency proof does not lead to root2")
