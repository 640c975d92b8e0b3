"""Property tests: settlement is exact, marginal, bounded, deterministic, and loses no nano."""

from datetime import date
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.money import nanos_per_minor
from revstream.settlement import (
    TIERED_RATE,
    Adjustment,
    Agreement,
    UsageLine,
    compute_statement,
    validate_statement,
)

MODELS = ("m1", "m2", "m3")
STREAMS = ("api", "subscription", "ads")
UNIT = 10**9


@st.composite
def tier_lists(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    thresholds = sorted(set(draw(st.lists(st.integers(1, 10**13), max_size=4))))
    rates = draw(st.lists(st.integers(0, 10_000), min_size=len(thresholds) + 1, max_size=len(thresholds) + 1))
    return tuple(zip([0, *thresholds], rates))


@st.composite
def agreements(draw: st.DrawFn) -> Agreement:
    rule = draw(st.sampled_from(["share", "tiers", "royalty"]))
    terms: dict[str, object] = {}
    if rule == "share":
        terms["share_bps"] = draw(st.integers(0, 10_000))
    elif rule == "tiers":
        terms["tiers"] = draw(tier_lists())
    else:
        terms["royalty_nanos_per_mtok"] = draw(st.integers(0, 10**10))
    bounds = sorted(draw(st.lists(st.integers(0, 10**13), min_size=2, max_size=2)))
    if draw(st.booleans()):
        terms["minimum_nanos"] = bounds[0]
    if draw(st.booleans()):
        terms["cap_nanos"] = bounds[1]
    if draw(st.booleans()):
        terms["stream_share_bps"] = {"subscription": draw(st.integers(0, 10_000))}
    currency = draw(st.sampled_from(["USD", "JPY", "KWD"]))
    return Agreement("lic", "ag", MODELS, currency, date(2024, 1, 1), **terms)  # type: ignore[arg-type]


@st.composite
def usage(draw: st.DrawFn) -> tuple[UsageLine, ...]:
    keys = draw(st.lists(st.tuples(st.sampled_from(MODELS), st.sampled_from(STREAMS)), unique=True, max_size=6))
    return tuple(
        UsageLine(model, stream, draw(st.integers(0, 10**6)), draw(st.integers(0, 10**10)),
                  draw(st.integers(0, 10**10)),
                  Fraction(draw(st.integers(0, 10**16)), draw(st.integers(1, 10**6))))
        for model, stream in keys
    )


@settings(max_examples=200, deadline=None)
@given(agreements(), usage(), st.integers(-(10**7), 10**7))
def test_statement_is_exact_and_sound(terms: Agreement, lines: tuple[UsageLine, ...], carry_in: int) -> None:
    stmt = compute_statement(terms, "2025-05", lines, carry_in)
    assert validate_statement(stmt) == []
    assert stmt.share_total_nanos + stmt.host_net_nanos == stmt.gross_total_nanos
    line_shares = sum(line.share_nanos for line in stmt.lines)
    assert line_shares + stmt.minimum_top_up_nanos - stmt.cap_reduction_nanos == stmt.share_total_nanos
    if terms.minimum_nanos is not None:
        assert stmt.share_total_nanos >= terms.minimum_nanos
    if terms.cap_nanos is not None:
        assert stmt.share_total_nanos <= terms.cap_nanos
    if terms.tiers:
        tiered = [line for line in stmt.lines if line.rate == TIERED_RATE]
        exact = sum((Fraction(b.net_nanos * b.bps, 10_000) for b in stmt.bracket_lines), Fraction(0))
        assert sum(line.share_nanos for line in tiered) == round(exact)
    assert compute_statement(terms, "2025-05", lines, carry_in) == stmt  # deterministic


def _tiered_share(tiers: tuple[tuple[int, int], ...], net_nanos: int) -> int:
    terms = Agreement("lic", "ag", ("m",), "USD", date(2024, 1, 1), tiers=tiers)
    return compute_statement(terms, "2025-05", (UsageLine("m", "api", 1, 0, 0, Fraction(net_nanos)),), 0).share_total_nanos


@settings(max_examples=200, deadline=None)
@given(tier_lists(), st.integers(0, 2 * 10**13), st.integers(1, 10**6))
def test_brackets_are_marginal_monotone_and_continuous(
    tiers: tuple[tuple[int, int], ...], net_nanos: int, step_nanos: int
) -> None:
    lower, higher = _tiered_share(tiers, net_nanos), _tiered_share(tiers, net_nanos + step_nanos)
    assert 0 <= higher - lower <= step_nanos + 1  # rates <= 100%: no jump at any boundary
    exact = Fraction(0)
    for index, (threshold, bps) in enumerate(tiers):
        upper = tiers[index + 1][0] if index + 1 < len(tiers) else None
        portion = max(0, (net_nanos if upper is None else min(net_nanos, upper)) - threshold)
        exact += Fraction(portion * bps, 10_000)
    assert lower == round(exact)


@settings(max_examples=100, deadline=None)
@given(agreements(), st.lists(usage(), min_size=1, max_size=6))
def test_residues_carried_over_periods_lose_nothing(terms: Agreement, periods: list[tuple[UsageLine, ...]]) -> None:
    residue, minor_total, share_total = 0, 0, 0
    for month, lines in enumerate(periods, start=1):
        stmt = compute_statement(terms, f"2025-{month:02d}", lines, residue)
        residue = stmt.residue_nanos
        minor_total += stmt.share_total_minor
        share_total += stmt.share_total_nanos
        assert abs(residue) * 2 <= nanos_per_minor(terms.currency)
    assert minor_total * nanos_per_minor(terms.currency) + residue == share_total


@settings(max_examples=100, deadline=None)
@given(agreements(), usage(), usage())
def test_late_usage_adjustment_equals_the_rerun_difference(
    terms: Agreement, prior: tuple[UsageLine, ...], late: tuple[UsageLine, ...]
) -> None:
    """Late usage settled later is worth exactly what re-running its period would add."""
    prior_keys = {(line.model, line.stream) for line in prior}
    late = tuple(line for line in late if (line.model, line.stream) not in prior_keys)
    first = compute_statement(terms, "2025-04", prior, 0)
    rerun = compute_statement(terms, "2025-04", prior + late, 0)
    later = compute_statement(terms, "2025-05", (), 0, adjustments=(Adjustment("2025-04", late, prior),))
    adjustment_share = sum(line.share_nanos for line in later.adjustment_lines)
    assert adjustment_share == rerun.share_total_nanos - first.share_total_nanos
    assert adjustment_share >= 0
