"""The transparency log over HTTP as C2SP tlog-tiles (c2sp.org/tlog-tiles), beside the JSON
endpoints of `_transparency`: `GET /checkpoint`, `GET /tile/<L>/<N>[.p/<W>]` and
`GET /tile/entries/<N>[.p/<W>]`, read from the store (`revstream.store.read_tile`).

Who may read what:

* `/checkpoint` and the hash tiles are public. They say how many leaves the log has and
  commit to them, nothing else (a hash of a leaf that holds a random request id reveals
  nothing of it). Witnesses, monitors and licensors' verifiers fetch them without a token,
  and a CDN may cache them for everyone: this is what lets anyone compare what the host
  shows different audiences (a split view).
* Entry bundles are the leaves themselves: business volumes, models, charges, and customer
  pseudonyms that link every request of one customer (pseudonymised data is still personal
  data under the GDPR, recital 26). They keep the rule of `/transparency/*`: a licensor
  token or the admin token. A host that decides to publish them does so with
  `revstream log export-tiles` and a static server of its choice.

Caching: a tile within the latest signed checkpoint never changes (see `store._tiles`), so
tiles are `immutable` for a year (`public` for hash tiles, `private` for entry bundles,
which a shared cache must not hand to someone without a token); the checkpoint is
`max-age=5`, the spec's "a few seconds"; a 404 is `no-store` (the tile may exist soon).
Entry bundles are gzipped when the client accepts gzip (the spec's SHOULD).
"""

from __future__ import annotations

import asyncio
import gzip

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store import LogIntegrityError, read_tile
from ._witnessing import published_checkpoint
from ..transparency import FormatError, Tile, parse_tile_path
from ._errors import ApiError
from ._routes_v1 import state_of
from ._transparency import NOTE_MEDIA_TYPE, _require_reader

TILE_MEDIA_TYPE = "application/octet-stream"
TILE_CACHE_CONTROL = "public, max-age=31536000, immutable"
BUNDLE_CACHE_CONTROL = "private, max-age=31536000, immutable"
CHECKPOINT_CACHE_CONTROL = "public, max-age=5"
ABSENT_CACHE_CONTROL = "no-store"
GZIP_LEVEL = 6
"""zlib's default: entry bundles of canonical JSON shrink about 4 to 6 times."""


def tile_routes() -> list[Route]:
    return [
        Route("/checkpoint", tiles_checkpoint, methods=["GET"]),
        Route("/tile/{path:path}", tile, methods=["GET"]),
    ]


def _absent(message: str, code: str) -> ApiError:
    return ApiError(404, message, code=code, headers={"cache-control": ABSENT_CACHE_CONTROL})


async def tiles_checkpoint(request: Request) -> Response:
    state = state_of(request)
    published = await asyncio.to_thread(published_checkpoint, state.engine, state.config.transparency)
    if published is None:
        raise _absent("this host has signed no checkpoint yet", "no_checkpoint")
    return Response(published.note, media_type=NOTE_MEDIA_TYPE, headers={"cache-control": CHECKPOINT_CACHE_CONTROL})


def _parse(path: str) -> Tile:
    try:
        return parse_tile_path("tile/" + path)
    except FormatError:
        raise _absent(f"no tile at /tile/{path}: tiles are /tile/<L>/<N>[.p/<W>] and "
                      "/tile/entries/<N>[.p/<W>] (C2SP tlog-tiles)", "tile_not_found") from None


def _accepts_gzip(request: Request) -> bool:
    """Whether Accept-Encoding names gzip (or `*`) with a non-zero quality (RFC 9110 §12.5.3)."""
    for part in request.headers.get("accept-encoding", "").split(","):
        name, _, parameters = part.partition(";")
        if name.strip().lower() not in ("gzip", "*"):
            continue
        key, _, value = parameters.replace(" ", "").lower().partition("=")
        return key != "q" or value.strip("0.") != "" or not value  # q=0, q=0.0, q=0.000 refuse
    return False


def _read(engine, tile: Tile, compress: bool) -> tuple[bytes, bool] | None:
    found = read_tile(engine, tile)
    if found is None:
        return None
    data = found[0]
    if compress:
        return gzip.compress(data, GZIP_LEVEL, mtime=0), True
    return data, False


async def tile(request: Request) -> Response:
    path = request.path_params["path"]
    parsed = _parse(path)
    if parsed.is_entry_bundle:
        await _require_reader(request)
    compress = parsed.is_entry_bundle and _accepts_gzip(request)
    try:
        found = await asyncio.to_thread(_read, state_of(request).engine, parsed, compress)
    except LogIntegrityError as error:
        raise ApiError(500, str(error), "server_error", "log_integrity") from error
    if found is None:
        raise _absent(f"/tile/{path} is not within the latest signed checkpoint", "tile_not_found")
    data, compressed = found
    headers = {"cache-control": BUNDLE_CACHE_CONTROL if parsed.is_entry_bundle else TILE_CACHE_CONTROL}
    if parsed.is_entry_bundle:
        headers["vary"] = "Accept-Encoding, Authorization"
    if compressed:
        headers["content-encoding"] = "gzip"
    return Response(data, media_type=TILE_MEDIA_TYPE, headers=headers)
