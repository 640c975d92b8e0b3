"""Billing rules: funding (prepaid credit, postpaid limits), budgets and reservations. Pure."""

from ._rules import (
    BILLING_MODES,
    BILLING_POSTPAID,
    BILLING_PREPAID,
    BUDGET_PERIODS,
    CODE_AMOUNT_OUT_OF_RANGE,
    REQUEST_NANOS_MAX,
    BillingError,
    BudgetWindow,
    Denial,
    Funding,
    check_reservation,
    window_start_us,
)

__all__ = [
    "BILLING_MODES",
    "BILLING_POSTPAID",
    "BILLING_PREPAID",
    "BUDGET_PERIODS",
    "CODE_AMOUNT_OUT_OF_RANGE",
    "REQUEST_NANOS_MAX",
    "BillingError",
    "BudgetWindow",
    "Denial",
    "Funding",
    "check_reservation",
    "window_start_us",
]
