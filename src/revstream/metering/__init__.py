"""Metering: the usage record, the unit of truth. Pure values; `store.UsageWriter` writes them."""

from ._record import (
    FINAL_STATUSES,
    STATUS_ABORTED,
    STATUS_ERROR,
    STATUS_INTERRUPTED,
    STATUS_OK,
    STATUS_PENDING,
    FinalUsage,
    PendingUsage,
    UsageRecord,
    UsageStatus,
)
from ._view import balance_json, parse_time_us, rfc3339, usage_json

__all__ = [
    "FINAL_STATUSES",
    "STATUS_ABORTED",
    "STATUS_ERROR",
    "STATUS_INTERRUPTED",
    "STATUS_OK",
    "STATUS_PENDING",
    "FinalUsage",
    "PendingUsage",
    "UsageRecord",
    "UsageStatus",
    "balance_json",
    "parse_time_us",
    "rfc3339",
    "usage_json",
]
