"""Credit and budget rules for admitting a priced request. Pure: state in, decision out.

Before the backend is called the gateway reserves the request's maximum cost. The
reservation is granted only if the customer's funding (prepaid credit, or a postpaid
credit limit) and every budget that applies (per customer and per key; per day, per
month or lifetime) have room for it. Reserved amounts count as spent until settled,
so concurrent requests can never together spend more than the credit or a budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..ledger import AccountKind
from ..money import format_nanos_exact
from ..periods import Period, day_start_us

BILLING_PREPAID = "prepaid"
BILLING_POSTPAID = "postpaid"
BILLING_MODES = (BILLING_PREPAID, BILLING_POSTPAID)
BUDGET_PERIODS = ("day", "month", "lifetime")
REQUEST_NANOS_MAX = 2**63 - 1
"""The most one request may reserve or be charged (a 64-bit column on the usage record)."""
CODE_AMOUNT_OUT_OF_RANGE = "amount_out_of_range"


class BillingError(Exception):
    """A billing setting is invalid (unknown period, currency mismatch, ...)."""


def window_start_us(period: str, time_us: int) -> int:
    """The start of the budget window holding `time_us` (UTC day, UTC month, or 0)."""
    if period == "lifetime":
        return 0
    if period == "day":
        return day_start_us(time_us)
    if period == "month":
        return Period.of_us(time_us).start_us
    raise BillingError(f"unknown budget period {period!r}: use one of {', '.join(BUDGET_PERIODS)}")


@dataclass(frozen=True, slots=True)
class Funding:
    """Where a customer's spending comes from, as read inside the admitting transaction.

    `balance_nanos` is the debit-positive ledger balance of the funding account:
    customer_credit (negative while credit remains) or customer_receivable (positive
    while the customer owes). `held_nanos` is the sum of the holds of the customer's
    requests still running."""

    customer_id: str
    customer: str
    mode: str
    currency: str | None
    balance_nanos: int
    credit_limit_nanos: int | None
    # The holds of the customer's requests still running.
    held_nanos: int = 0

    @property
    def funding_kind(self) -> str:
        return AccountKind.CUSTOMER_RECEIVABLE if self.mode == BILLING_POSTPAID else AccountKind.CUSTOMER_CREDIT

    @property
    def available_nanos(self) -> int:
        """What may still be reserved: credit left (or limit not yet used) minus holds."""
        if self.mode == BILLING_POSTPAID:
            return (self.credit_limit_nanos or 0) - self.balance_nanos - self.held_nanos
        return -self.balance_nanos - self.held_nanos


@dataclass(frozen=True, slots=True)
class BudgetWindow:
    budget_id: str
    key_id: str  # "" for a customer-wide budget
    period: str
    currency: str
    limit_nanos: int
    window_start_us: int
    spent_nanos: int
    reserved_nanos: int

    @property
    def headroom_nanos(self) -> int:
        return self.limit_nanos - self.spent_nanos - self.reserved_nanos

    def describe(self) -> str:
        scope = f"key {self.key_id}" if self.key_id else "customer"
        period = {"day": "daily", "month": "monthly", "lifetime": "lifetime"}[self.period]
        return f"{period} {scope} budget of {format_nanos_exact(self.limit_nanos, self.currency)} {self.currency}"


@dataclass(frozen=True, slots=True)
class Denial:
    message: str
    code: str = "insufficient_quota"


def _amount(nanos: int, currency: str) -> str:
    return f"{format_nanos_exact(nanos, currency)} {currency}"


def check_reservation(
    amount_nanos: int, currency: str, funding: Funding, windows: tuple[BudgetWindow, ...],
    held_extra_nanos: int = 0, reserved_extra_nanos: Mapping[tuple[str, int], int] | None = None,
) -> Denial | None:
    """None when `amount_nanos` may be reserved; otherwise why not, in words for the customer.

    `held_extra_nanos` and `reserved_extra_nanos` (by budget window) are what earlier
    requests of the same batch reserved after `funding` and `windows` were read."""
    reserved_extra_nanos = reserved_extra_nanos or {}
    if funding.currency is not None and funding.currency != currency:
        return Denial(
            f"This model is priced in {currency} but your account is billed in {funding.currency}; "
            "ask your provider to align them."
        )
    available = funding.available_nanos - held_extra_nanos if funding.currency is not None else 0
    if available < amount_nanos:
        kind = "credit limit" if funding.mode == BILLING_POSTPAID else "credit"
        return Denial(
            f"You exceeded your current quota: this request may cost up to {_amount(amount_nanos, currency)} "
            f"and {_amount(max(available, 0), currency)} of {kind} is available. Lower max_tokens or add credit."
        )
    for window in windows:
        if window.currency != currency:
            continue
        headroom = window.headroom_nanos - reserved_extra_nanos.get((window.budget_id, window.window_start_us), 0)
        if headroom < amount_nanos:
            return Denial(
                f"Budget exceeded: the {window.describe()} has {_amount(max(headroom, 0), currency)} left "
                f"and this request may cost up to {_amount(amount_nanos, currency)}."
            )
    return None
