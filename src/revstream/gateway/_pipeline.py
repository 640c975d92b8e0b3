"""The request path, one way, as httpx's send path reads:

    admit(state, parsed, principal, ...) -> Call     (`_admission`) returns, or raises a refusal
    run(call, parsed, request) -> Response          calls the backend: collected or streamed
    call.finish(outcome)                            (`_call`) the one finalizer

Exactly one usage record exists for every request that reached a backend, however it ends:
finished (`ok`), client gone (`aborted`), backend failure after the call (`error`). Requests
refused before the backend call leave no record. Every end of a call goes through
`Call.finish`, which records it once and gives back the rate-limit tokens it did not use.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson  # licence (issue 15): the body of a refused completion
from starlette.background import BackgroundTask  # ads (issue 13): an impression is charged once delivered
from starlette.requests import Request
from starlette.responses import Response

from ..backends import BackendError, Finish, TextDelta
from ..metering import UsageStatus
from ..store import StoredResponse
from ._admission import Idempotency, Replayed, admit
from ._call import Call, Outcome
from ._errors import from_backend
from ._licence import output_refusal, screens_outputs  # licence (issue 15)
from ._recitation import generate  # recitation (issue 16)
from ._responses import ResponseBuilder
from ._schema import ParsedRequest
from ._streaming import CLIENT_LEFT, EVENT_STREAM, EventStreamResponse, wait_for_disconnect

__all__ = ["Call", "Idempotency", "Outcome", "Replayed", "admit", "run"]

FAILED = Outcome(UsageStatus.ERROR, error_code="internal_error")


async def run(call: Call, parsed: ParsedRequest, request: Request) -> Response:
    """Call the backend for an admitted request and answer it."""
    created_s = call.state.clock() // 1_000_000
    builder = ResponseBuilder(call.endpoint, _response_id(call), created_s, parsed.generation.model, parsed.include_usage)
    ads = request.scope.get("revstream.ads")  # ads (issue 13): None unless this request may carry an ad
    if parsed.generation.stream and not screens_outputs(call.state):
        return await _stream(call, builder, ads)
    return await _complete(call, builder, request, parsed, ads)


def _response_id(call: Call) -> str:
    prefix = "chatcmpl-" if call.endpoint == "chat" else "cmpl-"
    return prefix + call.request_id.removeprefix("req_")


async def _collect(call: Call) -> tuple[str, Finish]:
    parts: list[str] = []
    async with contextlib.aclosing(generate(call)) as events:  # recitation (issue 16): guarded
        async for event in events:
            if isinstance(event, TextDelta):
                parts.append(event.text)
            else:
                return "".join(parts), event
    raise BackendError("the backend ended without finishing")


async def _complete(call: Call, builder: ResponseBuilder, request: Request, parsed: ParsedRequest, ads=None) -> Response:
    """A whole completion, generated while the connection is watched: a client that leaves
    cancels generation at once and the call is recorded as aborted.

    A streamed request comes here too when the host classifies outputs (licence, issue 15):
    no token may reach the client before the whole answer is classified, so the answer is
    held, then sent as one burst of server-sent events, or refused with a plain 400."""
    handler = asyncio.current_task()
    left = asyncio.Event()

    async def watch() -> None:
        await wait_for_disconnect(request.receive)
        left.set()
        handler.cancel()  # the client is gone: stop generating for it

    watcher = asyncio.ensure_future(watch())
    try:
        text, finish = await _collect(call)
    except asyncio.CancelledError:
        await call.finish(CLIENT_LEFT)
        if left.is_set() and handler.uncancel() == 0:
            return Response(status_code=499)
        raise
    except BackendError as error:
        await call.finish(Outcome(UsageStatus.ERROR, error_code=error.code))
        raise from_backend(error) from error
    except Exception:
        await call.finish(FAILED)
        raise
    finally:
        watcher.cancel()
    refused = await output_refusal(call.state, parsed, text, call.headers)  # licence (issue 15): outputs
    if refused is not None:  # generated, so billed as consumed; the text is withheld
        stored = StoredResponse(400, "application/json", orjson.dumps(refused.body()))
        await call.finish(Outcome(UsageStatus.OK, finish, response=stored))
        return refused.response(call.request_id)
    placed = await ads.place(text) if ads is not None else None  # ads (issue 13): chosen after the answer
    sponsored = placed.sponsored if placed else None
    if parsed.generation.stream:  # held for the output screen: the whole answer as one burst of events
        body, media_type = held_events(builder, text, finish, sponsored), EVENT_STREAM
    else:
        body, media_type = builder.complete(text, finish, sponsored), "application/json"
    await call.finish(Outcome(UsageStatus.OK, finish, response=StoredResponse(200, media_type, body)))
    return Response(body, media_type=media_type, headers=call.headers,
                    background=BackgroundTask(placed.deliver) if placed else None)


def held_events(builder: ResponseBuilder, text: str, finish: Finish, sponsored: dict | None) -> bytes:
    """A stream's chunks for an answer generated whole: the role, the text, the end."""
    return builder.first_chunk() + (builder.text_chunk(text) if text else b"") + builder.finish_chunks(finish, sponsored)


async def _stream(call: Call, builder: ResponseBuilder, ads=None) -> Response:
    """Wait for the backend's first event (so a backend down answers a plain HTTP error),
    then stream the rest as server-sent events."""
    events = generate(call)  # recitation (issue 16): the backend's events through the guard
    try:
        first = await anext(events)
    except BackendError as error:
        await call.finish(Outcome(UsageStatus.ERROR, error_code=error.code))
        raise from_backend(error) from error
    except BaseException:
        await events.aclose()
        await call.finish(FAILED)
        raise
    return EventStreamResponse(call, builder, first, events, ads)

