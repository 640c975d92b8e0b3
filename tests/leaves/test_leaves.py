"""Typed, versioned leaves: canonical bytes, round trips, and refusal of what is unknown."""

from __future__ import annotations

from fractions import Fraction

import orjson
import pytest
import rfc8785
from hypothesis import given, strategies as st

import revstream.leaves as leaves
from revstream.leaves import (
    LEGACY_SHAPES,
    FeeEntry,
    LeafKind,
    MalformedLeafError,
    UnknownLeafError,
    UsageRecordFields,
    decode_leaf,
    fee_entry,
    fee_leaf,
    usage_entry,
    usage_leaf,
)


def test_public_api_is_pinned() -> None:
    assert sorted(leaves.__all__) == sorted([
        "FEE_KINDS", "FEE_VERSION", "LEGACY_SHAPES", "LEGACY_USAGE_VERSION", "USAGE_VERSION", "FeeEntry", "LeafError",
        "LeafKind", "MalformedLeafError", "UnknownLeafError", "UsageEntry", "UsageRecordFields", "charge_of",
        "decode_leaf", "encode_leaf", "fee_entry", "fee_leaf", "fraction_text", "known_versions",
        "parse_fraction_text", "register", "usage_entry", "usage_leaf",
    ])


TEXT = st.text(min_size=1, max_size=12)
RECORDS = st.builds(
    UsageRecordFields, request_id=TEXT, time_us=st.integers(0, 2**62), customer=TEXT, model=TEXT, endpoint=TEXT,
    status=st.sampled_from(["ok", "aborted", "error", "interrupted"]), tokens_prompt=st.integers(0, 2**31),
    tokens_completion=st.integers(0, 2**31), usage_source=TEXT,
    charge_nanos=st.one_of(st.none(), st.integers(0, 2**63 - 1)), currency=st.one_of(st.none(), st.just("USD")),
    late_period=st.one_of(st.none(), st.just("2026-01")), stream=st.sampled_from(["api", "subscription", "ads"]),
    plan=st.one_of(st.none(), TEXT), tokens_included=st.integers(0, 2**31),
)


@given(RECORDS)
def test_a_usage_leaf_is_canonical_json_and_reads_back(record: UsageRecordFields) -> None:
    data = usage_leaf(record)
    value = orjson.loads(data)
    assert rfc8785.dumps(value) == data  # RFC 8785, byte for byte
    kind, version, decoded = decode_leaf(data)
    assert (kind, version) == (LeafKind.USAGE, 2)
    entry = usage_entry(decoded)
    assert (entry.time_us, entry.tokens_prompt, entry.plan) == (record.time_us, record.tokens_prompt, record.plan)
    assert leaves.charge_of(decoded) == record.charge_nanos


@given(RECORDS.filter(lambda record: (record.charge_nanos or 0) < 2**53 and record.time_us < 2**53))
def test_legacy_leaves_have_no_kind_and_each_shape_reads_as_usage_v1(record: UsageRecordFields) -> None:
    """(Version 1 never held a charge beyond 2^53: the code that wrote it refused one.)"""
    for shape in LEGACY_SHAPES:
        data = usage_leaf(record, 1, shape)
        assert set(orjson.loads(data)) == shape
        kind, version, decoded = decode_leaf(data)
        assert (kind, version) == (LeafKind.USAGE, 1)
        assert usage_entry(decoded).time_us == record.time_us


def test_an_unknown_kind_or_version_is_refused_never_guessed() -> None:
    with pytest.raises(UnknownLeafError, match="upgrade"):
        decode_leaf(b'{"kind":"usage","version":3,"time_us":1}')
    with pytest.raises(UnknownLeafError):
        decode_leaf(b'{"kind":"teleport","version":1}')
    with pytest.raises(MalformedLeafError):
        decode_leaf(b"not json")
    with pytest.raises(MalformedLeafError):
        usage_entry(orjson.loads(b'{"time_us":"1","model":"m","tokens_prompt":1,"tokens_completion":1}'))


def test_a_fee_leaf_carries_an_exact_fraction() -> None:
    fee = FeeEntry("fee_1", "2026-02", "c" * 64, "pln_1", "subscription", "subscription", "USD",
                   Fraction(30_000_000_000 * 11, 28), 1, 2, ("m", "n"))
    kind, version, value = decode_leaf(fee_leaf(fee))
    assert (kind, version) == (LeafKind.FEE, 1)
    assert fee_entry(value) == fee
    for bad in ("1.5", "2/4", "01", "-3", " 3"):
        with pytest.raises(MalformedLeafError):
            fee_entry({**value, "amount_exact": bad})


@given(RECORDS)
def test_the_fast_usage_encoder_is_the_generic_one(record: UsageRecordFields) -> None:
    value = {**record._asdict(), "tokens_included": record.tokens_included or 0}
    assert usage_leaf(record) == leaves.encode_leaf(LeafKind.USAGE, 2, value)
