"""The witness's HTTP interface (c2sp.org/tlog-witness), a small Starlette app.

* ``POST /add-checkpoint``: the spec's request; 200 with the cosignature line, or the
  spec's status (400, 403, 404, 409 with ``<size>\\n`` as ``text/x.tlog.size``, 422) with a
  one-line text reason. Bodies are plain text, not the gateway's OpenAI error JSON: this
  endpoint speaks the tlog-witness protocol, whose clients read text.
* ``GET /<hex SHA-256 of origin>/checkpoint``: the latest checkpoint it cosigned for that
  log, with the log signature(s) it verified and its cosignature (the spec's monitoring
  API); 404 if it never cosigned one.

Check and persist run under one lock, in a worker thread: a request is answered only once
its new state is on disk, and two racing requests cannot roll a log back. One process per
state directory (the directory lock enforces it), so serve with one worker.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ._config import WitnessConfig
from ._core import ADD_CHECKPOINT_BODY_BYTES_MAX, Cosigned, add_checkpoint, parse_add_checkpoint
from ._errors import Refusal, Unprocessable
from ._store import StateDirectory

__all__ = ("create_witness_app",)

_log = logging.getLogger("revstream.witness")
_TEXT = "text/plain; charset=utf-8"


class _Witness:
    """The running witness: configuration, key, current state, and the lock around updates."""

    def __init__(self, config: WitnessConfig, directory: StateDirectory, clock_s: Callable[[], float]) -> None:
        self.config = config
        self.directory = directory
        self.skey, self.vkey = directory.read_key()
        self.state = directory.load()
        self.clock_s = clock_s
        self.lock = threading.Lock()
        self.origin_by_hash = {hashlib.sha256(origin.encode()).hexdigest(): origin for origin in config.logs}

    def add(self, body: bytes) -> Cosigned:
        request = parse_add_checkpoint(body)
        with self.lock:
            now_s = max(1, int(self.clock_s()))
            try:
                cosigned = add_checkpoint(request, self.config, self.state, self.skey, now_s)
            except Unprocessable:  # raised only once the log's signature verified: keep the proof
                kept = self.directory.record_evidence(body, now_s)
                _log.warning("kept a log-signed checkpoint that does not extend the witnessed one: %s", kept)
                raise
            state = self.state.with_log(cosigned.origin, cosigned.log)
            self.directory.save(state)  # before answering: the spec requires it
            self.state = state
        return cosigned


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it passes ADD_CHECKPOINT_BODY_BYTES_MAX."""
    chunks, length = [], 0
    async for chunk in request.stream():
        length += len(chunk)
        if length > ADD_CHECKPOINT_BODY_BYTES_MAX:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _refusal(refusal: Refusal) -> Response:
    # The header is set as is: Starlette would add "; charset=utf-8" to a text/* media type, and
    # clients compare a 409's Content-Type with "text/x.tlog.size" exactly.
    return Response(refusal.body(), status_code=refusal.status, headers={"Content-Type": refusal.content_type})


def create_witness_app(
    config: WitnessConfig, directory: StateDirectory, *, clock_s: Callable[[], float] = time.time
) -> Starlette:
    """The witness app over an *open* (locked) state directory holding a key."""
    witness = _Witness(config, directory, clock_s)

    async def add_checkpoint_endpoint(request: Request) -> Response:
        body = await _read_body(request)
        if body is None:
            return PlainTextResponse(f"the body is larger than {ADD_CHECKPOINT_BODY_BYTES_MAX} bytes\n", 413)
        try:
            cosigned = await anyio.to_thread.run_sync(witness.add, body)
        except Refusal as refusal:
            if refusal.status in (409, 422):
                _log.warning("refused a checkpoint (%d): %s", refusal.status, refusal)
            return _refusal(refusal)
        except OSError as error:  # the state could not be persisted: never cosign then
            _log.error("cannot persist the witness state: %s", error)
            return PlainTextResponse("the witness cannot persist its state\n", 500)
        return Response(cosigned.cosignature, media_type=_TEXT)

    async def checkpoint_endpoint(request: Request) -> Response:
        origin = witness.origin_by_hash.get(request.path_params["origin_hash"])
        log = witness.state.logs.get(origin) if origin is not None else None
        if log is None:
            return PlainTextResponse("this witness has cosigned no checkpoint of that log\n", 404)
        return Response(log.checkpoint, media_type=_TEXT, headers={"Cache-Control": "no-cache"})

    routes = [
        Route("/add-checkpoint", add_checkpoint_endpoint, methods=["POST"]),
        Route("/{origin_hash:str}/checkpoint", checkpoint_endpoint, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.witness_vkey = witness.vkey
    return app
