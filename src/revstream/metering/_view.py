"""The public JSON shape of a usage record (CLI --json, admin and /v1 usage)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ..money import format_nanos_exact
from ._record import UsageRecord

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def rfc3339(time_us: int | None) -> str | None:
    if time_us is None:
        return None
    moment = _EPOCH + timedelta(microseconds=time_us)  # exact: no float seconds
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def usage_json(record: UsageRecord) -> dict:
    return {
        "request_id": record.request_id,
        "time": rfc3339(record.time_us),
        "finalized": rfc3339(record.finalized_us),
        "customer_id": record.customer_id,
        "key_id": record.key_id,
        "model": record.model,
        "backend": record.backend,
        "endpoint": record.endpoint,
        "status": record.status,
        "tokens_prompt": record.tokens_prompt,
        "tokens_completion": record.tokens_completion,
        "usage_source": record.usage_source,
        "ttft_ms": record.ttft_ms,
        "duration_ms": record.duration_ms,
        "error_code": record.error_code,
        "charge_nanos": record.charge_nanos,
        "currency": record.currency,
        "reserved_nanos": record.reserved_nanos,
        "max_tokens": record.max_tokens,
        "ledger_entry_id": record.ledger_entry_id,
    }


def parse_time_us(text: str) -> int:
    """An ISO 8601 date or time as epoch microseconds (UTC when no zone is given).
    Raises ValueError with a message a person can act on."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"expected an ISO 8601 date or time such as 2026-11-01, got {text!r}") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1_000_000)


def balance_json(balance) -> dict:
    """The public JSON shape of a customer's balance (CLI --json, admin and /v1)."""
    currency = balance.currency
    return {
        "customer": balance.customer, "customer_id": balance.customer_id, "billing_mode": balance.billing_mode,
        "currency": currency, "available_nanos": balance.available_nanos, "reserved_nanos": balance.reserved_nanos,
        "spent_nanos": balance.spent_nanos, "credit_limit_nanos": balance.credit_limit_nanos,
        "available": format_nanos_exact(balance.available_nanos, currency) if currency else "0",
    }
