"""The audit's statistics: excerpt draw, scoring, Wilson interval, report and its caveats."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from revstream.recitation import (
    CAVEATS,
    AuditError,
    AuditReport,
    excerpt_starts,
    prefix_start,
    score_excerpt,
    wilson_interval,
)


def test_excerpts_are_seeded_distinct_and_do_not_overlap() -> None:
    starts = excerpt_starts(1000, 50, 50, 5, seed=1)
    assert starts == excerpt_starts(1000, 50, 50, 5, seed=1) != excerpt_starts(1000, 50, 50, 5, seed=2)
    assert len(starts) == 5 and all(s % 50 == 0 and 50 <= s and s + 50 <= 1000 for s in starts)
    assert excerpt_starts(1000, 50, 50, 50, seed=1) == tuple(range(50, 1000, 50))  # capped at the blocks there are
    assert excerpt_starts(1000, 500, 50, 5, seed=1) == starts  # the prefix's length does not move the excerpts
    assert [prefix_start(s, 50) for s in (50, 400)] == [0, 350] and prefix_start(400, 1000) == 0
    with pytest.raises(AuditError, match="one excerpt needs 100"):
        excerpt_starts(99, 50, 50, 5, seed=1)
    with pytest.raises(AuditError, match="samples"):
        excerpt_starts(1000, 50, 50, 0, seed=1)


def test_scoring_exact_and_normalized() -> None:
    pieces = [b" The", b" cat", b" sat", b" on", b" the", b" mat", b".", b" It", b" pur"]
    same = score_excerpt(0, "p", pieces, " The cat sat on the mat. It purred")
    assert (same.matched_tokens, same.reproduced_exact, same.reproduced) == (9, True, True)
    assert (same.matched_words, same.expected_words) == (7, 7)  # "pur" may be cut: not required
    spaced = score_excerpt(0, "p", pieces, "\n\nthe CAT sat on the mat!  It was")
    assert (spaced.matched_tokens, spaced.reproduced_exact, spaced.reproduced) == (0, False, True)
    drifted = score_excerpt(0, "p", pieces, " The cat sat on a hat")
    assert (drifted.matched_tokens, drifted.matched_words, drifted.reproduced) == (4, 4, False)
    assert score_excerpt(0, "p", [b" ..."], " ...").reproduced is False  # nothing to reproduce is no reproduction


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4) and high == 1.0
    with pytest.raises(AuditError):
        wilson_interval(3, 2)


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_holds_the_share(case) -> None:
    successes, trials = case
    low, high = wilson_interval(successes, trials)
    assert 0.0 <= low <= successes / trials <= high <= 1.0


def test_report_json_carries_the_figures_evidence_and_caveats() -> None:
    pieces = [b" one", b" two", b" three", b"."]
    outcomes = (score_excerpt(0, "a", pieces, " one two three."), score_excerpt(6, "b", pieces, " one two four"),
                score_excerpt(12, "c", pieces, " nothing"))
    report = AuditReport("m", "ab" * 32, 18, 3, 3, 5, 0, outcomes)
    data = report.json()
    assert data["reproduced"]["count"] == 1 and data["reproduced"]["samples"] == 3
    assert data["reproduced"]["share"] == pytest.approx(1 / 3)
    assert data["longest_match"] == {"words": 3, "tokens": 4, "start_token": 0}
    assert [e["start_token"] for e in data["evidence"]] == [0, 6, 12]
    assert data["caveats"] == list(CAVEATS)
    assert "Wilson" in data["method"]["interval"]
    text = " ".join(data["caveats"])
    for needle in ("may still have been trained on", "close to chance", "Do Membership Inference Attacks Work",
                   "Quantifying Memorization", "Blind Baselines"):
        assert needle in text
    assert "What this audit cannot show" in report.text()
