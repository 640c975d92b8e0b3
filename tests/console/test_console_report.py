"""The console's pure report: totals per currency are the exact sums of the verified statements'
figures, never mixed across currencies; unverified claims are shown apart; missing statements
follow the agreements' dates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revstream.audit import (
    FAILED,
    UNCHECKED,
    VERIFIED,
    ConsoleHost,
    StatementFigures,
    StatementOutcome,
    console_report,
    report_json,
)
from revstream.audit._console import missing_statements

HOSTS = (ConsoleHost("A", "http://a", "a+00000000+AA", "A_TOKEN"), ConsoleHost("B", "http://b", "b+00000000+AA", "B"))
CURRENCIES = ("EUR", "JPY", "USD")
AMOUNT = st.integers(min_value=0, max_value=10**27)  # beyond 2^63 nanos: amounts are unbounded ints


def _outcome(host: str, number: int, period: str, state: str, currency: str, share: int, gross: int = 0,
             agreement: str = "agr_1", effective_from: str = "2026-01-01", effective_to: str | None = None):
    figures = StatementFigures(agreement, "Llama Labs", "o", currency, effective_from, effective_to, gross, share, 0, 0,
                               share // 10**7)
    return StatementOutcome(host, f"stm_{host}_{number}", period, state, None if state == VERIFIED else "why", figures)


@given(st.lists(st.tuples(st.sampled_from(("A", "B")), st.sampled_from((VERIFIED, FAILED, UNCHECKED)),
                          st.sampled_from(CURRENCIES), AMOUNT, AMOUNT), max_size=30))
def test_totals_are_exact_per_currency_and_count_verified_amounts_only(rows):
    outcomes = [_outcome(host, n, "2026-03", state, currency, share, gross)
                for n, (host, state, currency, share, gross) in enumerate(rows)]
    report = console_report("2026-03", HOSTS, outcomes)
    totals = {total.currency: total for total in report.totals}
    assert set(totals) == {currency for _, _, currency, _, _ in rows}
    for currency, total in totals.items():
        mine = [o for o in outcomes if o.figures.currency == currency]
        verified = [o for o in mine if o.state == VERIFIED]
        assert total.share_total_nanos == sum(o.figures.share_total_nanos for o in verified)
        assert total.gross_total_nanos == sum(o.figures.gross_total_nanos for o in verified)
        assert total.claimed_unverified_share_nanos == sum(o.figures.share_total_nanos for o in mine
                                                           if o.state != VERIFIED)
        assert (total.statements_verified, total.statements_failed, total.statements_unchecked) == (
            len(verified), sum(o.state == FAILED for o in mine), sum(o.state == UNCHECKED for o in mine))
    # Per host and in total agree.
    for currency, total in totals.items():
        assert total.share_total_nanos == sum(t.share_total_nanos for entry in report.hosts for t in entry.totals
                                              if t.currency == currency)
    report_json(report)  # renders


def test_missing_statements_follow_the_agreements_dates():
    outcomes = [_outcome("A", 1, "2026-01", VERIFIED, "USD", 1, agreement="agr_open"),
                _outcome("A", 2, "2026-01", VERIFIED, "EUR", 1, agreement="agr_ended", effective_to="2026-02-10"),
                _outcome("A", 3, "2026-03", VERIFIED, "USD", 1, agreement="agr_open")]
    assert [(m.agreement_id, m.currency) for m in missing_statements("A", "2026-02", outcomes)] == [
        ("agr_ended", "EUR"), ("agr_open", "USD")]
    assert missing_statements("A", "2026-03", outcomes) == ()  # agr_ended ended in February
    assert [m.agreement_id for m in missing_statements("A", "2026-04", outcomes)] == ["agr_open"]
    assert [m.agreement_id for m in missing_statements("A", "2025-12", outcomes)] == []  # before either started
    [never] = missing_statements("B", "2026-03", [])
    assert never.agreement_id is None and "listed no statement" in never.reason
    with pytest.raises(ValueError):
        missing_statements("A", "2026-13", outcomes)


def test_an_outcome_has_a_known_state():
    with pytest.raises(ValueError, match="outcome state"):
        _outcome("A", 1, "2026-03", "maybe", "USD", 1)
