"""The transparency log over HTTP (licensor token or admin token), and the appender task.

Every worker runs `run_appender`; the store's lock on the log head makes appends happen
one worker at a time, so adding workers adds no duplicate work, only availability.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time

from starlette.requests import Request
from starlette.responses import Response

from ..keys import hash_secret, secrets_equal
from ..store import (
    LOG_APPEND_BATCH_MAX,
    CheckpointPolicy,
    LogIntegrityError,
    append_log,
    consistency_hashes,
    find_key,
    find_licensor_token,
    get_meta,
    inclusion_hashes,
    latest_checkpoint,
    NotFound,
    get_statement,
    list_statements,
    log_entries,
    log_verifier_key,
    prefix_hashes,
)
from ._auth import ADMIN_TOKEN_META_KEY, bearer
from ._errors import ApiError, invalid
from ._routes_v1 import json_response, state_of
from ._state import AppState
from ._witnessing import published_checkpoint, witnessing_health

log = logging.getLogger("revstream.transparency")
NOTE_MEDIA_TYPE = "text/plain; charset=utf-8"


# --- the appender ---------------------------------------------------------------------

async def run_appender(state: AppState, stop: asyncio.Event, on_signed=None) -> None:
    """Append waiting usage records every `log_append_interval_s` until `stop` is set;
    `on_signed()` is called after a checkpoint is signed (issue 17: witnesses are asked then)."""
    settings = state.config.transparency
    policy = CheckpointPolicy(int(settings.checkpoint_interval_s * 1e6), settings.checkpoint_records)
    while not stop.is_set():
        try:
            # A host that has not run `revstream log init` publishes no log and pays nothing
            # for one: its final records wait in the outbox and are all appended, in order,
            # once the log is initialized.
            initialized = await asyncio.to_thread(log_verifier_key, state.engine) is not None
            look_first = True
            while initialized:  # catch up in bounded batches, one transaction each
                # In the usage writer's own thread, between its batches: this process's
                # writes never contend for SQLite's single write lock (a writer that finds
                # it taken backs off for tens of milliseconds: a visible stall).
                result = await state.writer.call(append_log, state.engine, policy, time.time_ns() // 1000,
                                                 LOG_APPEND_BATCH_MAX, look_first)
                if result.signed is not None and on_signed is not None:  # issue 17: ask the witnesses now
                    on_signed()
                if result.appended < LOG_APPEND_BATCH_MAX or stop.is_set():
                    break
                look_first = False  # a full batch: more is waiting
            state.log_appender_error = None
        except Exception as error:  # a store hiccup must not kill the worker; health shows it
            # Its type only: the text of a driver error names the database's host (in the log).
            state.log_appender_error = type(error).__name__
            log.warning("transparency log append failed: %s", error)
        try:
            await asyncio.wait_for(stop.wait(), settings.log_append_interval_s)
        except TimeoutError:
            pass


async def log_health(state: AppState) -> dict:
    checkpoint = await asyncio.to_thread(latest_checkpoint, state.engine)
    signing = await asyncio.to_thread(log_verifier_key, state.engine) is not None
    error = state.log_appender_error
    detail = error or ("ok" if signing else "not initialized: final records wait in the outbox until `revstream log init`")
    witnessing = await asyncio.to_thread(witnessing_health, state.engine, state.config.transparency)  # issue 17
    return {"ready": error is None, "signing": signing,
            "checkpoint_size": checkpoint.size if checkpoint else None, "detail": detail, "witnessing": witnessing}


# --- HTTP -----------------------------------------------------------------------------

async def _require_reader(request: Request) -> str | None:
    """The licensor id of a licensor token, or None for the admin token. As the dashboard
    answers: 401 without a token or with one that is unknown or revoked, 403 with a token of
    another kind (a customer's API key)."""
    token = bearer(request.headers)
    if token is None:
        raise ApiError(401, "the transparency log needs a licensor token: Authorization: Bearer rslic-… "
                            "(create one with `revstream licensors token NAME`)", code="invalid_licensor_token")
    engine = state_of(request).engine
    digest = hash_secret(token)
    licensor_id = await asyncio.to_thread(find_licensor_token, engine, digest)
    if licensor_id is not None:
        return licensor_id
    admin = await asyncio.to_thread(get_meta, engine, ADMIN_TOKEN_META_KEY)
    if admin is not None and secrets_equal(admin, digest):
        return None
    key = await asyncio.to_thread(find_key, engine, digest)
    if key is not None and key.revoked_us is None:
        raise ApiError(403, "this token cannot read the transparency log: use a licensor token or the admin token",
                       code="forbidden")
    raise ApiError(401, "the token is unknown or revoked: the transparency log needs a licensor token "
                        "or the admin token", code="invalid_licensor_token")


def _integer(request: Request, name: str) -> int:
    value = request.query_params.get(name)
    if value is None:
        raise invalid(f"the query parameter '{name}' is required", name)
    if not value.isascii() or not value.isdigit():
        raise invalid(f"'{name}' must be a non-negative integer, got {value!r}", name)
    return int(value)


def _b64(values) -> list[str]:
    return [base64.b64encode(value).decode("ascii") for value in values]


async def _read(function, *args):
    try:
        return await asyncio.to_thread(function, *args)
    except LogIntegrityError as error:
        raise ApiError(500, str(error), "server_error", "log_integrity") from error
    except ValueError as error:
        raise invalid(str(error), code="bad_range") from error


async def checkpoint(request: Request) -> Response:
    """The published checkpoint: with witnesses, the newest one the quorum cosigned, with
    their cosignatures (see `_witnessing.published_checkpoint`)."""
    await _require_reader(request)
    state = state_of(request)
    published = await asyncio.to_thread(published_checkpoint, state.engine, state.config.transparency)
    if published is None:
        raise ApiError(404, "this host has signed no checkpoint yet", code="no_checkpoint")
    return Response(published.note, media_type=NOTE_MEDIA_TYPE)


async def inclusion_proof(request: Request) -> Response:
    await _require_reader(request)
    index, size = _integer(request, "index"), _integer(request, "size")
    hashes = await _read(inclusion_hashes, state_of(request).engine, index, size)
    return json_response({"index": index, "size": size, "hashes": _b64(hashes)})


async def consistency_proof(request: Request) -> Response:
    await _require_reader(request)
    old, new = _integer(request, "old"), _integer(request, "new")
    hashes = await _read(consistency_hashes, state_of(request).engine, old, new)
    return json_response({"old": old, "new": new, "hashes": _b64(hashes)})


async def entries(request: Request) -> Response:
    await _require_reader(request)
    start, end = _integer(request, "start"), _integer(request, "end")
    data = await _read(log_entries, state_of(request).engine, start, end)
    return json_response({"start": start, "end": start + len(data), "entries": _b64(data)})


async def prefix(request: Request) -> Response:
    """The complete-subtree hashes tiling leaves [0, start): with entries [start, size) they
    give the root of size leaves (see revstream.transparency.CompactRange)."""
    await _require_reader(request)
    start = _integer(request, "start")
    hashes = await _read(prefix_hashes, state_of(request).engine, start)
    return json_response({"start": start, "hashes": _b64(hashes)})


def _statement_summary(stored) -> dict:
    return {"statement": stored.statement_id, "period": stored.period, "agreement": stored.agreement_id,
            "currency": stored.currency, "share_total_minor": stored.share_total_minor,
            "signed": stored.signed_note is not None}


async def statements(request: Request) -> Response:
    """The statements a licensor token may read (its own licensor's; all with the admin token)."""
    licensor_id = await _require_reader(request)
    found = await asyncio.to_thread(list_statements, state_of(request).engine, None, licensor_id)
    return json_response({"statements": [_statement_summary(stored) for stored in found]})


async def statement_note(request: Request) -> Response:
    """One statement as its signed note (text/plain), the file `revstream verify` checks."""
    licensor_id = await _require_reader(request)
    statement_id = request.path_params["statement_id"]
    try:
        stored = await asyncio.to_thread(get_statement, state_of(request).engine, statement_id)
    except NotFound:
        stored = None
    if stored is None or (licensor_id is not None and stored.licensor_id != licensor_id):
        raise ApiError(404, f"no statement {statement_id} for this token", code="statement_not_found")
    if stored.signed_note is None:
        raise ApiError(404, f"statement {statement_id} was closed before the log had a key: it is not signed",
                       code="statement_not_signed")
    return Response(stored.signed_note, media_type=NOTE_MEDIA_TYPE)
