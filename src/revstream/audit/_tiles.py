"""Reading a host's log from a C2SP tlog-tiles endpoint alone (``revstream verify --tiles URL``).

A tiles endpoint is any HTTP prefix that serves ``<prefix>/checkpoint`` and
``<prefix>/tile/...`` (c2sp.org/tlog-tiles): the host itself, a CDN, or a plain static file
server over an exported directory. :class:`TileClient` answers what the verifier asks a
host's JSON endpoints for (the current checkpoint, consistency and inclusion proofs), and
gives the statement's entries already proven against a verified checkpoint
(`revstream.transparency.verify_tiled_entries`, a page at a time). Nothing read from tiles
is trusted before it is checked against a signed root.

A partial tile of an older tree size (the statement's checkpoint) may be gone once the log
grew (the spec lets a log drop superseded partials): it is then read from the same tile at
the size of the endpoint's current checkpoint and cut to the width asked for.
"""

from __future__ import annotations

import http.client
import ssl
import zlib
from collections.abc import Iterator
from urllib.parse import urlsplit

from ..transparency import (
    ENTRY_SIZE_MAX,
    TILE_HEIGHT,
    TILE_WIDTH,
    Checkpoint,
    FormatError,
    ProofError,
    Tile,
    TileReader,
    TransparencyError,
    entry_bundle,
    parse_checkpoint,
    parse_entry_bundle,
    parse_tile_path,
    tile_path,
    verify_tiled_entries,
)
from ._errors import AuditError, HostError

TILE_RESPONSE_BYTES_MAX = TILE_WIDTH * (2 + ENTRY_SIZE_MAX)
"""Largest answer read for one tile: a full entry bundle of the largest entries (~16 MiB)."""
TILED_PAGE_ENTRIES = 256 * TILE_WIDTH
"""Entries proven per `verify_tiled_entries` call (256 entry bundles)."""
CHECKPOINT_BYTES_MAX = 1 << 20
REQUEST_TIMEOUT_S = 60.0


class TileClient:
    """A tlog-tiles endpoint at ``base_url`` (keep-alive, gzip understood), optionally with a token."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HostError(f"--tiles must be an http(s) URL such as https://cdn.example/log, got {base_url!r}")
        self._parts = parts
        self._headers = {"Accept-Encoding": "gzip"} | ({"Authorization": f"Bearer {token}"} if token else {})
        self._connection: http.client.HTTPConnection | None = None
        self._current_size: int | None = None
        self._readers: dict[int, TileReader] = {}
        self.fetched = 0

    @property
    def url(self) -> str:
        return self._parts.geturl()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            parts = self._parts
            if parts.scheme == "https":
                self._connection = http.client.HTTPSConnection(
                    parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S, context=ssl.create_default_context())
            else:
                self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S)
        return self._connection

    def _get(self, path: str, limit: int) -> bytes | None:
        """The bytes at ``<prefix>/<path>``, None for a 404."""
        target = f"{self._parts.path}/{path}"
        for attempt in (1, 2):  # a keep-alive connection the server closed is reopened once
            try:
                connection = self._connect()
                connection.request("GET", target, headers=self._headers)
                response = connection.getresponse()
                body = response.read(limit + 1)
                if response.will_close or len(body) > limit:
                    self.close()
                break
            except (OSError, http.client.HTTPException) as error:
                self.close()
                if attempt == 2:
                    raise HostError(f"cannot reach the tiles at {self.url}: {error}") from None
        self.fetched += 1
        if response.status == 404:
            return None
        if response.status in (401, 403):
            raise HostError(f"the tiles endpoint refused the token for {path} ({response.status})")
        if response.status != 200:
            raise AuditError(f"the tiles endpoint answered {response.status} to {path}")
        if len(body) > limit:
            raise AuditError(f"{path}: larger than {limit} bytes")
        if (response.getheader("Content-Encoding") or "").lower() == "gzip":
            body = _gunzip(body, limit, path)
        return body

    # --- what the verifier asks a host ----------------------------------------------------

    def checkpoint(self) -> str:
        data = self._get("checkpoint", CHECKPOINT_BYTES_MAX)
        if data is None:
            raise HostError(f"{self.url}/checkpoint: not found (is this a tlog-tiles endpoint?)")
        text = data.decode("utf-8", "replace")
        try:  # which partial tiles exist follows the current size; trust comes later, from signatures
            self._current_size = parse_checkpoint(text[: text.rfind("\n\n") + 1]).size
        except TransparencyError:
            self._current_size = None
        return text

    def _reader(self, size: int) -> TileReader:
        reader = self._readers.get(size)
        if reader is None:
            if len(self._readers) >= 4:
                self._readers.pop(next(iter(self._readers)))
            reader = self._readers[size] = TileReader(size, self.fetch)
        return reader

    def consistency(self, old: int, new: int) -> tuple[bytes, ...]:
        return self._proof(lambda: self._reader(new).consistency_proof(old))

    def inclusion(self, index: int, size: int) -> tuple[bytes, ...]:
        return self._proof(lambda: self._reader(size).inclusion_proof(index))

    @staticmethod
    def _proof(build) -> tuple[bytes, ...]:
        try:
            return build()
        except TransparencyError as error:
            raise AuditError(f"the tiles do not give the proof: {error}") from None

    def verified_pages(self, checkpoint: Checkpoint, start: int, end: int) -> Iterator[tuple[int, tuple[bytes, ...]]]:
        """Entries [start, end) in pages, each proven against ``checkpoint`` (verified before)."""
        while start < end:
            stop = min(end, start + TILED_PAGE_ENTRIES)
            try:
                entries = verify_tiled_entries(checkpoint, start, stop, self.fetch)
            except ProofError as error:
                raise AuditError(f"entries [{start}, {stop}) read from the tiles are not the checkpoint's: {error}: "
                                 "records were changed, removed or reordered") from None
            yield start, entries
            start = stop

    # --- the tile source ---------------------------------------------------------------

    def fetch(self, path: str) -> bytes | None:
        """A tile's bytes (`revstream.transparency.TileFetch`); an older partial falls back to the
        current size's partial of the same tile, cut to the width asked for."""
        data = self._get(path, TILE_RESPONSE_BYTES_MAX)
        if data is not None or self._current_size is None:
            return data
        try:
            tile = parse_tile_path(path)
        except FormatError:
            return None
        current = _width_at(tile, self._current_size)
        if not tile.is_partial or current <= tile.width or current == TILE_WIDTH:
            return None  # a full tile is the reader's own fallback
        data = self._get(tile_path(Tile(tile.level, tile.index, current)), TILE_RESPONSE_BYTES_MAX)
        if data is None:
            return None
        if tile.is_entry_bundle:
            try:
                return entry_bundle(parse_entry_bundle(data, current)[: tile.width])
            except FormatError:
                return data  # the reader reports it
        return data[: tile.width * 32]


def _width_at(tile: Tile, size: int) -> int:
    """Width of ``tile``'s (level, index) in a tree of ``size`` leaves (0 if it has none)."""
    level = 0 if tile.is_entry_bundle else tile.level
    hashes = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, hashes - tile.index * TILE_WIDTH))


def _gunzip(body: bytes, limit: int, path: str) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, limit + 1)
    except zlib.error as error:
        raise AuditError(f"{path}: not gzip: {error}") from None
    if len(data) > limit or decompressor.unconsumed_tail:
        raise AuditError(f"{path}: larger than {limit} bytes once decompressed")
    return data

