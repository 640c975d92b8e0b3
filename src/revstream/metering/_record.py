"""The usage record: the unit of truth (DESIGN.md). Pure values, no I/O.

A record is written `pending` before the backend is called and finalized once
with one of the final statuses. Records left pending by a crashed worker are
closed as `interrupted` with what is known (the prompt tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class UsageStatus(StrEnum):
    """A usage record's status. A StrEnum: each member is the very string stored and shown."""

    PENDING = "pending"
    OK = "ok"
    ABORTED = "aborted"
    ERROR = "error"
    INTERRUPTED = "interrupted"


STATUS_PENDING = UsageStatus.PENDING
STATUS_OK = UsageStatus.OK
STATUS_ABORTED = UsageStatus.ABORTED
STATUS_ERROR = UsageStatus.ERROR
STATUS_INTERRUPTED = UsageStatus.INTERRUPTED
FINAL_STATUSES = (STATUS_OK, STATUS_ABORTED, STATUS_ERROR, STATUS_INTERRUPTED)


@dataclass(frozen=True, slots=True)
class PendingUsage:
    request_id: str
    idempotency_key: str | None
    time_us: int
    customer_id: str
    key_id: str
    model: str
    backend: str
    endpoint: str
    tokens_prompt: int
    worker_id: str


@dataclass(frozen=True, slots=True)
class FinalUsage:
    request_id: str
    status: UsageStatus
    tokens_prompt: int
    tokens_completion: int
    usage_source: str
    finalized_us: int
    ttft_ms: int | None = None
    duration_ms: int | None = None
    error_code: str | None = None

    def __post_init__(self) -> None:
        if self.status not in FINAL_STATUSES:
            raise ValueError(f"not a final usage status: {self.status!r}")
        object.__setattr__(self, "status", UsageStatus(self.status))
        if self.tokens_prompt < 0 or self.tokens_completion < 0:
            raise ValueError("token counts cannot be negative")


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """A usage record as read back from the store."""

    request_id: str
    idempotency_key: str | None
    time_us: int
    finalized_us: int | None
    customer_id: str
    key_id: str
    model: str
    backend: str
    endpoint: str
    status: str
    tokens_prompt: int
    tokens_completion: int
    usage_source: str
    ttft_ms: int | None
    duration_ms: int | None
    error_code: str | None
    worker_id: str
    max_tokens: int | None = None
    charge_nanos: int | None = None
    currency: str | None = None
    reserved_nanos: int | None = None
    ledger_entry_id: str | None = None
    # Under a plan: its stream, the plan and the included tokens the record used (charged 0
    # when it stays inside them).
    stream: str = "api"
    plan_id: str | None = None
    tokens_included: int | None = None
