"""The request pipeline, per request:

    authenticate → validate → resolve model → prepare (count prompt, context check)
    → admit (back-pressure) → pending usage record (durable) → backend call (streamed)
    → finalize usage record

Exactly one usage record exists for every request that reached a backend,
however it ends: finished (`ok`), client gone (`aborted`), backend failure after
the call (`error`). Requests refused before the backend call leave no record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from ..backends import BackendError, Finish, PreparedRequest, TextDelta, UsageMeter
from ..metering import STATUS_ABORTED, STATUS_ERROR, STATUS_OK, FinalUsage, PendingUsage
from ._auth import Principal
from ._errors import from_backend, model_not_found
from ._responses import ResponseBuilder
from ._schema import ParsedRequest
from ._state import AppState, ServedModel
from ._streaming import EventStreamResponse, wait_for_disconnect

log = logging.getLogger("revstream.gateway")
SETTLE_WAIT_S = 10.0


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(slots=True)
class Call:
    """One admitted request on its way through the backend."""

    state: AppState
    served: ServedModel
    prepared: PreparedRequest
    principal: Principal
    request_id: str
    endpoint: str
    meter: UsageMeter
    started: float
    finalized: bool = False

    def finalize(self, status: str, finish: Finish | None = None, error_code: str | None = None) -> None:
        """Write the usage record's final state, once. Counts come from `finish` when
        generation completed, else from the meter once the backend has stopped."""
        if self.finalized:
            return
        self.finalized = True
        if finish is not None:
            self._write(status, finish.tokens_prompt, finish.tokens_completion, finish.usage_source, error_code)
        else:
            self.state.spawn(self._finalize_when_settled(status, error_code))

    async def _finalize_when_settled(self, status: str, error_code: str | None) -> None:
        try:
            await asyncio.wait_for(self.meter.settled.wait(), SETTLE_WAIT_S)
        except asyncio.TimeoutError:
            log.warning("backend for %s did not stop within %ss; recording what is known", self.request_id, SETTLE_WAIT_S)
        counter = getattr(self.served.backend, "count_locally", None)
        if counter is not None and self.meter.usage_source == "backend" and status != STATUS_OK:
            counter(self.prepared, self.meter, "".join(self.meter.text_parts))
        meter = self.meter
        self._write(status, meter.tokens_prompt, meter.tokens_completion, meter.usage_source, error_code)

    def _write(self, status: str, tokens_prompt: int, tokens_completion: int, source: str, error_code: str | None) -> None:
        duration_ms = int((time.monotonic() - self.started) * 1000)
        self.state.writer.finalize(
            FinalUsage(
                request_id=self.request_id, status=status, tokens_prompt=tokens_prompt,
                tokens_completion=tokens_completion, usage_source=source, finalized_us=now_us(),
                ttft_ms=self.meter.ttft_ms, duration_ms=duration_ms, error_code=error_code,
            )
        )
        self.state.metrics.observe_tokens(self.served.config.name, tokens_prompt, tokens_completion, self.meter.ttft_ms)


async def admit(state: AppState, parsed: ParsedRequest, principal: Principal, request_id: str, endpoint: str) -> Call:
    """Resolve and prepare the request, then write its pending usage record."""
    generation = parsed.generation
    served = state.model(generation.model)
    if served is None:
        raise model_not_found(generation.model)
    try:
        prepared = await served.backend.prepare(generation)
    except BackendError as error:
        raise from_backend(error) from error
    await state.writer.admit()
    pending = PendingUsage(
        request_id=request_id, idempotency_key=None, time_us=now_us(), customer_id=principal.customer_id,
        key_id=principal.key_id, model=served.config.name, backend=served.backend.kind, endpoint=endpoint,
        tokens_prompt=prepared.tokens_prompt or 0, worker_id=state.worker_id,
    )
    try:
        await asyncio.shield(state.writer.insert_pending(pending))
    except BaseException:
        state.writer.discard(request_id)
        raise
    return Call(state, served, prepared, principal, request_id, endpoint, UsageMeter(), time.monotonic())


async def respond(call: Call, parsed: ParsedRequest, request: Request) -> Response:
    builder = ResponseBuilder(
        call.endpoint, _response_id(call), int(time.time()), parsed.generation.model, parsed.include_usage
    )
    if parsed.generation.stream:
        return await _stream(call, builder)
    return await _complete(call, builder, request)


def _response_id(call: Call) -> str:
    prefix = "chatcmpl-" if call.endpoint == "chat" else "cmpl-"
    return prefix + call.request_id.removeprefix("req_")


async def _collect(call: Call) -> tuple[str, Finish]:
    parts: list[str] = []
    async for event in call.served.backend.execute(call.prepared, call.meter):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        else:
            return "".join(parts), event
    raise BackendError("the backend ended without finishing")


async def _complete(call: Call, builder: ResponseBuilder, request: Request) -> Response:
    collect = asyncio.ensure_future(_collect(call))
    watcher = asyncio.ensure_future(wait_for_disconnect(request.receive))
    try:
        await asyncio.wait((collect, watcher), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        collect.cancel()
        call.finalize(STATUS_ABORTED, error_code="client_disconnected")
        raise
    finally:
        watcher.cancel()
    if not collect.done():
        collect.cancel()
        call.finalize(STATUS_ABORTED, error_code="client_disconnected")
        return Response(status_code=499)
    try:
        text, finish = collect.result()
    except BackendError as error:
        call.finalize(STATUS_ERROR, error_code=error.code)
        raise from_backend(error) from error
    except BaseException:
        call.finalize(STATUS_ERROR, error_code="internal_error")
        raise
    call.finalize(STATUS_OK, finish)
    return Response(builder.complete(text, finish), media_type="application/json")


async def _stream(call: Call, builder: ResponseBuilder) -> Response:
    events = call.served.backend.execute(call.prepared, call.meter)
    try:
        first = await events.__anext__()
    except BackendError as error:
        call.finalize(STATUS_ERROR, error_code=error.code)
        raise from_backend(error) from error
    except BaseException:
        await events.aclose()
        call.finalize(STATUS_ERROR, error_code="internal_error")
        raise
    return EventStreamResponse(call, builder, first, events)
