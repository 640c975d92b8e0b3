"""The `licence` leaf: projection, strict parser, statement line."""

from __future__ import annotations

import json

import pytest
import rfc8785

from revstream.licence import (
    AcceptableUseCounts,
    Decision,
    LeafError,
    MauCounter,
    MauSnapshot,
    licence_leaf,
    licence_statement_line,
    parse_licence_leaf,
    tally_decisions,
)


def leaf(method="exact") -> dict:
    counter = MauCounter("2025-03", exact_users_max=10 if method == "hll" else 100_000)
    for n in range(50):
        counter.add(n * 0x9E3779B97F4A7C15 % 2**64)
    counts = tally_decisions([Decision("allow"), Decision("refuse", ("S1", "S9")), Decision("log", ("S1",))])
    return licence_leaf(counter.snapshot(), counts)


@pytest.mark.parametrize("method", ["exact", "hll"])
def test_the_leaf_round_trips_through_canonical_json(method):
    value = leaf(method)
    assert value["kind"] == "licence" and value["version"] == 1 and value["method"] == method
    canonical = rfc8785.dumps(value)
    parsed = parse_licence_leaf(json.loads(canonical))
    assert parsed.month == "2025-03" and parsed.method == method
    assert parsed.acceptable_use.requests_classified == 3 and parsed.acceptable_use.requests_refused == 1
    assert dict(parsed.acceptable_use.per_category)["S1"] == 2 and dict(parsed.acceptable_use.per_category)["S9"] == 1
    snapshot = MauSnapshot(parsed.month, parsed.users, parsed.method, parsed.error_ppm, parsed.sketch_sha256)
    assert licence_leaf(snapshot, parsed.acceptable_use) == value


def test_the_leaf_holds_no_user_data():
    assert set(leaf()) == {"kind", "version", "month", "users", "method", "error_ppm", "sketch_sha256",
                           "requests_classified", "requests_refused", "acceptable_use"}


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
    ({"extra": 1}, "unexpected"),
])
def test_a_malformed_leaf_is_refused(change, message):
    with pytest.raises(LeafError, match=message):
        parse_licence_leaf({**leaf(), **change})


def test_a_missing_field_is_refused():
    value = leaf()
    del value["sketch_sha256"]
    with pytest.raises(LeafError, match="missing"):
        parse_licence_leaf(value)


def test_statement_line_states_the_bound_and_the_share_of_the_threshold():
    parsed = parse_licence_leaf({**leaf("hll"), "users": 350_000_000})
    line = licence_statement_line(parsed, 700_000_000)
    assert line["threshold_bps"] == 5000 and line["users_upper_bound"] == 358_531_250
    exact = licence_statement_line(parse_licence_leaf(leaf()), None)
    assert exact["users_upper_bound"] == exact["users"] == 50 and exact["threshold_bps"] is None


def test_counts_start_at_zero_for_every_category():
    assert dict(AcceptableUseCounts().per_category) == {f"S{n}": 0 for n in range(1, 15)}
