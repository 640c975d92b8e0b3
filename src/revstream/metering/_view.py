"""The public JSON shape of a usage record (CLI --json, admin and /v1 usage)."""

from __future__ import annotations

from ..money import format_nanos_exact
from ..periods import parse_time_us, rfc3339
from ._record import UsageRecord

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
        "stream": record.stream,
        "plan_id": record.plan_id,
        "tokens_included": record.tokens_included,
    }


def balance_json(balance) -> dict:
    """The public JSON shape of a customer's balance (CLI --json, admin and /v1)."""
    currency = balance.currency
    return {
        "customer": balance.customer, "customer_id": balance.customer_id, "billing_mode": balance.billing_mode,
        "currency": currency, "available_nanos": balance.available_nanos, "reserved_nanos": balance.reserved_nanos,
        "spent_nanos": balance.spent_nanos, "credit_limit_nanos": balance.credit_limit_nanos,
        "available": format_nanos_exact(balance.available_nanos, currency) if currency else "0",
    }
