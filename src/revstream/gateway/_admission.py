"""Admission: a parsed request becomes an admitted `Call`, or a refusal is raised.

    resolve the model
    → rate limits: a token lease on the request's byte bound, before any tokenization
    → prepare: the backend counts the prompt and checks its context window
    → the lease shrinks to the exact count
    → the store, in one transaction: idempotency claim, reservation of the maximum cost,
      pending usage record

Each step returns or raises. Anything raised once the lease is taken gives back what it holds
(exactly once, see `TokenLease`), except that a prompt the backend refused as too long for the
model keeps its bound counted: tokenizing it was work done for this caller. An idempotent retry
of a finished request raises `Replayed`, which carries the stored response.

Bounding by bytes (the bounds are `revstream.admission`'s: a prompt has at most as many tokens
as UTF-8 bytes plus its chat template's allowances). The tokens-per-minute limits are charged
with that bound plus the completion's before the backend tokenizes anything: a caller whose
limits cannot hold a multi-megabyte prompt is refused at once and costs the worker nothing. The
exact count then shrinks the lease; it never grows it (a template beyond the allowances is logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.responses import Response

from .. import admission as bounds
from ..admission import TEMPLATE_TOKENS_MAX, TEMPLATE_TOKENS_PER_MESSAGE_MAX  # noqa: F401 (re-exported: tests size prompts with them)
from ..billing import CODE_AMOUNT_OUT_OF_RANGE
from ..backends import Backend, BackendError, ContextLengthExceeded, GenerationRequest, PreparedRequest
from ..config import LimitsConfig
from ..metering import PendingUsage
from ..plans import CODE_MODEL_NOT_IN_PLAN
from ..ratelimit import RateDecision, TokenLease, rate_limit_headers, refund, refusal_message
from ..store import AdmitOutcome, AdmitRequest
from ..store import AdmitKind
from ._auth import Principal
from ._call import Call
from ._errors import ApiError, from_backend, model_not_found
from ._plan_limits import plan_bucket
from ._schema import ParsedRequest
from ._state import AppState

log = logging.getLogger("revstream.gateway")


@dataclass(frozen=True, slots=True)
class Idempotency:
    key: str
    request_sha256: str


class Replayed(Exception):
    """An idempotent retry of a request that already finished: answer its stored response."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


def _utf8_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def prompt_tokens_bound(request: GenerationRequest) -> int:
    """The most tokens the request's prompt can tokenize to, from its bytes alone."""
    if request.endpoint == "chat":
        content_bytes = sum(_utf8_bytes(message.content) for message in request.messages)
        return bounds.prompt_tokens_bound(content_bytes, len(request.messages))
    return bounds.prompt_tokens_bound(_utf8_bytes(request.prompt), None)


def completion_tokens_bound(request: GenerationRequest, backend: Backend, limits: LimitsConfig) -> int:
    """The most tokens the completion can have before the prompt is counted (see
    `revstream.admission.completion_tokens_bound`)."""
    return bounds.completion_tokens_bound(request.max_tokens, limits.max_tokens_max, backend.context_window)


async def admit(
    state: AppState, parsed: ParsedRequest, principal: Principal, request_id: str, endpoint: str,
    idempotency: Idempotency | None = None,
) -> Call:
    """Admit the request: returns the `Call` to run, or raises (`ApiError`, `Replayed`)."""
    generation = parsed.generation
    served = state.model(generation.model)
    if served is None:
        raise model_not_found(generation.model)
    prompt_bound = prompt_tokens_bound(generation)
    completion_bound = completion_tokens_bound(generation, served.backend, state.config.limits)
    lease, decision = await _take_lease(state, principal, prompt_bound + completion_bound)
    tokens_kept = 0
    try:
        try:
            prepared = await served.backend.prepare(generation)
        except ContextLengthExceeded as error:
            tokens_kept = prompt_bound  # it was tokenized for this caller: that work counts
            raise from_backend(error) from error
        except BackendError as error:
            raise from_backend(error) from error
        max_completion = prepared.max_tokens or state.config.limits.max_tokens_max
        given_back = await _shrink(lease, prepared, max_completion, request_id)
        pending = PendingUsage(
            request_id=request_id, idempotency_key=idempotency.key if idempotency else None, time_us=state.clock(),
            customer_id=principal.customer_id, key_id=principal.key_id, model=served.config.name,
            backend=served.backend.kind, endpoint=endpoint, tokens_prompt=prepared.tokens_prompt or 0,
            worker_id=state.worker_id,
        )
        request_sha256 = idempotency.request_sha256 if idempotency else None
        outcome = await state.writer.admit(
            AdmitRequest(pending, max_completion, request_sha256, prepared.tokens_prompt_max)
        )
        if outcome.kind != AdmitKind.ADMITTED:
            raise _refusal(outcome)
    except BaseException:
        if lease.holds:
            await state.run_to_end(lease.release(tokens_kept))
        raise
    return Call(
        state, served, prepared, principal, request_id, endpoint, lease, started_us=state.clock(),
        headers=rate_limit_headers(refund(decision, given_back)), keeps_response=idempotency is not None,
    )


async def _take_lease(state: AppState, principal: Principal, tokens: int) -> tuple[TokenLease, RateDecision]:
    """Charge the key's limits, then its plan's (when it has some), with the same tokens; 429
    at the first that refuses, with what the others took given back. Returns the lease and the
    key's decision (its headers go on the response)."""
    lease = TokenLease(state.limiter, tokens)
    decision = await lease.take(principal.key_id, principal.limits)
    if not decision.allowed:
        raise _rate_limited(decision)
    try:
        plan_limits = await state.plan_limits.limits_of(principal.customer_id) if state.plan_limits else None
        if plan_limits is not None:
            plan_decision = await lease.take(plan_bucket(principal.customer_id), plan_limits)
            if not plan_decision.allowed:
                raise _rate_limited(plan_decision, "Your plan's rate limit: ")
    except BaseException:
        if lease.holds:
            await state.run_to_end(lease.release(0))
        raise
    return lease, decision


async def _shrink(lease: TokenLease, prepared: PreparedRequest, max_completion: int, request_id: str) -> int:
    """Hold only the exact bound once the backend counted the prompt; tokens given back."""
    exact = prepared.tokens_prompt_bound + max_completion
    # Only a count proves the allowances short: a backend's own bound of an uncounted prompt
    # (an upstream without a template allows 256 tokens of framing) is looser by design, and
    # logging it cost every such request a log line (9% of a worker's CPU).
    if exact > lease.tokens and prepared.tokens_prompt is not None:
        log.warning("request %s: %d tokens exceed the byte bound of %d charged to its rate limits "
                    "(a chat template beyond the gateway's allowances)", request_id, exact, lease.tokens)
    return await lease.shrink(exact)


def _rate_limited(decision: RateDecision, prefix: str = "") -> ApiError:
    return ApiError(429, prefix + refusal_message(decision), decision.refused[0][0], "rate_limit_exceeded",
                    headers=rate_limit_headers(decision))


def _refusal(outcome: AdmitOutcome) -> Exception:
    """What a request the store did not admit answers instead."""
    match outcome.kind:
        case AdmitKind.DENIED if outcome.code == CODE_MODEL_NOT_IN_PLAN:
            return ApiError(403, outcome.message, "invalid_request_error", CODE_MODEL_NOT_IN_PLAN, "model")
        case AdmitKind.DENIED if outcome.code == CODE_AMOUNT_OUT_OF_RANGE:
            return ApiError(400, outcome.message, "invalid_request_error", CODE_AMOUNT_OUT_OF_RANGE, "max_tokens")
        case AdmitKind.DENIED:
            return ApiError(429, outcome.message, "insufficient_quota", "insufficient_quota",
                            headers={"x-should-retry": "false"})
        case AdmitKind.RUNNING:
            return ApiError(409, outcome.message, "invalid_request_error", "idempotency_key_in_use")
        case AdmitKind.MISMATCH:
            return ApiError(400, outcome.message, "invalid_request_error", "idempotency_key_reused", "Idempotency-Key")
        case AdmitKind.REPLAY:
            stored = outcome.response
            return Replayed(Response(stored.body, stored.status_code, media_type=stored.content_type,
                                     headers={"idempotent-replayed": "true"}))
    raise ValueError(f"not a refusal: {outcome.kind!r}")
