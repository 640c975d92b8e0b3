"""Plans, subscriptions and invoices: pure values and functions, no I/O.

``Plan`` (kinds ``payg``, ``subscription``, ``free``, ``commit``) and ``draft_plan``;
subscription cycles and exact proration (``Segment``, ``fee_parts``, ``included_tokens``);
live quota decisions (``admit_plan``); invoices (``compute_invoice``, ``invoice_entry``,
``invoice_json``). Errors derive from ``PlanError`` (see ``_errors``).
"""

from revstream.plans._cycle import (
    FeePart,
    Segment,
    fee_parts,
    included_tokens,
    minimum_parts,
    period_bounds_s,
    period_of_s,
    validate_segments,
    window_bounds_s,
)
from revstream.plans._errors import InvoiceError, PlanError, PlanValueError, SubscriptionError
from revstream.plans._invoice import (
    Invoice,
    InvoiceLine,
    MessageSummary,
    UsageSummary,
    compute_invoice,
    invoice_entry,
    invoice_json,
    invoice_number_text,
    validate_invoice,
)
from revstream.plans._plan import (
    KIND_COMMIT,
    KIND_FREE,
    KIND_PAYG,
    KIND_SUBSCRIPTION,
    PLAN_KINDS,
    STREAM_OF_KIND,
    Plan,
    draft_plan,
    validate_plan,
)
from revstream.plans._quota import (
    CODE_MODEL_NOT_IN_PLAN,
    CODE_QUOTA,
    PlanAdmission,
    QuotaWindow,
    admit_plan,
    discount_factor,
    discounted_nanos,
    overage_exact,
    overage_hold_nanos,
    split_actual,
)

__all__ = [
    "CODE_MODEL_NOT_IN_PLAN",
    "CODE_QUOTA",
    "KIND_COMMIT",
    "KIND_FREE",
    "KIND_PAYG",
    "KIND_SUBSCRIPTION",
    "PLAN_KINDS",
    "STREAM_OF_KIND",
    "FeePart",
    "Invoice",
    "InvoiceError",
    "InvoiceLine",
    "Plan",
    "PlanAdmission",
    "PlanError",
    "PlanValueError",
    "QuotaWindow",
    "Segment",
    "SubscriptionError",
    "MessageSummary",
    "UsageSummary",
    "admit_plan",
    "compute_invoice",
    "discount_factor",
    "discounted_nanos",
    "draft_plan",
    "fee_parts",
    "included_tokens",
    "minimum_parts",
    "invoice_entry",
    "invoice_json",
    "invoice_number_text",
    "overage_exact",
    "overage_hold_nanos",
    "period_bounds_s",
    "period_of_s",
    "split_actual",
    "validate_invoice",
    "validate_plan",
    "validate_segments",
    "window_bounds_s",
]
