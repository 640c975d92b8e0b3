"""The request pipeline, per request:

    authenticate → validate → resolve model → prepare (count prompt, context check)
    → rate limits (requests and tokens per minute) → admit: idempotency claim,
      reservation of the maximum cost, pending usage record (durable, one transaction)
    → backend call (streamed) → finalize: usage record, charge, ledger

Exactly one usage record exists for every request that reached a backend,
however it ends: finished (`ok`), client gone (`aborted`), backend failure after
the call (`error`). Requests refused before the backend call leave no record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from ..backends import BackendError, Finish, PreparedRequest, TextDelta, UsageMeter
from ..ratelimit import KeyLimits, RateLimitError, rate_limit_headers, refusal_message
from ..billing import CODE_AMOUNT_OUT_OF_RANGE
from ..plans import CODE_MODEL_NOT_IN_PLAN
from ..metering import STATUS_ABORTED, STATUS_ERROR, STATUS_OK, FinalUsage, PendingUsage
from ..store import ADMITTED, DENIED, MISMATCH, RUNNING, AdmitOutcome, AdmitRequest, StoredResponse
from ._auth import Principal
from ._errors import ApiError, from_backend, model_not_found
from ._plan_limits import plan_bucket
from ._responses import ResponseBuilder
from ._schema import ParsedRequest
from ._state import AppState, ServedModel
from ._streaming import EventStreamResponse, wait_for_disconnect

log = logging.getLogger("revstream.gateway")
SETTLE_WAIT_S = 10.0


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class Idempotency:
    key: str
    request_sha256: str


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
    keeps_response: bool = False
    # Rate-limit headers for the response, and the tokens charged to the key's
    # tokens-per-minute bucket at admission (the unused part is given back).
    headers: dict[str, str] = field(default_factory=dict)
    tokens_limited: int = 0
    finalized: bool = False
    # The customer's plan's rate limits, when it has some (the same tokens were charged there).
    plan_limits: KeyLimits | None = None

    async def close(
        self, status: str, finish: Finish | None = None, error_code: str | None = None,
        response: StoredResponse | None = None,
    ) -> None:
        """Finalize where the caller can wait. An idempotent request waits for the
        commit, so a retry sent the moment this response arrives finds the outcome
        (the stored result, or a failure it may run again), never a request still running."""
        if not self.keeps_response or self.finalized:
            self.finalize(status, finish, error_code)
            return
        self.finalized = True
        if finish is None:
            await self._settled()
            meter = self.meter
            finish = Finish("stop", meter.tokens_prompt, meter.tokens_completion, meter.usage_source)
        final = self._final(status, finish.tokens_prompt, finish.tokens_completion, finish.usage_source, error_code)
        await self.state.writer.finalize_durably(final, response if status == STATUS_OK else None)
        self._after_write(finish.tokens_prompt, finish.tokens_completion)

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

    async def _settled(self) -> None:
        """Wait for the backend to stop, then make sure the meter holds counted tokens."""
        try:
            await asyncio.wait_for(self.meter.settled.wait(), SETTLE_WAIT_S)
        except asyncio.TimeoutError:
            log.warning("backend for %s did not stop within %ss; recording what is known", self.request_id, SETTLE_WAIT_S)
        counter = getattr(self.served.backend, "count_locally", None)
        if counter is not None and self.meter.usage_source == "backend" and self.meter.text_parts:
            counter(self.prepared, self.meter, "".join(self.meter.text_parts))

    async def _finalize_when_settled(self, status: str, error_code: str | None) -> None:
        await self._settled()
        meter = self.meter
        self._write(status, meter.tokens_prompt, meter.tokens_completion, meter.usage_source, error_code)

    def _write(self, status: str, tokens_prompt: int, tokens_completion: int, source: str, error_code: str | None) -> None:
        self.state.writer.finalize(self._final(status, tokens_prompt, tokens_completion, source, error_code), None)
        self._after_write(tokens_prompt, tokens_completion)

    def _final(self, status: str, tokens_prompt: int, tokens_completion: int, source: str, error_code: str | None) -> FinalUsage:
        return FinalUsage(
            request_id=self.request_id, status=status, tokens_prompt=tokens_prompt,
            tokens_completion=tokens_completion, usage_source=source, finalized_us=now_us(),
            ttft_ms=self.meter.ttft_ms, duration_ms=int((time.monotonic() - self.started) * 1000), error_code=error_code,
        )

    def _after_write(self, tokens_prompt: int, tokens_completion: int) -> None:
        self.state.metrics.observe_tokens(self.served.config.name, tokens_prompt, tokens_completion, self.meter.ttft_ms)
        unused = self.tokens_limited - tokens_prompt - tokens_completion
        if unused > 0 and self.principal.limits.tokens_per_minute:
            self.state.spawn(self._give_back(unused))
        if unused > 0 and self.plan_limits and self.plan_limits.tokens_per_minute:
            self.state.spawn(give_back_plan_tokens(self.state, self.principal, self.plan_limits, unused))

    async def _give_back(self, tokens: int) -> None:
        await give_back_tokens(self.state, self.principal, tokens)


async def give_back_tokens(state: AppState, principal: Principal, tokens: int) -> None:
    try:
        await state.limiter.give_back(principal.key_id, principal.limits, tokens)
    except RateLimitError as error:  # the bucket refills by itself; nothing is lost but headroom
        log.warning("could not return %d unused tokens to the rate limit of %s: %s", tokens, principal.key_id, error)


async def give_back_plan_tokens(state: AppState, principal: Principal, limits: KeyLimits, tokens: int) -> None:
    try:
        await state.limiter.give_back(plan_bucket(principal.customer_id), limits, tokens)
    except RateLimitError as error:  # the bucket refills by itself
        log.warning("could not return %d unused tokens to the plan of %s: %s", tokens, principal.customer_id, error)


async def _plan_rate_limit(state: AppState, principal: Principal, tokens_limited: int) -> KeyLimits | None:
    """Charge the customer's plan's rate limits (when it has some); 429 past them, with the
    key's tokens given back."""
    limits = await state.plan_limits.limits_of(principal.customer_id) if state.plan_limits else None
    if limits is None:
        return None
    decision = await state.limiter.admit(plan_bucket(principal.customer_id), limits, tokens_limited)
    if not decision.allowed:
        if principal.limits.tokens_per_minute:
            state.spawn(give_back_tokens(state, principal, tokens_limited))
        raise ApiError(429, f"Your plan's rate limit: {refusal_message(decision)}", decision.refused[0][0],
                       "rate_limit_exceeded", headers=rate_limit_headers(decision))
    return limits


def _refusal(outcome: AdmitOutcome) -> ApiError | Response:
    if outcome.kind == DENIED and outcome.code == CODE_MODEL_NOT_IN_PLAN:
        return ApiError(403, outcome.message, "invalid_request_error", CODE_MODEL_NOT_IN_PLAN, "model")
    if outcome.kind == DENIED and outcome.code == CODE_AMOUNT_OUT_OF_RANGE:
        return ApiError(400, outcome.message, "invalid_request_error", CODE_AMOUNT_OUT_OF_RANGE, "max_tokens")
    if outcome.kind == DENIED:
        return ApiError(429, outcome.message, "insufficient_quota", "insufficient_quota", headers={"x-should-retry": "false"})
    if outcome.kind == RUNNING:
        return ApiError(409, outcome.message, "invalid_request_error", "idempotency_key_in_use")
    if outcome.kind == MISMATCH:
        return ApiError(400, outcome.message, "invalid_request_error", "idempotency_key_reused", "Idempotency-Key")
    stored = outcome.response
    return Response(stored.body, stored.status_code, media_type=stored.content_type, headers={"idempotent-replayed": "true"})


async def admit(
    state: AppState, parsed: ParsedRequest, principal: Principal, request_id: str, endpoint: str,
    idempotency: Idempotency | None = None,
) -> Call | Response:
    """Resolve and prepare the request, then reserve its maximum cost and write its
    pending usage record. Returns the stored response of an idempotent replay."""
    generation = parsed.generation
    served = state.model(generation.model)
    if served is None:
        raise model_not_found(generation.model)
    try:
        prepared = await served.backend.prepare(generation)
    except BackendError as error:
        raise from_backend(error) from error
    pending = PendingUsage(
        request_id=request_id, idempotency_key=idempotency.key if idempotency else None, time_us=now_us(),
        customer_id=principal.customer_id, key_id=principal.key_id, model=served.config.name,
        backend=served.backend.kind, endpoint=endpoint, tokens_prompt=prepared.tokens_prompt or 0,
        worker_id=state.worker_id,
    )
    max_completion = prepared.max_tokens or state.config.limits.max_tokens_max
    tokens_limited = prepared.tokens_prompt_bound + max_completion
    decision = await state.limiter.admit(principal.key_id, principal.limits, tokens_limited)
    headers = rate_limit_headers(decision)
    if not decision.allowed:
        raise ApiError(429, refusal_message(decision), decision.refused[0][0], "rate_limit_exceeded", headers=headers)
    plan_limits = await _plan_rate_limit(state, principal, tokens_limited)
    outcome = await state.writer.admit(
        AdmitRequest(pending, max_completion, idempotency.request_sha256 if idempotency else None, prepared.tokens_prompt_max)
    )
    if outcome.kind != ADMITTED:
        # The request will not run: what it took from the tokens-per-minute bucket goes back.
        if principal.limits.tokens_per_minute:
            state.spawn(give_back_tokens(state, principal, tokens_limited))
        if plan_limits and plan_limits.tokens_per_minute:
            state.spawn(give_back_plan_tokens(state, principal, plan_limits, tokens_limited))
        refusal = _refusal(outcome)
        if isinstance(refusal, ApiError):
            raise refusal
        return refusal
    return Call(
        state, served, prepared, principal, request_id, endpoint, UsageMeter(), time.monotonic(),
        keeps_response=idempotency is not None, headers=headers, tokens_limited=tokens_limited, plan_limits=plan_limits,
    )


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
        call.finalize(STATUS_ABORTED, error_code="client_disconnected")
        if left.is_set() and handler.uncancel() == 0:
            return Response(status_code=499)
        raise
    except BackendError as error:
        await call.close(STATUS_ERROR, error_code=error.code)
        raise from_backend(error) from error
    except Exception:
        await call.close(STATUS_ERROR, error_code="internal_error")
        raise
    finally:
        watcher.cancel()
    body = builder.complete(text, finish)
    await call.close(STATUS_OK, finish, response=StoredResponse(200, "application/json", body))
    return Response(body, media_type="application/json", headers=call.headers)


async def _stream(call: Call, builder: ResponseBuilder) -> Response:
    events = call.served.backend.execute(call.prepared, call.meter)
    try:
        first = await events.__anext__()
    except BackendError as error:
        await call.close(STATUS_ERROR, error_code=error.code)
        raise from_backend(error) from error
    except BaseException:
        await events.aclose()
        call.finalize(STATUS_ERROR, error_code="internal_error")
        raise
    return EventStreamResponse(call, builder, first, events)
