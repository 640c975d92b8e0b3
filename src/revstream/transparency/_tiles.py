"""C2SP tiled logs (c2sp.org/tlog-tiles): tile coordinates, paths, building and reading.

A tile at level ``L`` and index ``N`` holds up to 256 consecutive hashes of the RFC 9162
tree: hash ``i`` is the complete subtree at height ``8L`` and index ``256N + i`` (level 0
holds leaf hashes). A full tile is 256 hashes (8,192 bytes); the rightmost tile of each
level is *partial* (``W`` = ``floor(size / 256**L) % 256`` hashes, path suffix ``.p/W``)
and is never hashed into the level above. Entry bundles (``tile/entries/N[.p/W]``) hold
the entries of level-0 tile ``N``, each as a big-endian uint16 length and the entry bytes.

Paths: ``tile/<L>/<N>[.p/<W>]`` with ``N`` in zero-padded 3-digit elements, all but the
last prefixed ``x`` (1234067 -> ``x001/x234/067``).

Reading: :class:`TileReader` is a :class:`~revstream.transparency.SubtreeSource` over the
tiles of a tree of a given size, fetched through a callable ``fetch(path) -> bytes | None``;
with it the same Merkle core computes roots, inclusion and consistency proofs.
:func:`verify_tiled_entries` reads a run of entries and proves it against a checkpoint.
A tile source is untrusted: nothing read from it is accepted until a root computed from it
matches a signed checkpoint (or a proof computed from it verifies).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

from ._checkpoint import Checkpoint
from ._errors import FormatError, ProofError, TreeRangeError
from ._merkle import (
    HASH_SIZE,
    TREE_SIZE_MAX,
    consistency_plan,
    inclusion_plan,
    leaf_hash,
    node_hash,
    proof_from_plan,
    subtree_root,
)
from ._range import CompactRange, compact_range
from ._verify import verify_consistency

__all__ = (
    "ENTRY_BUNDLE_LEVEL",
    "ENTRY_SIZE_MAX",
    "TILE_CACHE_TILES_MAX",
    "TILE_HEIGHT",
    "TILE_LEVEL_MAX",
    "TILE_WIDTH",
    "TILED_ENTRIES_MAX",
    "Tile",
    "TileFetch",
    "TileReader",
    "build_tiles",
    "entry_bundle",
    "new_tiles",
    "parse_entry_bundle",
    "parse_tile_path",
    "tile_data",
    "tile_hash",
    "tile_hashes",
    "tile_path",
    "tile_subtrees",
    "tiles_for_size",
    "verify_tiled_entries",
)

TILE_HEIGHT = 8
"""Tree levels spanned by one tile."""
TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes (or entries) in a full tile: 256."""
TILE_LEVEL_MAX = 63
"""Highest tile level a path may name (the spec's bound)."""
ENTRY_BUNDLE_LEVEL = -1
"""The ``level`` of a :class:`Tile` that names an entry bundle rather than hashes."""
ENTRY_SIZE_MAX = 0xFFFF
"""Largest entry an entry bundle can carry (uint16 length prefix)."""
TILE_CACHE_TILES_MAX = 64
"""Tiles a :class:`TileReader` keeps (least recently used dropped first): 512 KiB at most."""
TILED_ENTRIES_MAX = 1 << 20
"""Most entries one :func:`verify_tiled_entries` call reads (page larger runs)."""

TileFetch = Callable[[str], "bytes | None"]
"""Returns the bytes at a tile path, or None if the source does not have it."""

_PATH = re.compile(r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?")


class Tile(NamedTuple):
    """Tile coordinates: ``level`` (0..63, or ENTRY_BUNDLE_LEVEL), ``index``, ``width`` (1..256)."""

    level: int
    index: int
    width: int

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def is_entry_bundle(self) -> bool:
        return self.level == ENTRY_BUNDLE_LEVEL


def _check_tile(tile: Tile) -> Tile:
    level, index, width = tile
    if type(level) is not int or not ENTRY_BUNDLE_LEVEL <= level <= TILE_LEVEL_MAX:
        raise FormatError(f"tile level must be an int in [0, {TILE_LEVEL_MAX}] or {ENTRY_BUNDLE_LEVEL}")
    if type(index) is not int or index < 0:
        raise FormatError("tile index must be a non-negative int")
    if type(width) is not int or not 1 <= width <= TILE_WIDTH:
        raise FormatError(f"tile width must be an int in [1, {TILE_WIDTH}]")
    return Tile(level, index, width)


def tile_path(tile: Tile) -> str:
    """The tile's path under the log prefix, e.g. ``tile/0/x001/x234/067.p/8``."""
    level, index, width = _check_tile(tile)
    elements = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        elements.append(f"x{index % 1000:03d}")
        index //= 1000
    name = "entries" if level == ENTRY_BUNDLE_LEVEL else str(level)
    suffix = f".p/{width}" if width < TILE_WIDTH else ""
    return f"tile/{name}/{'/'.join(reversed(elements))}{suffix}"


def parse_tile_path(path: str) -> Tile:
    """Parse a tile or entry bundle path (strictly: only the canonical form); :class:`FormatError`."""
    match = _PATH.fullmatch(path) if isinstance(path, str) else None
    if match is None:
        raise FormatError(f"not a tile path: {path!r}")
    name, number, width = match.groups()
    level = ENTRY_BUNDLE_LEVEL if name == "entries" else int(name)
    index = int(number.replace("x", "").replace("/", ""))
    tile = Tile(level, index, int(width) if width else TILE_WIDTH)
    try:
        canonical = tile_path(tile)  # rejects a level above 63 and a width above 256
    except FormatError:
        canonical = None
    if canonical != path:  # leading zeros, `x000/`, `.p/256`
        raise FormatError(f"not a canonical tile path: {path!r}")
    return tile


def _check_size(size: int, name: str = "size") -> int:
    if type(size) is not int or not 0 <= size <= TREE_SIZE_MAX:
        raise TreeRangeError(f"{name} must be an int in [0, {TREE_SIZE_MAX}], got {size!r}")
    return size


def _level_tiles(level: int, size: int) -> tuple[int, int]:
    """(full tiles, partial width) at ``level`` for a tree of ``size`` leaves."""
    hashes = size >> (TILE_HEIGHT * level)
    return hashes >> TILE_HEIGHT, hashes & (TILE_WIDTH - 1)


def _tile_at(level: int, index: int, size: int) -> Tile:
    """The tile (level, index) as the tree of ``size`` has it: full, or its partial width."""
    full, partial = _level_tiles(level, size)
    if index < full:
        return Tile(level, index, TILE_WIDTH)
    if index == full and partial:
        return Tile(level, index, partial)
    raise TreeRangeError(f"a tree of {size} leaves has no tile {index} at level {level}")


def tiles_for_size(size: int) -> Iterator[Tile]:
    """Every hash tile (full and partial) of a tree of ``size`` leaves, level by level."""
    _check_size(size)
    level = 0
    while size >> (TILE_HEIGHT * level):
        full, partial = _level_tiles(level, size)
        for index in range(full):
            yield Tile(level, index, TILE_WIDTH)
        if partial:
            yield Tile(level, full, partial)
        level += 1


def new_tiles(old_size: int, new_size: int) -> Iterator[Tile]:
    """The tiles a tree growing from ``old_size`` to ``new_size`` adds, each level-0 tile followed by
    its entry bundle: the full tiles completed in between and the partial tiles of ``new_size``.
    A host publishing a checkpoint of ``new_size`` writes these (and may drop superseded partials)."""
    _check_size(old_size, "old_size")
    _check_size(new_size, "new_size")
    if old_size > new_size:
        raise TreeRangeError(f"old_size {old_size} is larger than new_size {new_size}")
    level = 0
    while new_size >> (TILE_HEIGHT * level):
        old_full, old_partial = _level_tiles(level, old_size)
        new_full, new_partial = _level_tiles(level, new_size)
        tiles = [Tile(level, index, TILE_WIDTH) for index in range(old_full, new_full)]
        if new_partial and (new_full, new_partial) != (old_full, old_partial):
            tiles.append(Tile(level, new_full, new_partial))
        for tile in tiles:
            yield tile
            if level == 0:
                yield Tile(ENTRY_BUNDLE_LEVEL, tile.index, tile.width)
        level += 1


def tile_subtrees(tile: Tile) -> tuple[int, int, int]:
    """(subtree level, first subtree index, count) of the hashes a hash tile holds: what a store of
    complete-subtree hashes (level, index) reads, in index order, to serve it."""
    level, index, width = _check_tile(tile)
    if level == ENTRY_BUNDLE_LEVEL:
        raise FormatError("an entry bundle holds entries, not subtree hashes")
    return TILE_HEIGHT * level, index * TILE_WIDTH, width


def tile_data(tile: Tile, subtree_hash: Callable[[int, int], bytes]) -> bytes:
    """The bytes of a hash tile from a source of complete-subtree hashes (e.g. a MerkleTree's)."""
    level, first, count = tile_subtrees(tile)
    return b"".join(subtree_hash(level, first + offset) for offset in range(count))


def tile_hashes(data: bytes, width: int | None = None) -> tuple[bytes, ...]:
    """Split tile bytes into its hashes; :class:`FormatError` unless 1..256 whole hashes (``width`` if given)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormatError("tile data must be bytes")
    raw = bytes(data)
    count, rest = divmod(len(raw), HASH_SIZE)
    if rest or not 1 <= count <= TILE_WIDTH or (width is not None and count != width):
        expected = f"{width} hashes" if width is not None else f"1 to {TILE_WIDTH} hashes"
        raise FormatError(f"tile of {len(raw)} bytes is not {expected} of {HASH_SIZE} bytes")
    return tuple(raw[offset : offset + HASH_SIZE] for offset in range(0, len(raw), HASH_SIZE))


def _fold_nodes(hashes: Sequence[bytes]) -> bytes:
    """MTH over a run of sibling subtree hashes, as RFC 9162 builds a tree over leaves."""
    stack: list[bytes] = []
    for count, current in enumerate(hashes):
        while count & 1:
            current = node_hash(stack.pop(), current)
            count >>= 1
        stack.append(current)
    result = stack[-1]
    for left in reversed(stack[:-1]):
        result = node_hash(left, result)
    return result


def tile_hash(data: bytes) -> bytes:
    """The Merkle hash of a tile's hashes: for a full tile, its hash in the level above."""
    return _fold_nodes(tile_hashes(data))


def entry_bundle(entries: Iterable[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes (1..256 entries)."""
    parts = []
    for entry in entries:
        if not isinstance(entry, (bytes, bytearray)) or len(entry) > ENTRY_SIZE_MAX:
            raise FormatError(f"an entry must be bytes of at most {ENTRY_SIZE_MAX} bytes")
        parts.append(len(entry).to_bytes(2, "big") + bytes(entry))
    if not 1 <= len(parts) <= TILE_WIDTH:
        raise FormatError(f"an entry bundle holds 1 to {TILE_WIDTH} entries, got {len(parts)}")
    return b"".join(parts)


def parse_entry_bundle(data: bytes, width: int | None = None) -> tuple[bytes, ...]:
    """The entries of a bundle; :class:`FormatError` if truncated, trailing, or not ``width`` entries."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormatError("entry bundle must be bytes")
    raw, entries, offset = bytes(data), [], 0
    while offset < len(raw):
        if offset + 2 > len(raw) or len(entries) == TILE_WIDTH:
            raise FormatError("entry bundle is truncated or holds more than 256 entries")
        end = offset + 2 + int.from_bytes(raw[offset : offset + 2], "big")
        if end > len(raw):
            raise FormatError("entry bundle is truncated")
        entries.append(raw[offset + 2 : end])
        offset = end
    if not entries or (width is not None and len(entries) != width):
        raise FormatError(f"entry bundle holds {len(entries)} entries, expected {width or '1 to 256'}")
    return tuple(entries)


def build_tiles(
    size: int, subtree_hash: Callable[[int, int], bytes], entries: Sequence[bytes] | None = None
) -> Iterator[tuple[Tile, bytes]]:
    """Every tile of the tree of ``size`` leaves as (tile, bytes), from complete-subtree hashes;
    with ``entries`` (the leaf data, at least ``size`` of them) the entry bundles too."""
    _check_size(size)
    if entries is not None and len(entries) < size:
        raise TreeRangeError(f"tree size {size} exceeds the {len(entries)} entries given")
    for tile in tiles_for_size(size):
        yield tile, tile_data(tile, subtree_hash)
        if entries is not None and tile.level == 0:
            start = tile.index * TILE_WIDTH
            bundle = Tile(ENTRY_BUNDLE_LEVEL, tile.index, tile.width)
            yield bundle, entry_bundle(entries[start : start + tile.width])


class TileReader:
    """The complete-subtree hashes of a tree of ``size`` leaves, read from its tiles.

    ``fetch(path)`` returns a tile's bytes or None when the source lacks it; a missing
    partial tile is read from its full tile (the spec lets a log drop superseded partials).
    Only tiles the tree of ``size`` has are asked for. Tiles are cached (bounded, LRU).
    Results are as trustworthy as the source until checked against a signed root.
    """

    __slots__ = ("_cache", "_fetch", "_size")

    def __init__(self, size: int, fetch: TileFetch) -> None:
        self._size = _check_size(size)
        self._fetch = fetch
        self._cache: OrderedDict[Tile, tuple[tuple[bytes, ...], ...]] = OrderedDict()

    @property
    def size(self) -> int:
        return self._size

    def read(self, tile: Tile) -> bytes | None:
        """Raw bytes of ``tile`` (hashes or entries), falling back to the full tile for a partial."""
        data = self._fetch(tile_path(tile))
        if data is None and tile.is_partial:
            full = self._fetch(tile_path(Tile(tile.level, tile.index, TILE_WIDTH)))
            if full is not None and tile.is_entry_bundle:
                return entry_bundle(parse_entry_bundle(full, TILE_WIDTH)[: tile.width])
            data = None if full is None else bytes(full)[: tile.width * HASH_SIZE]
        return data

    def _tile(self, level: int, index: int) -> tuple[tuple[bytes, ...], ...]:
        """The tile's hashes and, above them, every complete node inside the tile (up to 8 rows)."""
        tile = _tile_at(level, index, self._size)
        rows = self._cache.get(tile)
        if rows is not None:
            self._cache.move_to_end(tile)
            return rows
        data = self.read(tile)
        if data is None:
            raise ProofError(f"the tile source does not serve {tile_path(tile)}")
        try:
            row = tile_hashes(data, tile.width)
        except FormatError as error:
            raise ProofError(f"{tile_path(tile)}: {error}") from None
        built = [row]
        while len(row) >= 2:
            row = tuple(node_hash(row[position], row[position + 1]) for position in range(0, len(row) - 1, 2))
            built.append(row)
        rows = self._cache[tile] = tuple(built)
        if len(self._cache) > TILE_CACHE_TILES_MAX:
            self._cache.popitem(last=False)
        return rows

    def subtree_hash(self, level: int, index: int) -> bytes:
        """Hash of complete subtree (level, index): :class:`SubtreeSource` protocol."""
        if type(level) is not int or type(index) is not int or level < 0 or index < 0 \
                or (index + 1) << level > self._size:
            raise TreeRangeError(f"subtree ({level}, {index}) is not complete at size {self._size}")
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = index << height  # the subtree's first hash at its tile level
        rows = self._tile(tile_level, first >> TILE_HEIGHT)
        return rows[height][(first & (TILE_WIDTH - 1)) >> height]

    def _size_or_current(self, size: int | None) -> int:
        if size is None:
            return self._size
        if _check_size(size) > self._size:
            raise TreeRangeError(f"size {size} exceeds the tiled tree's size {self._size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """Root of the tree at ``size`` leaves (default: the reader's size)."""
        return subtree_root(self._size_or_current(size), self.subtree_hash)

    def inclusion_proof(self, index: int, size: int | None = None) -> tuple[bytes, ...]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree at ``size`` leaves."""
        return proof_from_plan(inclusion_plan(index, self._size_or_current(size)), self.subtree_hash)

    def consistency_proof(self, size1: int, size2: int | None = None) -> tuple[bytes, ...]:
        """RFC 9162 consistency proof from ``size1`` to ``size2`` leaves."""
        return proof_from_plan(consistency_plan(size1, self._size_or_current(size2)), self.subtree_hash)

    def entries(self, start: int, end: int) -> Iterator[bytes]:
        """The entries [start, end) from the entry bundles, unverified."""
        if not 0 <= start <= end <= self._size:
            raise TreeRangeError(f"entries [{start}, {end}) are not within a tree of {self._size}")
        for index in range(start >> TILE_HEIGHT, (end + TILE_WIDTH - 1) >> TILE_HEIGHT):
            tile = _tile_at(0, index, self._size)
            data = self.read(Tile(ENTRY_BUNDLE_LEVEL, index, tile.width))
            if data is None:
                raise ProofError(f"the tile source does not serve entry bundle {index}")
            try:
                bundle = parse_entry_bundle(data, tile.width)
            except FormatError as error:
                raise ProofError(f"entry bundle {index}: {error}") from None
            base = index * TILE_WIDTH
            yield from bundle[max(start - base, 0) : end - base]


def verify_tiled_entries(checkpoint: Checkpoint, start: int, end: int, fetch: TileFetch) -> tuple[bytes, ...]:
    """Entries [start, end) of the log, read from tiles and proven against ``checkpoint``.

    The hashes of the complete subtrees left of ``start`` come from the tiles, the entries
    from the bundles; their root at ``end`` must equal the checkpoint's root (``end`` ==
    its size) or extend to it by a consistency proof read from the tiles. The checkpoint
    must already be verified (signature, cosignatures). Raises :class:`ProofError`.
    """
    if not isinstance(checkpoint, Checkpoint):
        raise ProofError("checkpoint must be a verified Checkpoint")
    if type(start) is not int or type(end) is not int or not 0 <= start <= end <= checkpoint.size:
        raise ProofError(f"entries [{start}, {end}) are not within a tree of {checkpoint.size}")
    if end - start > TILED_ENTRIES_MAX:
        raise ProofError(f"at most {TILED_ENTRIES_MAX} entries per call; page the range")
    if start == end:
        return ()
    reader = TileReader(checkpoint.size, fetch)
    try:
        edge = CompactRange(start, [reader.subtree_hash(*piece) for piece in compact_range(start)])
        entries = tuple(reader.entries(start, end))
        edge.extend_hashes(leaf_hash(entry) for entry in entries)
        proof = reader.consistency_proof(end) if end < checkpoint.size else ()
    except TreeRangeError as error:
        raise ProofError(f"tiles do not describe the checkpoint's tree: {error}") from None
    verify_consistency(end, checkpoint.size, proof, edge.root(), checkpoint.root)
    return entries
