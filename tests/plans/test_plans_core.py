"""The plans core: plan values, cycles, quota decisions and invoices, pure and exact."""

from __future__ import annotations

from datetime import datetime, timezone
from fractions import Fraction

import pytest

from revstream.ledger import AccountKind, validate_entries
from revstream.plans import (
    CODE_MODEL_NOT_IN_PLAN,
    CODE_QUOTA,
    FeePart,
    Plan,
    PlanValueError,
    QuotaWindow,
    Segment,
    SubscriptionError,
    UsageSummary,
    admit_plan,
    compute_invoice,
    discounted_nanos,
    draft_plan,
    fee_parts,
    included_tokens,
    invoice_entry,
    invoice_json,
    period_bounds_s,
    split_actual,
    validate_plan,
    window_bounds_s,
)

UNIT = 1_000_000_000
PRO = draft_plan(name="pro", kind="subscription", fee="20.00", tokens_included=1_000_000, overage_per_mtok="2.00")
STOP = draft_plan(name="stop", kind="subscription", fee="10.00", tokens_included=1000)
FREE = draft_plan(name="free", kind="free", tokens_per_day=500, models=("small",))
COMMIT = draft_plan(name="big", kind="commit", minimum="100.00", discount_bps=1000)
FEB_START, FEB_END = period_bounds_s("2026-02")


def test_draft_plan_converts_decimal_strings_exactly():
    assert PRO.fee_nanos == 20 * UNIT and PRO.overage_nanos_per_mtok == 2 * UNIT
    assert PRO.stream == "subscription" and not PRO.hard_stop
    assert STOP.hard_stop and FREE.hard_stop and FREE.stream == "ads" and COMMIT.stream == "api"


@pytest.mark.parametrize("terms, message", [
    ({"name": "x", "kind": "gold"}, "kind"),
    ({"name": "bad name", "kind": "payg"}, "name"),
    ({"name": "x", "kind": "payg", "fee_nanos": 5}, "does not apply"),
    ({"name": "x", "kind": "free", "tokens_per_day": 10}, "free plan needs"),
    ({"name": "x", "kind": "commit", "discount_bps": 10_001}, "discount_bps"),
    ({"name": "x", "kind": "subscription", "fee_nanos": -1}, "fee_nanos"),
    ({"name": "x", "kind": "payg", "currency": "usd"}, "currency"),
])
def test_invalid_plans_are_refused_with_the_field_named(terms, message):
    with pytest.raises(PlanValueError, match=message):
        Plan(**{"currency": "USD", **terms})


def test_validate_plan_lists_every_error():
    plan = Plan(name="ok", kind="payg", currency="USD")
    assert validate_plan(plan) == []
    with pytest.raises(PlanValueError, match="fee"):
        draft_plan(name="x", kind="subscription", fee="twenty")


def test_a_half_month_costs_exactly_half_the_fee():
    half = FEB_START + (FEB_END - FEB_START) // 2
    parts = fee_parts([Segment(PRO, FEB_START, half), Segment(STOP, half)], "2026-02")
    assert [p.fee_exact for p in parts] == [Fraction(10 * UNIT), Fraction(5 * UNIT)]
    assert parts[0].end_s == parts[1].start_s == half


def test_a_subscription_started_before_the_period_is_clipped_to_it():
    [part] = fee_parts([Segment(PRO, FEB_START - 86_400 * 10)], "2026-02")
    assert (part.start_s, part.end_s, part.fee_exact) == (FEB_START, FEB_END, Fraction(20 * UNIT))


def test_overlapping_segments_are_refused():
    with pytest.raises(SubscriptionError, match="overlaps"):
        fee_parts([Segment(PRO, FEB_START), Segment(STOP, FEB_START + 5)], "2026-02")


def test_included_tokens_are_prorated_and_rounded_down():
    third = FEB_START + (FEB_END - FEB_START) // 3
    assert included_tokens(Segment(PRO, FEB_START), FEB_START) == 1_000_000
    assert included_tokens(Segment(PRO, third), FEB_START) == 1_000_000 * (FEB_END - third) // (FEB_END - FEB_START)
    assert included_tokens(Segment(FREE, third), third) == 500  # a daily quota is whole
    assert window_bounds_s(FREE, third + 5)[1] - window_bounds_s(FREE, third + 5)[0] == 86_400


def test_admission_takes_included_tokens_then_overage_or_stops():
    assert admit_plan(PRO, "any", 100, QuotaWindow(1000, 950, 0), 0, "x") == admit_plan(PRO, "any", 100, QuotaWindow(1000, 900, 0), 50, "x")
    decision = admit_plan(PRO, "any", 100, QuotaWindow(1000, 950, 0), 0, "x")
    assert (decision.tokens_included, decision.tokens_overage, decision.refused_code) == (50, 50, None)
    stopped = admit_plan(STOP, "any", 100, QuotaWindow(1000, 950, 0), 0, "2026-03-01T00:00:00Z")
    assert stopped.refused_code == CODE_QUOTA
    assert "'stop'" in stopped.message and "2026-03-01T00:00:00Z" in stopped.message
    assert admit_plan(STOP, "any", 50, QuotaWindow(1000, 950, 0), 0, "x").refused_code is None
    assert admit_plan(FREE, "big-model", 1, QuotaWindow(500, 0, 0), 0, "x").refused_code == CODE_MODEL_NOT_IN_PLAN


def test_split_actual_and_discount():
    assert split_actual(30, 50) == (30, 0) and split_actual(80, 50) == (50, 30)
    assert discounted_nanos(COMMIT, Fraction(1001, 1)) == 901  # 900.9 → 901
    assert discounted_nanos(COMMIT, Fraction(1001, 1), hold=True) == 901
    assert discounted_nanos(None, Fraction(5, 2)) == 2  # half-even


def _usage(**overrides) -> UsageSummary:
    values = dict(period="2026-02", model="m", plan=None, plan_kind=None, requests=2, tokens_prompt=10,
                  tokens_completion=20, tokens_included=0, charge_nanos=1234, list_exact=Fraction(1234), prepaid_nanos=0)
    return UsageSummary(**{**values, **overrides})


def test_an_invoice_rounds_once_and_books_tax_as_a_liability():
    third = Fraction(20 * UNIT, 3)
    invoice = compute_invoice(
        customer="acme", period="2026-02", currency="EUR", country="DE", tax_rate_bps=1900,
        fees=(FeePart("pro", FEB_START, FEB_START + 1, third),),
        usage=(_usage(prepaid_nanos=1234), _usage(model="n", plan="pro", plan_kind="subscription", tokens_included=25,
                                                   charge_nanos=10, list_exact=Fraction(0))),
    )
    assert invoice.subtotal_minor == 667  # 6.666666666... + 0.000001244 → 6.67 once
    assert invoice.tax_minor == 127  # 19% of the exact subtotal, rounded once
    assert invoice.total_minor == 794
    assert [line.kind for line in invoice.lines] == ["fee", "usage", "included", "overage"]
    entry = invoice_entry(invoice, "inv_1", datetime(2026, 3, 1, tzinfo=timezone.utc), customer_owner="cus", host="host")
    assert validate_entries([entry]) == []
    by_kind = {p.account.kind: p.nanos for p in entry.postings}
    assert by_kind[AccountKind.TAX_PAYABLE] == -127 * 10_000_000
    assert by_kind[AccountKind.CUSTOMER_RECEIVABLE] + invoice.booked_nanos == 794 * 10_000_000
    assert AccountKind.HOST_REVENUE in by_kind and -by_kind[AccountKind.HOST_REVENUE] == round(third)
    body = invoice_json(invoice, 7, "2026-03-01T00:00:00Z", "host")
    assert body["number"] == "INV-000007" and body["total"] == "7.94" and body["amount_due_nanos"] == 794 * 10_000_000 - 1234


def test_a_customer_without_a_tax_rate_pays_zero_tax_shown_explicitly():
    invoice = compute_invoice(customer="a", period="2026-02", currency="USD", country=None, tax_rate_bps=0, fees=(),
                              usage=(_usage(),))
    body = invoice_json(invoice, 1, "t", "h")
    assert body["tax"] == {"country": None, "rate_bps": 0} and body["tax_total"] == "0.00"


def test_a_commit_plan_shows_its_discount_and_its_minimum_top_up():
    invoice = compute_invoice(
        customer="a", period="2026-02", currency="USD", country=None, tax_rate_bps=0, fees=(),
        usage=(_usage(plan="big", plan_kind="commit", list_exact=Fraction(1000), charge_nanos=900),),
        minimums=(("big", Fraction(100 * UNIT)),),
    )
    kinds = {line.kind: line.amount_exact for line in invoice.lines}
    assert kinds["usage"] == 1000 and kinds["discount"] == -100 and kinds["minimum"] == 100 * UNIT - 900
    assert invoice.subtotal_minor == 10_000
