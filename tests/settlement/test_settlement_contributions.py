"""Other streams' contributions: revenue groups land on the agreement's stream lines at that
stream's share, sections are carried as named statement values, and a name may not repeat."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from fractions import Fraction

import pytest

from revstream.leaves import LeafKind
from revstream.pricing import PriceSchedule
from revstream.settlement import (
    Contribution,
    StatementInputs,
    UsageGroup,
    UsageLineError,
    contribute,
    draft_agreement,
    draft_statement,
)
from revstream.settlement import _contributions

FEB_US = 1_769_904_000_000_000
AGREEMENT = draft_agreement(licensor="L", models=("m",), currency="USD", effective_from=date(2026, 1, 1),
                            share_bps=1000, stream_shares=("ads:5000",))


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(_contributions, "_CONTRIBUTORS", {})
    return _contributions


def _ads(agreement, period, leaves):
    gross = sum(Fraction(leaf["price_nanos"]) for leaf in leaves)
    groups = (UsageGroup("m", FEB_US, len(leaves), 0, 0, "ads", fee_exact=gross, currency="USD"),) if leaves else ()
    return Contribution(groups, (("ads", {"impressions": len(leaves)}),))


def test_a_contribution_is_settled_at_its_stream_share_and_its_sections_are_published(registry) -> None:
    registry.register_contributor(LeafKind.IMPRESSION, _ads)
    leaves = {LeafKind.IMPRESSION: [{"price_nanos": 3_000_000}, {"price_nanos": 5_000_001}]}
    inputs = StatementInputs(AGREEMENT, "2026-02", (), {}, (), PriceSchedule(()), 0, {}, None,
                             contribution=contribute(AGREEMENT, "2026-02", leaves))
    statement, value = draft_statement(inputs)
    [line] = value["lines"]
    assert (line["model"], line["stream"], line["requests"], line["gross_nanos"]) == ("m", "ads", 2, 8_000_001)
    assert line["share_nanos"] == 4_000_000 and line["rate"] == "5000bps"  # half-even of 4,000,000.5
    assert value["sections"] == {"ads": {"impressions": 2}}
    without = draft_statement(replace(inputs, contribution=Contribution()))[1]
    assert "sections" not in without and without["lines"] == []


def test_two_kinds_may_not_claim_one_section(registry) -> None:
    registry.register_contributor(LeafKind.IMPRESSION, _ads)
    registry.register_contributor(LeafKind.CLICK, _ads)
    with pytest.raises(UsageLineError, match="section"):
        contribute(AGREEMENT, "2026-02", {})
    with pytest.raises(ValueError):
        registry.register_contributor(LeafKind.CLICK, lambda *args: Contribution())
