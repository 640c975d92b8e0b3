"""Compact ranges: check that a run of leaves sits at its place in a signed tree.

A verifier that holds the leaves ``[start, size)`` of a log and the hashes of the
complete subtrees tiling ``[0, start)`` (the *prefix*: one hash per set bit of
``start``, largest subtree first) can recompute the root of the tree of ``size``
leaves by appending its leaves to the prefix. If that root equals the root of a
signed checkpoint of ``size`` leaves, every one of those leaves is the log's leaf at
its index: one root comparison proves the whole run, with O(log size) memory, where
an inclusion proof per leaf would cost O(n log n) hashes and requests.

The prefix hashes come from the untrusted host; that is sound, because any wrong
prefix hash changes the recomputed root (SHA-256 collision resistance).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._errors import ProofError, TreeRangeError
from ._merkle import EMPTY_ROOT, HASH_SIZE, TREE_SIZE_MAX, Subtree, node_hash

__all__ = ("CompactRange", "compact_range")


def compact_range(size: int) -> tuple[Subtree, ...]:
    """The complete subtrees, largest (leftmost) first, that tile leaves ``[0, size)``."""
    if type(size) is not int or not 0 <= size <= TREE_SIZE_MAX:
        raise TreeRangeError(f"size must be an int in [0, {TREE_SIZE_MAX}], got {size!r}")
    pieces, begin = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            pieces.append(Subtree(level, begin >> level))
            begin += 1 << level
    return tuple(pieces)


class CompactRange:
    """The right edge of a tree being rebuilt from ``prefix`` (the hashes of
    ``compact_range(start)``) plus leaf hashes appended one by one."""

    __slots__ = ("_edge", "_size")

    def __init__(self, start: int, prefix: Sequence[bytes]) -> None:
        expected = len(compact_range(start))
        if isinstance(prefix, (bytes, str)) or len(prefix) != expected:
            raise ProofError(f"a prefix of {start} leaves has {expected} subtree hashes, got "
                             f"{len(prefix) if not isinstance(prefix, (bytes, str)) else 'one bytes value'}")
        if any(not isinstance(value, bytes) or len(value) != HASH_SIZE for value in prefix):
            raise ProofError(f"every prefix hash must be {HASH_SIZE} bytes")
        self._edge = list(prefix)
        self._size = start

    @property
    def size(self) -> int:
        return self._size

    def append_hash(self, leaf_hash_value: bytes) -> None:
        current, carry = leaf_hash_value, self._size
        edge = self._edge
        while carry & 1:
            current = node_hash(edge.pop(), current)
            carry >>= 1
        edge.append(current)
        self._size += 1

    def extend_hashes(self, leaf_hashes: Iterable[bytes]) -> None:
        for value in leaf_hashes:
            self.append_hash(value)

    def extend_completed(self, leaf_hashes: Iterable[bytes]) -> list[tuple[int, int, bytes]]:
        """Append leaf hashes; return every complete subtree they complete, as (level,
        index, hash), each leaf first (level 0): what a stored log keeps so proofs and roots
        are read, never recomputed."""
        completed = []
        edge = self._edge
        for current in leaf_hashes:
            index = self._size
            completed.append((0, index, current))
            level, carry = 0, index
            while carry & 1:
                current = node_hash(edge.pop(), current)
                level += 1
                carry >>= 1
                completed.append((level, carry, current))
            edge.append(current)
            self._size += 1
        return completed

    def root(self) -> bytes:
        """MTH of the ``size`` leaves: the edge folded right to left."""
        if not self._edge:
            return EMPTY_ROOT
        result = self._edge[-1]
        for left in reversed(self._edge[:-1]):
            result = node_hash(left, result)
        return result
