"""RFC 9162 §2.1 Merkle tree hashing and proof generation.

Proofs are assembled from hashes of *complete subtrees*: a subtree at
``(level, index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)``.
Such a hash never changes once the log has grown past it, so any store that can
answer ``subtree_hash(level, index)`` (the :class:`SubtreeSource` protocol) can
serve proofs for every historical tree size. Nodes on the incomplete right edge
of a tree are not stored: they are folded on demand from the complete subtrees
that make them up (at most ~log2(size) hashes, and at most one such node per
proof).

Generation is split in two so that a database-backed store can fetch in one
round trip: :func:`inclusion_plan` / :func:`consistency_plan` say which
subtrees a proof needs (pure arithmetic, no hashes), then
:func:`proof_from_plan` fetches and folds them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from hashlib import sha256
from typing import NamedTuple, Protocol, runtime_checkable

from ._errors import FormatError, TreeRangeError

__all__ = (
    "EMPTY_ROOT",
    "HASH_SIZE",
    "PROOF_HASHES_MAX",
    "TREE_SIZE_MAX",
    "MerkleTree",
    "ProofPlan",
    "Subtree",
    "SubtreeSource",
    "consistency_plan",
    "consistency_proof",
    "inclusion_plan",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "proof_from_plan",
    "root_hash",
    "subtree_root",
)

HASH_SIZE = 32
"""Bytes in a SHA-256 digest, hence in every leaf, node and root hash."""

TREE_SIZE_MAX = 2**64 - 1
"""Largest tree size accepted: RFC 9162 sizes are uint64."""

PROOF_HASHES_MAX = 65
"""Longest proof any tree of at most TREE_SIZE_MAX leaves can need (64 levels, +1 for consistency)."""

EMPTY_ROOT = sha256(b"").digest()
"""MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class Subtree(NamedTuple):
    """A complete, power-of-two aligned subtree: leaves [index << level, (index + 1) << level)."""

    level: int
    index: int


ProofPlan = tuple[tuple[Subtree, ...], ...]
"""Per proof hash, bottom-up, the complete subtrees (left to right) whose fold gives it."""


@runtime_checkable
class SubtreeSource(Protocol):
    """Anything that can return the hash of a complete subtree it holds.

    :class:`MerkleTree` is the in-memory implementation; a database table of
    ``(level, index, hash)`` rows is the obvious persistent one.
    """

    def subtree_hash(self, level: int, index: int) -> bytes:
        """Return the 32-byte hash of complete subtree (level, index)."""
        ...


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || data)."""
    return sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return sha256(_NODE_PREFIX + left + right).digest()


def _check_size(size: int, name: str) -> None:
    if type(size) is not int or not 0 <= size <= TREE_SIZE_MAX:
        raise TreeRangeError(f"{name} must be an int in [0, {TREE_SIZE_MAX}], got {size!r}")


def _range_subtrees(begin: int, end: int) -> tuple[Subtree, ...]:
    """Complete subtrees, largest first, that tile leaves [begin, end).

    Every node of an RFC 9162 tree covers such a range with ``begin`` aligned to
    the largest piece, so the pieces are stored subtrees.
    """
    pieces = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin & ((1 << level) - 1):
            raise TreeRangeError(f"range [{begin}, {end}) is not a Merkle tree node")
        pieces.append(Subtree(level, begin >> level))
        begin += 1 << level
    return tuple(pieces)


def _fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its complete-subtree hashes (largest first): fold from the right."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = sha256(_NODE_PREFIX + left + result).digest()
    return result


def _split(count: int) -> int:
    """Largest power of two strictly less than count (count >= 2), RFC 9162's k."""
    return 1 << ((count - 1).bit_length() - 1)


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """Subtrees needed for the inclusion proof of leaf ``index`` in a tree of ``size`` (RFC 9162 §2.1.3.1)."""
    _check_size(size, "size")
    _check_size(index, "index")
    if index >= size:
        raise TreeRangeError(f"leaf index {index} is not below tree size {size}")
    top_down = []
    begin, end = 0, size
    while end - begin > 1:
        middle = begin + _split(end - begin)
        if index < middle:
            top_down.append(_range_subtrees(middle, end))
            end = middle
        else:
            top_down.append(_range_subtrees(begin, middle))
            begin = middle
    return tuple(reversed(top_down))


def consistency_plan(size1: int, size2: int) -> ProofPlan:
    """Subtrees needed for the consistency proof from ``size1`` to ``size2`` (RFC 9162 §2.1.4.1).

    Empty when size1 == size2, which is what :func:`verify_consistency` accepts
    there. Also empty when size1 == 0 < size2, as in transparency-dev/merkle's
    ``proof.Consistency``: RFC 9162 defines no proof from the empty tree, and
    :func:`verify_consistency` rejects that case whatever the proof, so this
    empty plan (and the empty proof built from it) never verifies. Verifiers
    holding an empty tree skip the check instead (see
    :func:`verify_checkpoint_consistency`).
    """
    _check_size(size1, "size1")
    _check_size(size2, "size2")
    if size1 > size2:
        raise TreeRangeError(f"size1 {size1} is larger than size2 {size2}")
    if size1 in (0, size2):
        return ()
    top_down = []
    begin, end = 0, size2
    known_root = True  # RFC 9162's b: the verifier already holds this node's hash
    while size1 != end:
        middle = begin + _split(end - begin)
        if size1 <= middle:
            top_down.append(_range_subtrees(middle, end))
            end = middle
        else:
            top_down.append(_range_subtrees(begin, middle))
            begin = middle
            known_root = False
    if not known_root:
        top_down.append(_range_subtrees(begin, end))
    return tuple(reversed(top_down))


def proof_from_plan(plan: ProofPlan, subtree_hash: Callable[[int, int], bytes]) -> tuple[bytes, ...]:
    """Fetch each planned subtree hash and fold them into the proof's hashes."""
    return tuple(_fold([subtree_hash(level, index) for level, index in pieces]) for pieces in plan)


def subtree_root(size: int, subtree_hash: Callable[[int, int], bytes]) -> bytes:
    """MTH of the first ``size`` leaves, folded from complete-subtree hashes."""
    _check_size(size, "size")
    if size == 0:
        return EMPTY_ROOT
    return _fold([subtree_hash(level, index) for level, index in _range_subtrees(0, size)])


def root_hash(leaves: Iterable[bytes]) -> bytes:
    """RFC 9162 MTH over leaf *data* (not leaf hashes), streaming in O(log n) memory.

    Keeps one hash per set bit of the running count (a compact range), so a
    verifier can recompute a root over millions of entries without holding them.
    """
    stack: list[bytes] = []
    count = 0
    for data in leaves:
        current = sha256(_LEAF_PREFIX + data).digest()
        carry = count
        while carry & 1:
            current = sha256(_NODE_PREFIX + stack.pop() + current).digest()
            carry >>= 1
        stack.append(current)
        count += 1
    if not stack:
        return EMPTY_ROOT
    return _fold(stack)


def _as_source(leaves_or_source: SubtreeSource | Sequence[bytes], size: int) -> SubtreeSource:
    if isinstance(leaves_or_source, SubtreeSource):
        return leaves_or_source
    if len(leaves_or_source) < size:
        raise TreeRangeError(f"tree size {size} exceeds the {len(leaves_or_source)} leaves given")
    tree = MerkleTree()
    tree.extend(leaves_or_source[:size])
    return tree


def inclusion_proof(
    index: int, size: int, leaves_or_source: SubtreeSource | Sequence[bytes]
) -> tuple[bytes, ...]:
    """Inclusion proof (RFC 9162 PATH) for leaf ``index`` in the tree of the first ``size`` leaves.

    ``leaves_or_source`` is either a :class:`SubtreeSource` (a :class:`MerkleTree`
    or a store; fast) or a sequence of leaf *data* (hashed here; O(size), for
    tests and one-off use).
    """
    source = _as_source(leaves_or_source, size)
    return proof_from_plan(inclusion_plan(index, size), source.subtree_hash)


def consistency_proof(
    size1: int, size2: int, leaves_or_source: SubtreeSource | Sequence[bytes]
) -> tuple[bytes, ...]:
    """Consistency proof (RFC 9162 PROOF) from tree size ``size1`` to ``size2``.

    Same ``leaves_or_source`` convention as :func:`inclusion_proof`. Returns ()
    when size1 == size2, and also when size1 == 0 < size2, a case that
    :func:`verify_consistency` always rejects (see :func:`consistency_plan`).
    """
    source = _as_source(leaves_or_source, size2)
    return proof_from_plan(consistency_plan(size1, size2), source.subtree_hash)


class MerkleTree:
    """Append-only in-memory Merkle tree keeping every complete subtree hash.

    Level ``L`` is one bytearray of 32-byte hashes of the complete subtrees of
    2**L leaves, so storage is ~64 bytes per leaf (~640 MB at 10M leaves) with
    no per-hash Python object. Proofs and roots for any size up to the current
    one cost O(log n) slices plus at most ~log n hashes for the right edge.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> int:
        """Append leaf *data*; return its leaf index."""
        return self.append_hash(sha256(_LEAF_PREFIX + data).digest())

    def append_hash(self, leaf_hash_value: bytes) -> int:
        """Append an already computed leaf hash; return its leaf index."""
        if len(leaf_hash_value) != HASH_SIZE:
            raise FormatError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash_value)}")
        if self._size >= TREE_SIZE_MAX:
            raise TreeRangeError("tree is full")
        levels = self._levels
        index = self._size
        levels[0] += leaf_hash_value
        self._size = carry = index + 1
        level = 0
        while not carry & 1:  # the new node completed a pair: hash it into the level above
            parent = sha256(_NODE_PREFIX + levels[level][-2 * HASH_SIZE :]).digest()
            level += 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += parent
            carry >>= 1
        return index

    def extend(self, leaves: Iterable[bytes]) -> int:
        """Append each leaf's data in order; return the new size."""
        append_hash = self.append_hash
        for data in leaves:
            append_hash(sha256(_LEAF_PREFIX + data).digest())
        return self._size

    def subtree_hash(self, level: int, index: int) -> bytes:
        """Hash of complete subtree (level, index); :class:`SubtreeSource` protocol."""
        if level < 0 or index < 0 or (index + 1) << level > self._size:
            raise TreeRangeError(f"subtree ({level}, {index}) is not complete at size {self._size}")
        start = index * HASH_SIZE
        return bytes(self._levels[level][start : start + HASH_SIZE])

    def _size_or_current(self, size: int | None) -> int:
        if size is None:
            return self._size
        _check_size(size, "size")
        if size > self._size:
            raise TreeRangeError(f"size {size} exceeds tree size {self._size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the tree at ``size`` leaves (default: now)."""
        return subtree_root(self._size_or_current(size), self.subtree_hash)

    def inclusion_proof(self, index: int, size: int | None = None) -> tuple[bytes, ...]:
        """Inclusion proof for leaf ``index`` in the tree at ``size`` leaves (default: now)."""
        plan = inclusion_plan(index, self._size_or_current(size))
        return proof_from_plan(plan, self.subtree_hash)

    def consistency_proof(self, size1: int, size2: int | None = None) -> tuple[bytes, ...]:
        """Consistency proof from ``size1`` to ``size2`` leaves (default: now).

        () when size1 == size2 or size1 == 0 (see :func:`consistency_plan`).
        """
        plan = consistency_plan(size1, self._size_or_current(size2))
        return proof_from_plan(plan, self.subtree_hash)
