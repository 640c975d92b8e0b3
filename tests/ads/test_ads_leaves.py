"""Impression and click leaves: projections, strict parsers, and the exact ads-stream tally."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.ads import (
    AdsLeafError,
    ClickLeaf,
    ImpressionLeaf,
    StreamGross,
    ads_gross,
    click_leaf,
    impression_leaf,
    json_nanos,
    parse_click_leaf,
    parse_impression_leaf,
)
from revstream.transparency import canonical_json

ANSWER_SHA256 = hashlib.sha256(b"Look for cushioning.").hexdigest()
IMPRESSION = ImpressionLeaf("imp-1", "req-1", 1_767_268_800_000_000, "camp-1", "adv-1", "smollm2-135m-instruct",
                            "cpm", 3_000_000, 3_000_000, "USD", ("running shoes",), ("227",), ANSWER_SHA256)
CLICK = ClickLeaf("clk-1", "imp-2", 1_767_268_900_000_000, "camp-2", "adv-1", "smollm2-135m-instruct",
                  "charged", 200_000_000, "USD")


def test_leaves_round_trip_and_are_canonical_json():
    leaf = impression_leaf(IMPRESSION)
    assert (leaf["kind"], leaf["version"]) == ("impression", 1)
    assert parse_impression_leaf(leaf) == IMPRESSION
    assert parse_click_leaf(click_leaf(CLICK)) == CLICK
    canonical_json(leaf)
    canonical_json(click_leaf(CLICK))


def test_no_personal_data_travels():
    fields = set(impression_leaf(IMPRESSION)) | set(click_leaf(CLICK))
    assert not fields & {"customer", "user", "key", "key_id", "ip", "address", "conversation", "conversation_id"}


def test_amounts_beyond_a_double_travel_as_strings():
    assert json_nanos(2**53 - 1) == 2**53 - 1 and json_nanos(2**53) == str(2**53)
    assert json_nanos(-(2**60)) == str(-(2**60))
    big = replace(IMPRESSION, price_nanos=10**20, charge_nanos=10**20)
    leaf = impression_leaf(big)
    assert leaf["price_nanos"] == str(10**20)
    assert parse_impression_leaf(leaf) == big


@pytest.mark.parametrize("change", [
    {"version": 2}, {"version": "1"}, {"version": True}, {"kind": "click"}, {"extra": 1},
    {"time_us": True}, {"time_us": -1}, {"time_us": 1.5}, {"price_nanos": "3000000"}, {"price_nanos": 3e6},
    {"charge_nanos": 1}, {"bid_kind": "cpa"}, {"keywords": "running"}, {"keywords": ["b", "a"]},
    {"keywords": [], "categories": []}, {"answer_sha256": "ABC"}, {"currency": "usd"}, {"model": ""},
])
def test_a_malformed_impression_leaf_is_refused(change):
    with pytest.raises(AdsLeafError):
        parse_impression_leaf({**impression_leaf(IMPRESSION), **change})


def test_a_missing_field_is_refused():
    for name in impression_leaf(IMPRESSION):
        leaf = impression_leaf(IMPRESSION)
        del leaf[name]
        with pytest.raises(AdsLeafError):
            parse_impression_leaf(leaf)


@pytest.mark.parametrize("change", [
    {"outcome": "charged", "charge_nanos": 0}, {"outcome": "replay", "charge_nanos": 5}, {"outcome": "lost"},
    {"version": 0}, {"charge_nanos": -1},
])
def test_a_malformed_click_leaf_is_refused(change):
    with pytest.raises(AdsLeafError):
        parse_click_leaf({**click_leaf(CLICK), **change})


def test_a_cpc_impression_costs_nothing_itself():
    cpc = replace(IMPRESSION, bid_kind="cpc", price_nanos=200_000_000, charge_nanos=0)
    assert parse_impression_leaf(impression_leaf(cpc)) == cpc
    with pytest.raises(AdsLeafError):
        impression_leaf(replace(cpc, charge_nanos=1))


def test_the_tally_is_exact_per_model():
    other = replace(IMPRESSION, impression_id="imp-3", model="llama-3", charge_nanos=7, price_nanos=7)
    replay = replace(CLICK, click_id="clk-2", outcome="replay", charge_nanos=0)
    gross = ads_gross([IMPRESSION, other], [CLICK, replay])
    assert gross == {
        ("llama-3", "ads"): StreamGross("USD", Fraction(7), 1, 1, 0),
        ("smollm2-135m-instruct", "ads"): StreamGross("USD", Fraction(203_000_000), 2, 1, 1),
    }


def test_the_tally_refuses_duplicates_and_mixed_currencies():
    with pytest.raises(AdsLeafError, match="twice"):
        ads_gross([IMPRESSION, IMPRESSION], [])
    with pytest.raises(AdsLeafError, match="twice"):
        ads_gross([], [CLICK, CLICK])
    with pytest.raises(AdsLeafError, match="EUR"):
        ads_gross([IMPRESSION, replace(IMPRESSION, impression_id="imp-9", currency="EUR")], [])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(("m1", "m2")), st.integers(0, 10**22)), max_size=30))
def test_the_tally_equals_the_sum_of_charges(events):
    impressions = [replace(IMPRESSION, impression_id=f"imp-{n}", model=model, price_nanos=charge, charge_nanos=charge)
                   for n, (model, charge) in enumerate(events)]
    parsed = [parse_impression_leaf(impression_leaf(leaf)) for leaf in impressions]
    gross = ads_gross(parsed, [])
    for model in ("m1", "m2"):
        expected = sum(charge for m, charge in events if m == model)
        if any(m == model for m, _ in events):
            assert gross[(model, "ads")].gross_nanos == expected
            assert gross[(model, "ads")].count == sum(1 for m, charge in events if m == model and charge > 0)
