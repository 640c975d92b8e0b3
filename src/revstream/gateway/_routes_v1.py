"""The OpenAI-compatible /v1 endpoints."""

from __future__ import annotations

import asyncio
import hashlib

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..metering import parse_time_us, usage_json
from ..money import json_safe
from ..store import customer_balance, list_usage
from ..metering import balance_json
from ._errors import ApiError, invalid
from ._pipeline import Idempotency, Replayed, admit, run
from ._licence import flag_headers, models_entry_fields, screen_request  # licence (issue 15)
from ._schema import parse_chat, parse_completion
from ._ads import ad_request  # ads (issue 13)
from ._state import AppState

CREATED_EPOCH_S = 1_700_000_000
IDEMPOTENCY_KEY_CHARS_MAX = 255


def state_of(request: Request) -> AppState:
    return request.app.state.revstream


def json_response(value, status: int = 200) -> Response:
    return Response(orjson.dumps(json_safe(value)), status, media_type="application/json")


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ApiError(413, f"the request body exceeds {limit} bytes", code="request_too_large")
    body = await request.body()
    if len(body) > limit:
        raise ApiError(413, f"the request body exceeds {limit} bytes", code="request_too_large")
    return body


def parse_json(body: bytes):
    if not body:
        raise invalid("the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise invalid(f"the request body is not valid JSON: {error}") from error


async def read_json(request: Request, limit: int):
    return parse_json(await read_body(request, limit))


async def list_models(request: Request) -> Response:
    state = state_of(request)
    await state.keys.authenticate(request.headers)
    data = [
        {"id": name, "object": "model", "created": CREATED_EPOCH_S, "owned_by": served.config.owned_by,
         **models_entry_fields(state, name)}  # licence (issue 15): its id, "Built with Llama" where asked
        for name, served in state.models.items()
    ]
    return json_response({"object": "list", "data": data})


def idempotency_of(request: Request, body: bytes) -> Idempotency | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 0 < len(key) <= IDEMPOTENCY_KEY_CHARS_MAX or not key.isprintable():
        raise invalid(f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_CHARS_MAX} printable characters", "Idempotency-Key")
    return Idempotency(key, hashlib.sha256(request.url.path.encode() + b"\n" + body).hexdigest())


async def _generate(request: Request, endpoint: str, parse) -> Response:
    state = state_of(request)
    principal = await state.keys.authenticate(request.headers)
    body = await read_body(request, state.config.server.request_body_bytes_max)
    value = parse_json(body)
    parsed = parse(value, state.config.limits)
    request.scope["revstream.model"] = parsed.generation.model
    request_id = request.scope["revstream.request_id"]
    # licence (issue 15): end user counted, prompt screened; a refusal raises before admission
    screened = await screen_request(state, parsed, principal, request.headers)
    ads = await ad_request(request, parsed, principal, value) if endpoint == "chat" else None  # ads (issue 13)
    try:
        call = await admit(state, parsed, principal, request_id, endpoint, idempotency_of(request, body))
    except Replayed as replayed:
        return replayed.response
    call.headers.update(flag_headers(screened))  # licence (issue 15)
    request.scope["revstream.ads"] = ads  # ads (issue 13): read by the pipeline after the answer
    request.scope["revstream.model"] = call.served.config.name
    return await run(call, parsed, request)


async def chat_completions(request: Request) -> Response:
    return await _generate(request, "chat", parse_chat)


async def completions(request: Request) -> Response:
    return await _generate(request, "completion", parse_completion)


async def my_usage(request: Request) -> Response:
    """A customer's own usage records: never anyone else's."""
    state = state_of(request)
    principal = await state.keys.authenticate(request.headers)
    since = request.query_params.get("since")
    records = await asyncio.to_thread(
        list_usage, state.engine, principal.customer_id, since_us(since) if since else None
    )
    return json_response({"object": "list", "data": [usage_json(r) for r in records]})


def since_us(text: str) -> int:
    try:
        return parse_time_us(text)
    except ValueError as error:
        raise invalid(f"'since': {error}", "since") from error


async def my_balance(request: Request) -> Response:
    """A customer's own balance: available and reserved money."""
    state = state_of(request)
    principal = await state.keys.authenticate(request.headers)
    balance = await asyncio.to_thread(customer_balance, state.engine, principal.customer)
    return json_response(balance_json(balance))
