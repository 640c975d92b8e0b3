"""The public face of `revstream.admission` is pinned."""

from __future__ import annotations

import revstream.admission

ADMISSION = {
    "QUOTA_KINDS", "TEMPLATE_TOKENS_MAX", "TEMPLATE_TOKENS_PER_MESSAGE_MAX", "Admission", "AdmittedBatch", "Ask",
    "Books", "Held", "PlanInForce", "Settlement", "admit_batch", "budget_window_bounds_us", "charge_before_cap",
    "completion_tokens_bound", "expected_charge", "plan_rate_limits", "price_hold_nanos", "prompt_tokens_bound",
    "release", "settle",
}


def test_admission_public_names_are_pinned():
    assert set(revstream.admission.__all__) == ADMISSION
    assert all(hasattr(revstream.admission, name) for name in ADMISSION)
