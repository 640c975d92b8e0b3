"""The public faces of `revstream.plans` and `revstream.invoicing` are pinned."""

from __future__ import annotations

import revstream.invoicing
import revstream.plans

PLANS = {
    "CODE_MODEL_NOT_IN_PLAN", "CODE_QUOTA", "KIND_COMMIT", "KIND_FREE", "KIND_PAYG", "KIND_SUBSCRIPTION", "PLAN_KINDS",
    "STREAM_OF_KIND", "FeePart", "Invoice", "InvoiceError", "InvoiceLine", "Plan", "PlanAdmission", "PlanError",
    "PlanValueError", "QuotaWindow", "Segment", "SubscriptionError", "MessageSummary", "UsageSummary", "admit_plan", "compute_invoice",
    "discount_factor", "discounted_nanos", "draft_plan", "fee_parts", "included_tokens", "minimum_parts", "invoice_entry",
    "invoice_json", "invoice_number_text", "overage_exact", "overage_hold_nanos", "period_bounds_s", "period_of_s",
    "split_actual", "validate_invoice", "validate_plan", "validate_segments", "window_bounds_s",
}
INVOICING = {"InvoiceView", "RenderError", "invoice_view", "render_html", "render_pdf"}


def test_plans_public_names_are_pinned():
    assert set(revstream.plans.__all__) == PLANS
    assert all(hasattr(revstream.plans, name) for name in PLANS)


def test_invoicing_public_names_are_pinned():
    assert set(revstream.invoicing.__all__) == INVOICING
    assert all(hasattr(revstream.invoicing, name) for name in INVOICING)


def test_every_plan_error_is_a_plan_error():
    for name in ("PlanValueError", "SubscriptionError", "InvoiceError"):
        assert issubclass(getattr(revstream.plans, name), revstream.plans.PlanError)
