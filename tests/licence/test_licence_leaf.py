"""The `licence` leaf: written through `revstream.leaves`, strict parser, statement line, and
the contributor that turns a close's leaves into the statement's `licence` section."""

from __future__ import annotations

import json
from datetime import date

import orjson
import pytest
import rfc8785

from revstream.leaves import LeafKind, MalformedLeafError, UnknownLeafError, decode_leaf, encode_leaf
from revstream.licence import (
    AcceptableUseCounts,
    Decision,
    LeafError,
    MauCounter,
    licence_contribution,
    licence_entry,
    licence_leaf,
    licence_statement_line,
    parse_licence_leaf,
    tally_decisions,
)
from revstream.settlement import UsageLineError, draft_agreement

AGREEMENT = draft_agreement(licensor="Llama Labs", models=("llama-3.1-8b",), currency="USD",
                            effective_from=date(2025, 1, 1), share_bps=1500)


def entry(method="exact", threshold=(700_000_000, "llama3.1"), month="2025-03"):
    counter = MauCounter(month, exact_users_max=10 if method == "hll" else 100_000)
    for n in range(50):
        counter.add(n * 0x9E3779B97F4A7C15 % 2**64)
    counts = tally_decisions([Decision("allow"), Decision("refuse", ("S1", "S9")), Decision("log", ("S1",)),
                              Decision("flag", ("S10",))])
    return licence_entry(counter.snapshot(), counts, *(threshold or (None, None)))


def value(**kwargs) -> dict:
    return decode_leaf(licence_leaf(entry(**kwargs)))[2]


@pytest.mark.parametrize("method", ["exact", "hll"])
def test_the_leaf_is_canonical_json_and_round_trips(method):
    data = licence_leaf(entry(method))
    assert data == rfc8785.dumps(json.loads(data))
    kind, version, fields = decode_leaf(data)
    assert kind is LeafKind.LICENCE and version == 1 and fields["method"] == method
    parsed = parse_licence_leaf(fields)
    assert parsed == entry(method)
    assert parsed.acceptable_use.requests_classified == 4 and parsed.acceptable_use.requests_refused == 1
    assert parsed.acceptable_use.requests_flagged == 1
    assert dict(parsed.acceptable_use.per_category)["S1"] == 2 and dict(parsed.acceptable_use.per_category)["S9"] == 1
    assert licence_leaf(parsed) == data


def test_the_leaf_holds_no_user_data():
    assert set(value()) == {"kind", "version", "month", "users", "method", "error_ppm", "sketch_sha256",
                            "threshold_users", "threshold_licence", "requests_classified", "requests_flagged",
                            "requests_refused", "acceptable_use"}


def test_a_verifier_refuses_an_unknown_version():
    with pytest.raises(UnknownLeafError, match="version 2"):
        decode_leaf(orjson.dumps({**value(), "version": 2}))
    with pytest.raises(UnknownLeafError):
        encode_leaf(LeafKind.LICENCE, 2, {})


@pytest.mark.parametrize("change, message", [
    ({"version": 2}, "version 2"),
    ({"kind": "usage"}, "kind"),
    ({"users": "50"}, "users"),
    ({"users": True}, "users"),
    ({"users": -1}, "users"),
    ({"month": "2025-3"}, "month"),
    ({"method": "guess"}, "method"),
    ({"error_ppm": 8125}, "error_ppm"),
    ({"sketch_sha256": "AB" * 32}, "sketch_sha256"),
    ({"acceptable_use": {"S1": 1}}, "acceptable_use"),
    ({"requests_refused": 4}, "requests_refused"),
    ({"threshold_users": 0}, "threshold_users"),
    ({"threshold_licence": None}, "threshold_licence"),
    ({"threshold_licence": "Not An Id"}, "threshold_licence"),
    ({"extra": 1}, "unexpected"),
])
def test_a_malformed_leaf_is_refused(change, message):
    with pytest.raises(LeafError, match=message):
        parse_licence_leaf({**value(), **change})


def test_a_malformed_leaf_is_also_a_malformed_leaf_for_the_log():
    with pytest.raises(MalformedLeafError):
        parse_licence_leaf({**value(), "users": -1})


def test_a_missing_field_is_refused():
    fields = value()
    del fields["sketch_sha256"]
    with pytest.raises(LeafError, match="missing"):
        parse_licence_leaf(fields)


def test_statement_line_states_the_bound_and_the_share_of_the_threshold():
    parsed = parse_licence_leaf({**value(method="hll"), "users": 350_000_000})
    line = licence_statement_line(parsed)
    assert line["threshold_bps"] == 5000 and line["users_upper_bound"] == 358_531_250
    assert line["threshold_licence"] == "llama3.1"
    exact = licence_statement_line(parse_licence_leaf(value(threshold=None)))
    assert exact["users_upper_bound"] == exact["users"] == 50 and exact["threshold_bps"] is None
    assert licence_statement_line(parsed, 1_400_000_000)["threshold_bps"] == 2500


def test_counts_start_at_zero_for_every_category():
    assert dict(AcceptableUseCounts().per_category) == {f"S{n}": 0 for n in range(1, 15)}


def test_the_contribution_is_one_section_of_lines_by_month():
    leaves = [value(month="2025-03"), value(month="2025-02")]
    contribution = licence_contribution(AGREEMENT, "2025-03", leaves)
    assert contribution.groups == ()
    [(name, lines)] = contribution.sections
    assert name == "licence" and [line["month"] for line in lines] == ["2025-02", "2025-03"]
    assert licence_contribution(AGREEMENT, "2025-03", []).sections == ()


def test_the_contribution_refuses_a_bad_leaf_or_a_month_twice():
    with pytest.raises(UsageLineError, match="licence leaf"):
        licence_contribution(AGREEMENT, "2025-03", [{**value(), "users": "many"}])
    with pytest.raises(UsageLineError, match="same month"):
        licence_contribution(AGREEMENT, "2025-03", [value(), value()])
