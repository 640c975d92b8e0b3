"""Settlement examples computed by hand."""

from dataclasses import replace
from datetime import date
from fractions import Fraction

import pytest

from revstream.settlement import (
    Adjustment,
    Agreement,
    AgreementError,
    PeriodError,
    StatementError,
    TierParseError,
    UsageLine,
    UsageLineError,
    allocate_largest_remainder,
    compute_statement,
    parse_period,
    parse_tiers,
    validate_statement,
)

UNIT = 10**9


def agreement(**terms: object) -> Agreement:
    base: dict[str, object] = dict(licensor="meta", agreement_id="ag-1", models=("m1", "m2"), currency="USD",
                                   effective_from=date(2025, 1, 1))
    base.update(terms)
    return Agreement(**base)  # type: ignore[arg-type]


def line(model: str = "m1", stream: str = "api", gross_units: Fraction | int = 0, tokens: int = 0) -> UsageLine:
    return UsageLine(model, stream, 1, tokens, tokens, Fraction(gross_units) * UNIT)


def test_parse_tiers() -> None:
    assert parse_tiers("0:1000,100000:1500,1000000:2000", "USD") == (
        (0, 1000), (100_000 * UNIT, 1500), (1_000_000 * UNIT, 2000),
    )
    for bad in ("", "100:1000", "0:1000,0:1500", "0:1000,50:x", "0:10001", "0:1000;5:1", "0:-1", "0:1e3"):
        with pytest.raises(TierParseError):
            parse_tiers(bad, "USD")


def test_parse_period() -> None:
    assert parse_period("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert parse_period("2025-12") == (date(2025, 12, 1), date(2025, 12, 31))
    for bad in ("2025-13", "2025-1", "25-01", "2025-01-01"):
        with pytest.raises(PeriodError):
            parse_period(bad)


def test_agreement_validation() -> None:
    with pytest.raises(AgreementError):
        agreement()  # no rule
    with pytest.raises(AgreementError):
        agreement(share_bps=1000, royalty_nanos_per_mtok=5)
    with pytest.raises(AgreementError):
        agreement(share_bps=10_001)
    with pytest.raises(AgreementError):
        agreement(share_bps=1000, minimum_nanos=10, cap_nanos=5)
    with pytest.raises(AgreementError):
        agreement(share_bps=1000, tiers=((0, 2000),))
    with pytest.raises(AgreementError):
        agreement(share_bps=1000, effective_to=date(2024, 1, 1))
    with pytest.raises(AgreementError):
        agreement(share_bps=1000, stream_share_bps={"Bad Stream": 10})
    terms = agreement(share_bps=1000, stream_share_bps={"subscription": 2000, "ads": 500})
    assert terms.stream_share_bps == (("ads", 500), ("subscription", 2000))
    assert hash(terms) == hash(agreement(share_bps=1000, stream_share_bps=(("subscription", 2000), ("ads", 500))))


def test_flat_share_and_stream_override() -> None:
    terms = agreement(share_bps=1500, stream_share_bps={"subscription": 2000})
    usage = (line(gross_units=Fraction(1, 3)), line("m2", "subscription", gross_units=10))
    stmt = compute_statement(terms, "2025-03", usage, 0)
    first, second = stmt.lines
    assert first.gross_nanos == 333_333_333 and first.rate == "1500bps" and first.share_nanos == 50_000_000
    assert second.rate == "2000bps" and second.share_nanos == 2 * UNIT
    assert stmt.share_total_nanos == 2_050_000_000 and stmt.share_total_minor == 205 and stmt.residue_nanos == 0
    assert stmt.host_net_nanos == stmt.gross_total_nanos - stmt.share_total_nanos
    assert validate_statement(stmt) == []


def test_royalty_per_mtok() -> None:
    terms = agreement(royalty_nanos_per_mtok=50_000_000)  # 0.05 per million tokens
    stmt = compute_statement(terms, "2025-03", (line(gross_units=1, tokens=1_500_000),), 0)
    assert stmt.lines[0].rate == "0.05/Mtok"
    assert stmt.lines[0].share_nanos == 150_000_000  # 3M tokens * 0.05


def test_tier_boundary_matches_hand_computation() -> None:
    terms = agreement(tiers=parse_tiers("0:1000,100:1500,1000:2000", "USD"))
    usage = (line(gross_units=60), line("m2", gross_units=90))
    stmt = compute_statement(terms, "2025-03", usage, 0)
    # 100 at 10% + 50 at 15% = 17.50
    assert [(b.net_nanos, b.share_nanos) for b in stmt.bracket_lines] == [
        (100 * UNIT, 10 * UNIT), (50 * UNIT, 7_500_000_000), (0, 0),
    ]
    assert stmt.share_total_nanos == 17_500_000_000
    assert [l.share_nanos for l in stmt.lines] == [7 * UNIT, 10_500_000_000]  # proportional to net
    assert all(l.rate == "tiered" for l in stmt.lines)


def test_minimum_and_cap_lines() -> None:
    low = compute_statement(agreement(share_bps=1000, minimum_nanos=5 * UNIT), "2025-03", (line(gross_units=10),), 0)
    assert low.minimum_top_up_nanos == 4 * UNIT and low.share_total_nanos == 5 * UNIT
    high = compute_statement(agreement(share_bps=1000, cap_nanos=UNIT // 2), "2025-03", (line(gross_units=10),), 0)
    assert high.cap_reduction_nanos == UNIT // 2 and high.share_total_nanos == UNIT // 2
    empty = compute_statement(agreement(share_bps=1000, minimum_nanos=5 * UNIT), "2025-03", (), 0)
    assert empty.share_total_nanos == 5 * UNIT and empty.lines == ()


def test_carry_in_residue_rounds_once() -> None:
    terms = agreement(share_bps=1000)
    stmt = compute_statement(terms, "2025-03", (line(gross_units=Fraction(1234567, 10**7)),), 3_000_000)
    # gross 0.1234567 -> share 0.01234567; plus carry 0.003 = 0.01534567 -> 2 cents, residue -0.00465433
    assert stmt.share_total_nanos == 12_345_670
    assert (stmt.share_total_minor, stmt.residue_nanos) == (2, -4_654_330)


def test_adjustment_for_late_usage() -> None:
    terms = agreement(tiers=parse_tiers("0:1000,100:2000", "USD"))
    prior = (line(gross_units=90),)
    late = (line("m2", gross_units=20),)
    stmt = compute_statement(terms, "2025-03", (), 0, adjustments=(Adjustment("2025-02", late, prior),))
    (adjustment,) = stmt.adjustment_lines
    # February's share goes from 9.00 to 10.00 + 10 * 20% = 12.00: the late usage adds 3.00
    assert adjustment.description == "adjustment for 2025-02" and adjustment.share_nanos == 3 * UNIT
    assert stmt.share_total_nanos == 3 * UNIT and stmt.gross_total_nanos == 20 * UNIT
    assert validate_statement(stmt) == []
    with pytest.raises(PeriodError):
        compute_statement(terms, "2025-03", (), 0, adjustments=(Adjustment("2025-03", late, prior),))
    with pytest.raises(PeriodError):
        compute_statement(terms, "2025-03", (), 0, adjustments=(Adjustment("2024-12", late),))


def test_usage_errors() -> None:
    terms = agreement(share_bps=1000, effective_to=date(2025, 6, 30))
    with pytest.raises(UsageLineError):
        compute_statement(terms, "2025-03", (line("other"),), 0)
    with pytest.raises(UsageLineError):
        compute_statement(terms, "2025-03", (line(), line()), 0)
    with pytest.raises(PeriodError):
        compute_statement(terms, "2025-07", (), 0)
    with pytest.raises(UsageLineError):
        UsageLine("m1", "api", 1, 0, 0, 0.5)  # type: ignore[arg-type]
    with pytest.raises(UsageLineError):
        UsageLine("m1", "api", -1, 0, 0, Fraction(0))


def test_validate_statement_catches_tampering() -> None:
    terms = agreement(tiers=parse_tiers("0:1000,100:1500", "USD"))
    stmt = compute_statement(terms, "2025-03", (line(gross_units=150),), 0)
    bad_line = replace(stmt.lines[0], share_nanos=stmt.lines[0].share_nanos + 1)
    errors = validate_statement(replace(stmt, lines=(bad_line,)))
    assert errors and all(isinstance(error, StatementError) for error in errors)
    assert validate_statement(replace(stmt, residue_nanos=1))
    assert validate_statement(replace(stmt, host_net_nanos=0))


def test_largest_remainder() -> None:
    assert allocate_largest_remainder(10, (1, 1, 1)) == (4, 3, 3)
    assert allocate_largest_remainder(-10, (1, 1, 1)) == (-4, -3, -3)
    assert allocate_largest_remainder(0, (0, 0)) == (0, 0)
    assert allocate_largest_remainder(5, (Fraction(1, 2), 0, Fraction(3, 2))) == (1, 0, 4)
