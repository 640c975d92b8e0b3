"""Idempotency keys: a request retried with the same key by the same customer runs
once; the retry gets the stored result, or 409 while the first is still running."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, delete, select, update

from ..metering import STATUS_OK, PendingUsage
from ._schema import idempotency_keys
from ._sql import insert_ignore


class AdmitKind(StrEnum):
    """What an admission came to: run the request, or what a refused one answers instead."""

    ADMITTED = "admitted"  # reserved and recorded pending: call the backend
    DENIED = "denied"  # no money or quota for it (or a plan without the model)
    REPLAY = "replay"  # an idempotent retry of a finished request: its stored response
    RUNNING = "running"  # an idempotent retry while the first is still running
    MISMATCH = "mismatch"  # an idempotency key reused with another request body


class IdempotencyKeyState(StrEnum):
    """The stored state of an idempotency key (the strings in `idempotency_keys.state`)."""

    RUNNING = "running"
    DONE = "done"


ADMITTED, DENIED, REPLAY, RUNNING, MISMATCH = (
    AdmitKind.ADMITTED, AdmitKind.DENIED, AdmitKind.REPLAY, AdmitKind.RUNNING, AdmitKind.MISMATCH,
)
STORED_BODY_BYTES_MAX = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AdmitRequest:
    pending: PendingUsage
    max_completion_tokens: int
    request_sha256: str | None = None
    # An upper bound on the prompt's tokens when the record's count is not exact.
    tokens_prompt_max: int | None = None


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class AdmitOutcome:
    kind: AdmitKind
    reserved_nanos: int = 0
    currency: str | None = None
    message: str = ""
    response: StoredResponse | None = None
    # Why a DENIED request was refused: "insufficient_quota" or a plan's "model_not_in_plan".
    code: str = "insufficient_quota"


def claim(connection: Connection, request: AdmitRequest, now_us: int) -> AdmitOutcome | None:
    """Take the key for this request (None), or say what a retry gets instead."""
    pending = request.pending
    row = {
        "customer_id": pending.customer_id, "idempotency_key": pending.idempotency_key,
        "request_id": pending.request_id, "request_sha256": request.request_sha256 or "", "state": IdempotencyKeyState.RUNNING,
        "status_code": None, "content_type": None, "body": None, "created_us": now_us,
    }
    if insert_ignore(connection, idempotency_keys, [row], ("customer_id", "idempotency_key")):
        return None
    existing = connection.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.customer_id == pending.customer_id,
            idempotency_keys.c.idempotency_key == pending.idempotency_key,
        )
    ).one()
    if existing.request_sha256 != (request.request_sha256 or ""):
        return AdmitOutcome(MISMATCH, message="This Idempotency-Key was already used with a different request body.")
    if existing.state == IdempotencyKeyState.RUNNING:
        return AdmitOutcome(RUNNING, message="A request with this Idempotency-Key is still running; retry when it has finished.")
    return AdmitOutcome(REPLAY, response=StoredResponse(existing.status_code, existing.content_type, existing.body))


def forget(connection: Connection, keys: list[tuple[str, str]]) -> None:
    """Release keys whose request did not run, so a retry may run it."""
    for customer_id, key in keys:
        connection.execute(delete(idempotency_keys).where(
            idempotency_keys.c.customer_id == customer_id, idempotency_keys.c.idempotency_key == key,
            idempotency_keys.c.state == IdempotencyKeyState.RUNNING,
        ))


def settle(connection: Connection, finals, records, responses: dict[str, StoredResponse]) -> None:
    """Store the result of each completed idempotent request; release the key of one
    that failed or was cut short, so that a retry runs it again."""
    for final in finals:
        record = records.get(final.request_id)
        if record is None or record.idempotency_key is None:
            continue
        response = responses.get(final.request_id)
        where = (idempotency_keys.c.customer_id == record.customer_id, idempotency_keys.c.idempotency_key == record.idempotency_key)
        if final.status == STATUS_OK and response is not None and len(response.body) <= STORED_BODY_BYTES_MAX:
            connection.execute(update(idempotency_keys).where(*where).values(
                state=IdempotencyKeyState.DONE, status_code=response.status_code, content_type=response.content_type, body=response.body,
            ))
        else:
            connection.execute(delete(idempotency_keys).where(*where))
