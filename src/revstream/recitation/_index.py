"""The window index: sorted 64-bit window hashes, each with the number of its work.

One index file (a *segment*), version 1, little-endian:

    offset  size    field
    0       8       magic b"RSRWIDX1"
    8       4       format version (1)
    12      4       window words
    16      8       fingerprint key id (8 bytes; its hex is the key id)
    24      8       n, the number of entries
    32      8       offset of the hashes, H = 64 + 8(2^b + 1)
    40      8       offset of the work numbers, H + 8n
    48      8       offset of the bucket table (64)
    56      4       b, the bucket bits (0..20)
    60      4       zero
    64      8(2^b+1)  bucket table, uint64: entry i is the position of the first hash whose
                    top b bits are >= i; the last entry is n
    H       8n      window hashes, uint64, ascending (ties ordered by work number)
    H+8n    4n      work numbers, uint32, entry by entry

12 bytes a window (plus a bucket table of about half a byte a window, 8 MiB at most):
100 million windows in 1.2 GB. A file opens memory-mapped; nothing is read until looked up.
A lookup reads the hash's bucket (about 16 entries) and binary-searches it: a few pages of
a cold file, not the 27 scattered ones of a plain binary search. `lookup` serves one hash
(the guard, per word generated), `contains_many` an array of them (numpy `searchsorted`).

Why numpy: it is already installed with revstream (llama-cpp-python depends on it), and
sorting, merging and searching arrays of 10^8 integers in C is what the index needs at
build time; Python lists of ints would take 30+ bytes a window instead of 12. The single
lookup in the guard's hot path uses `bisect` over a memoryview of the same mapping, which
costs less per call than a numpy call.
"""

from __future__ import annotations

import bisect
import mmap
import os
import struct
import sys
from pathlib import Path
from typing import Iterable

import numpy as np

from ._errors import IndexFormatError

MAGIC = b"RSRWIDX1"
FORMAT_VERSION = 1
HEADER_BYTES = 64
_HEADER = struct.Struct("<8sII8sQQQQII")
BUCKET_BITS_MAX = 20
ENTRIES_PER_BUCKET = 16
WORK_NUMBER_MAX = 2**32 - 1
_HASHES = np.dtype("<u8")
_WORKS = np.dtype("<u4")


def _sorted_pairs(hashes: np.ndarray, works: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort entries by (hash, work) and drop exact duplicates. A stable sort on the hash
    runs in O(n log k) on k sorted runs (numpy's timsort), so merging segments is cheap;
    the few entries whose hash recurs (a window shared by works) are then put in work order."""
    order = np.argsort(hashes, kind="stable")
    hashes, works = hashes[order], works[order]
    if len(hashes) > 1:
        equal_next = hashes[1:] == hashes[:-1]
        if equal_next.any():
            tied = np.zeros(len(hashes), dtype=bool)
            tied[1:] |= equal_next
            tied[:-1] |= equal_next
            positions = np.flatnonzero(tied)
            works[positions] = works[positions][np.lexsort((works[positions], hashes[positions]))]
            keep = np.ones(len(hashes), dtype=bool)
            keep[1:] = ~equal_next | (works[1:] != works[:-1])
            hashes, works = hashes[keep], works[keep]
    return np.ascontiguousarray(hashes, dtype=_HASHES), np.ascontiguousarray(works, dtype=_WORKS)


def bucket_bits_for(count: int) -> int:
    """Bucket bits for n entries: about ENTRIES_PER_BUCKET entries a bucket, 2^20 buckets at most."""
    return min(BUCKET_BITS_MAX, (count // ENTRIES_PER_BUCKET).bit_length())


def bucket_table(hashes: np.ndarray, bits: int) -> np.ndarray:
    starts = np.arange(1 << bits, dtype=np.uint64) << np.uint64(64 - bits) if bits else np.zeros(1, dtype=np.uint64)
    return np.append(np.searchsorted(hashes, starts, side="left"), len(hashes)).astype(_HASHES)


class WindowIndex:
    """An immutable sorted array of (window hash, work number) entries."""

    __slots__ = ("hashes", "works", "window_words", "key_id", "buckets", "bucket_bits", "_shift", "_view",
                 "_bucket_view", "_mapping")

    def __init__(self, hashes: np.ndarray, works: np.ndarray, window_words: int, key_id: str,
                 mapping: mmap.mmap | None = None, buckets: np.ndarray | None = None) -> None:
        if len(hashes) != len(works):
            raise IndexFormatError("an index has one work number per hash")
        self.hashes = hashes
        self.works = works
        self.window_words = window_words
        self.key_id = key_id
        self._mapping = mapping
        if buckets is None:
            buckets = bucket_table(hashes, bucket_bits_for(len(hashes)))
        self.buckets = buckets
        self.bucket_bits = (len(buckets) - 1).bit_length() - 1
        self._shift = 64 - self.bucket_bits
        # Native-endian views for bisect; on a big-endian machine, converted copies.
        self._view = _native_view(hashes)
        self._bucket_view = _native_view(buckets)

    @classmethod
    def build(cls, hashes: Iterable[int] | np.ndarray, works: Iterable[int] | np.ndarray,
              window_words: int, key_id: str) -> "WindowIndex":
        hash_array = np.asarray(hashes if isinstance(hashes, np.ndarray) else list(hashes), dtype=np.uint64)
        work_array = np.asarray(works if isinstance(works, np.ndarray) else list(works), dtype=np.int64)
        if len(work_array) and (work_array.min() < 0 or work_array.max() > WORK_NUMBER_MAX):
            raise IndexFormatError(f"work numbers lie in 0..{WORK_NUMBER_MAX}")
        sorted_hashes, sorted_works = _sorted_pairs(hash_array, work_array.astype(np.uint32))
        return cls(sorted_hashes, sorted_works, window_words, key_id)

    @classmethod
    def for_work(cls, number: int, hashes: Iterable[int], window_words: int, key_id: str) -> "WindowIndex":
        hash_list = list(hashes)
        return cls.build(hash_list, [number] * len(hash_list), window_words, key_id)

    def __len__(self) -> int:
        return len(self.hashes)

    def lookup(self, window_hash: int) -> tuple[int, ...]:
        """The numbers of the works holding this window (usually none, at most a few)."""
        view = self._view
        bucket = window_hash >> self._shift if self.bucket_bits else 0
        end = self._bucket_view[bucket + 1]
        position = bisect.bisect_left(view, window_hash, self._bucket_view[bucket], end)
        if position == end or view[position] != window_hash:
            return ()
        last = position + 1
        while last < end and view[last] == window_hash:
            last += 1
        return tuple(int(n) for n in self.works[position:last])

    def contains_many(self, window_hashes: np.ndarray) -> np.ndarray:
        """For each hash, whether the index holds it (vectorized; for audits and benchmarks)."""
        queries = np.asarray(window_hashes, dtype=np.uint64)
        if not len(self.hashes):
            return np.zeros(len(queries), dtype=bool)
        # Searching in ascending order walks the array once instead of jumping across it
        # (ten times faster on 10^7 entries than searching the queries as they come).
        order = np.argsort(queries, kind="stable")
        ascending = queries[order]
        positions = np.searchsorted(self.hashes, ascending)
        clipped = np.minimum(positions, len(self.hashes) - 1)
        found = np.empty(len(queries), dtype=bool)
        found[order] = (positions < len(self.hashes)) & (self.hashes[clipped] == ascending)
        return found

    def work_numbers(self) -> frozenset[int]:
        return frozenset(int(n) for n in np.unique(self.works))

    def without(self, numbers: Iterable[int]) -> "WindowIndex":
        """A copy without the entries of these works."""
        drop = np.isin(self.works, np.fromiter(numbers, dtype=np.uint32))
        return WindowIndex(np.ascontiguousarray(self.hashes[~drop]), np.ascontiguousarray(self.works[~drop]),
                           self.window_words, self.key_id)

    @staticmethod
    def merge(indexes: Iterable["WindowIndex"]) -> "WindowIndex":
        parts = list(indexes)
        if not parts:
            raise IndexFormatError("nothing to merge")
        first = parts[0]
        for part in parts[1:]:
            if (part.window_words, part.key_id) != (first.window_words, first.key_id):
                raise IndexFormatError("only indexes of one key and window size can be merged")
        hashes, works = _sorted_pairs(np.concatenate([p.hashes for p in parts]),
                                      np.concatenate([p.works for p in parts]))
        return WindowIndex(hashes, works, first.window_words, first.key_id)

    # --- the file -----------------------------------------------------------------

    def header(self) -> bytes:
        count, tables = len(self.hashes), HEADER_BYTES + 8 * len(self.buckets)
        return _HEADER.pack(MAGIC, FORMAT_VERSION, self.window_words, bytes.fromhex(self.key_id), count,
                            tables, tables + 8 * count, HEADER_BYTES, self.bucket_bits, 0)

    def to_bytes(self) -> bytes:
        return (self.header() + self.buckets.astype(_HASHES).tobytes() + self.hashes.astype(_HASHES).tobytes()
                + self.works.astype(_WORKS).tobytes())

    def write(self, path: Path) -> None:
        """Write the file whole, then move it into place (readers never see half a file)."""
        temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
        with open(temporary, "wb") as out:
            out.write(self.header())
            out.write(memoryview(np.ascontiguousarray(self.buckets, dtype=_HASHES)).cast("B"))
            out.write(memoryview(np.ascontiguousarray(self.hashes, dtype=_HASHES)).cast("B"))
            out.write(memoryview(np.ascontiguousarray(self.works, dtype=_WORKS)).cast("B"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)

    @classmethod
    def open(cls, path: Path) -> "WindowIndex":
        """Map an index file into memory; IndexFormatError if it is not one."""
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < HEADER_BYTES:
                raise IndexFormatError(f"{path}: too short for an index file")
            mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        magic, version, window_words, key_id, count, hashes_at, works_at, buckets_at, bits, _ = \
            _HEADER.unpack_from(mapping, 0)
        if magic != MAGIC:
            raise IndexFormatError(f"{path}: not a recitation index file")
        if version != FORMAT_VERSION:
            raise IndexFormatError(f"{path}: unknown index format version {version}")
        if bits > BUCKET_BITS_MAX or buckets_at != HEADER_BYTES or hashes_at != HEADER_BYTES + 8 * ((1 << bits) + 1):
            raise IndexFormatError(f"{path}: its bucket table does not match its header")
        if works_at != hashes_at + 8 * count or size != works_at + 4 * count:
            raise IndexFormatError(f"{path}: its size does not match its header (truncated?)")
        buckets = np.frombuffer(mapping, dtype=_HASHES, count=(1 << bits) + 1, offset=buckets_at)
        if buckets[0] != 0 or buckets[-1] != count:
            raise IndexFormatError(f"{path}: its bucket table does not cover its entries")
        hashes = np.frombuffer(mapping, dtype=_HASHES, count=count, offset=hashes_at)
        works = np.frombuffer(mapping, dtype=_WORKS, count=count, offset=works_at)
        return cls(hashes, works, window_words, key_id.hex(), mapping, buckets)

    def check_sorted(self) -> None:
        """Read the whole file once and check its order and its bucket table (compaction and
        tests; not at load)."""
        if len(self.hashes) > 1 and not bool(np.all(self.hashes[1:] >= self.hashes[:-1])):
            raise IndexFormatError("the index's hashes are not in ascending order")
        if not np.array_equal(self.buckets, bucket_table(self.hashes, self.bucket_bits)):
            raise IndexFormatError("the index's bucket table does not match its hashes")


def _native_view(array: np.ndarray):
    native = array if sys.byteorder == "little" else array.astype(np.uint64)
    return memoryview(np.ascontiguousarray(native)).cast("B").cast("Q")
