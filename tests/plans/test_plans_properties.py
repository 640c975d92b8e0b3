"""Property tests: any sequence of plan changes within a period bills exactly the time
spent on each plan, and the invoice rounds the period once."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.money import round_half_even
from revstream.plans import Segment, compute_invoice, draft_plan, fee_parts, period_bounds_s

PLANS = [draft_plan(name=f"p{fee}", kind="subscription", fee=f"{fee}.{cents:02d}", tokens_included=1000)
         for fee, cents in ((0, 1), (7, 33), (20, 0), (99, 99), (1234, 56))]
START, END = period_bounds_s("2026-02")


@st.composite
def changes(draw):
    """A subscription that starts somewhere in (or before) the period and changes plan
    at any seconds, possibly ending before the period does."""
    times = sorted(draw(st.sets(st.integers(START - 86_400, END + 86_400), min_size=1, max_size=12)))
    plans = [draw(st.sampled_from(PLANS)) for _ in times]
    open_end = draw(st.booleans())
    segments = [Segment(plan, start, end) for plan, start, end in zip(plans, times, times[1:] + [None])]
    if not open_end:
        segments[-1] = Segment(plans[-1], times[-1], times[-1] + draw(st.integers(0, 86_400 * 40)))
    return segments


@settings(max_examples=300, deadline=None)
@given(changes())
def test_fee_parts_sum_to_the_exact_prorated_fees(segments):
    parts = fee_parts(segments, "2026-02")
    expected = Fraction(0)
    for segment in segments:
        lower, upper = max(segment.start_s, START), min(END if segment.end_s is None else segment.end_s, END)
        if upper > lower:
            expected += Fraction(segment.plan.fee_nanos * (upper - lower), END - START)
    assert sum((p.fee_exact for p in parts), Fraction(0)) == expected
    # The parts never overlap and stay inside the period.
    for earlier, later in zip(parts, parts[1:]):
        assert START <= earlier.start_s < earlier.end_s <= later.start_s < later.end_s <= END


@settings(max_examples=200, deadline=None)
@given(changes(), st.integers(0, 2500))
def test_the_invoice_rounds_the_exact_total_once(segments, tax_rate_bps):
    parts = fee_parts(segments, "2026-02")
    invoice = compute_invoice(customer="c", period="2026-02", currency="USD", country="DE",
                              tax_rate_bps=tax_rate_bps, fees=parts, usage=())
    exact = sum((p.fee_exact for p in parts), Fraction(0))
    assert invoice.subtotal_minor == round_half_even(exact / 10_000_000)
    assert invoice.tax_minor == round_half_even(exact * tax_rate_bps / 10_000 / 10_000_000)
    assert invoice.residue_nanos == invoice.subtotal_minor * 10_000_000 - round_half_even(exact)
    assert abs(invoice.residue_nanos) <= 5_000_000


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(PLANS), st.lists(st.integers(START + 1, END - 1), min_size=1, max_size=8, unique=True))
def test_changing_to_the_same_fee_any_number_of_times_costs_one_full_fee(plan, cuts):
    times = [START, *sorted(cuts)]
    segments = [Segment(plan, a, b) for a, b in zip(times, times[1:] + [None])]
    assert sum((p.fee_exact for p in fee_parts(segments, "2026-02")), Fraction(0)) == plan.fee_nanos
