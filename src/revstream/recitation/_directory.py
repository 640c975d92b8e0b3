"""The host's index on disk: a directory of immutable segment files and one manifest.

    <dir>/manifest.json      which segments are in force (replaced atomically)
    <dir>/seg-<gen>-<rand>.rwi   segment files (format in `_index`)
    <dir>/.lock              held by a writer while it changes the directory

The manifest, version 1:

    {"format": "revstream-recitation-index", "version": 1, "key_id": "3fa2b19c04d7e811",
     "window_words": 16, "generation": 7,
     "segments": [{"file": "seg-00000007-1c2d3e4f.rwi", "windows": 6138, "works": [1, 2]}]}

Adding works writes one new segment; past SEGMENTS_MAX segments they are merged into one.
Removing a work rewrites the segments that hold it, so its hashes leave the disk at once.
Readers (every gateway worker) map the segments the manifest names and reload when its
`generation` changes; a segment replaced while a reader opens it is retried. Nothing here
holds any text: hashes and work numbers only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ._errors import IndexFormatError, WorkError
from ._fingerprint import Fingerprint, check_made_for
from ._hashing import FingerprintKey
from ._index import WindowIndex

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "revstream-recitation-index"
MANIFEST_VERSION = 1
LOCK_NAME = ".lock"
SEGMENTS_MAX = 8
"""Segments kept before they are merged into one (each lookup searches every segment)."""
LOAD_ATTEMPTS_MAX = 3
MANIFEST_BYTES_MAX = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SegmentEntry:
    file: str
    windows: int
    works: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Manifest:
    key_id: str
    window_words: int
    generation: int
    segments: tuple[SegmentEntry, ...]

    def work_numbers(self) -> frozenset[int]:
        return frozenset(number for segment in self.segments for number in segment.works)

    def json(self) -> dict:
        return {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "key_id": self.key_id,
                "window_words": self.window_words, "generation": self.generation,
                "segments": [{"file": s.file, "windows": s.windows, "works": list(s.works)} for s in self.segments]}


def _parse_manifest(raw: bytes, path: Path) -> Manifest:
    try:
        data = json.loads(raw)
        if data.get("format") != MANIFEST_FORMAT or data.get("version") != MANIFEST_VERSION:
            raise IndexFormatError(f"{path}: not a version {MANIFEST_VERSION} recitation index manifest")
        segments = tuple(SegmentEntry(str(s["file"]), int(s["windows"]), tuple(int(n) for n in s["works"]))
                         for s in data["segments"])
        manifest = Manifest(str(data["key_id"]), int(data["window_words"]), int(data["generation"]), segments)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise IndexFormatError(f"{path}: malformed manifest ({error})") from None
    for segment in segments:
        if "/" in segment.file or not segment.file.startswith("seg-") or not segment.file.endswith(".rwi"):
            raise IndexFormatError(f"{path}: bad segment file name {segment.file!r}")
    return manifest


class IndexDirectory:
    """The index files of one host (one fingerprint key)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: Path, key: FingerprintKey) -> "IndexDirectory":
        """Open the directory, making an empty index for `key` if there is none yet."""
        directory = cls(path)
        directory.path.mkdir(parents=True, exist_ok=True)
        with directory._locked():
            if not (directory.path / MANIFEST_NAME).exists():
                directory._write_manifest(Manifest(key.key_id, key.window_words, 0, ()))
        manifest = directory.manifest()
        if (manifest.key_id, manifest.window_words) != (key.key_id, key.window_words):
            raise IndexFormatError(f"{path} holds an index for key {manifest.key_id} ({manifest.window_words}-word "
                                   f"windows), not for key {key.key_id}")
        return directory

    def manifest(self) -> Manifest:
        path = self.path / MANIFEST_NAME
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MANIFEST_BYTES_MAX + 1)
        except FileNotFoundError:
            raise IndexFormatError(f"{self.path} holds no recitation index (no {MANIFEST_NAME})") from None
        if len(raw) > MANIFEST_BYTES_MAX:
            raise IndexFormatError(f"{path} is larger than {MANIFEST_BYTES_MAX} bytes")
        return _parse_manifest(raw, path)

    def work_numbers(self) -> frozenset[int]:
        return self.manifest().work_numbers()

    def files(self) -> tuple[Path, ...]:
        """Every file of the index (manifest and segments)."""
        manifest = self.manifest()
        return (self.path / MANIFEST_NAME, *(self.path / s.file for s in manifest.segments))

    def load(self) -> tuple[WindowIndex, ...]:
        """Map every segment in force (retrying if a writer replaces one meanwhile)."""
        for attempt in range(LOAD_ATTEMPTS_MAX):
            manifest = self.manifest()
            try:
                indexes = tuple(WindowIndex.open(self.path / s.file) for s in manifest.segments)
            except FileNotFoundError:
                if attempt + 1 == LOAD_ATTEMPTS_MAX:
                    raise
                continue
            for segment, index in zip(manifest.segments, indexes):
                if (index.key_id, index.window_words, len(index)) != (manifest.key_id, manifest.window_words,
                                                                        segment.windows):
                    raise IndexFormatError(f"{segment.file} does not match the manifest")
            return indexes
        raise AssertionError("unreachable")

    # --- changes (one writer at a time) -------------------------------------------------

    def add_work(self, number: int, fingerprint: Fingerprint) -> None:
        self.add_works(((number, fingerprint),))

    def add_works(self, works: Iterable[tuple[int, Fingerprint]]) -> None:
        """Add works (number, fingerprint) as one new segment; WorkError if a number is
        taken, FingerprintError if a fingerprint was made with another key."""
        batch = list(works)
        with self._locked():
            manifest = self.manifest()
            taken = manifest.work_numbers()
            numbers: set[int] = set()
            for number, fingerprint in batch:
                check_made_for(fingerprint, manifest.key_id, manifest.window_words)
                if number in taken or number in numbers:
                    raise WorkError(f"work number {number} is already in the index")
                numbers.add(number)
            if not batch:
                return
            hashes = [h for _, fingerprint in batch for h in fingerprint.hashes]
            owners = [number for number, fingerprint in batch for _ in fingerprint.hashes]
            segment = WindowIndex.build(hashes, owners, manifest.window_words, manifest.key_id)
            entry = self._write_segment(segment, manifest.generation + 1)
            segments = (*manifest.segments, entry)
            self._commit(manifest, segments, merge=len(segments) > SEGMENTS_MAX)

    def remove_work(self, number: int) -> bool:
        """Remove a work's hashes from every segment; False if the index does not hold it."""
        with self._locked():
            manifest = self.manifest()
            if number not in manifest.work_numbers():
                return False
            kept: list[SegmentEntry] = []
            for entry in manifest.segments:
                if number not in entry.works:
                    kept.append(entry)
                    continue
                remaining = WindowIndex.open(self.path / entry.file).without((number,))
                if len(remaining):
                    kept.append(self._write_segment(remaining, manifest.generation + 1))
            self._commit(manifest, tuple(kept), merge=False)
            return True

    def compact(self) -> None:
        """Merge every segment into one."""
        with self._locked():
            manifest = self.manifest()
            if len(manifest.segments) > 1:
                self._commit(manifest, manifest.segments, merge=True)

    def _commit(self, manifest: Manifest, segments: tuple[SegmentEntry, ...], merge: bool) -> None:
        """Put `segments` in force (merged into one if asked), then delete every segment
        file not in force: those replaced now, and any a crashed writer left behind.
        (A reader still mapping one keeps it until it lets go; one about to open it retries.)"""
        generation = manifest.generation + 1
        if merge and segments:
            merged = WindowIndex.merge(WindowIndex.open(self.path / s.file) for s in segments)
            segments = (self._write_segment(merged, generation),)
        self._write_manifest(Manifest(manifest.key_id, manifest.window_words, generation, segments))
        in_force = {s.file for s in segments}
        for path in [*self.path.glob("seg-*.rwi"), *self.path.glob("seg-*.rwi.*.tmp")]:
            if path.name not in in_force:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def _write_segment(self, index: WindowIndex, generation: int) -> SegmentEntry:
        name = f"seg-{generation:08d}-{secrets.token_hex(4)}.rwi"
        index.write(self.path / name)
        return SegmentEntry(name, len(index), tuple(sorted(index.work_numbers())))

    def _write_manifest(self, manifest: Manifest) -> None:
        path = self.path / MANIFEST_NAME
        temporary = path.with_name(f"{MANIFEST_NAME}.{os.getpid()}.tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(manifest.json(), out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
        directory = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.path / LOCK_NAME, "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

