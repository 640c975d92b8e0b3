"""The `recitation` leaf: projection, strict parser, counts; and the response's object."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from revstream.recitation import (
    LeafError,
    RecitationEvent,
    RecitationHit,
    Work,
    parse_recitation_leaf,
    recitation_counts,
    recitation_event,
    recitation_leaf,
    recitation_object,
)
from revstream.transparency import canonical_json

EVENT = RecitationEvent("req_1", 1_767_225_600_000_000, "smollm2-135m-instruct", "wrk_7", "hld_3",
                        0xFFFF_FFFF_FFFF_FFFF, "block")
IDS = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_characters="\x7f"), min_size=1, max_size=40)


@given(IDS, st.integers(0, 2**53 - 1), IDS, IDS, IDS, st.integers(0, 2**64 - 1), st.sampled_from(["block", "cite"]))
def test_leaves_round_trip_through_canonical_json(request_id, time_us, model, work_id, holder_id, window_hash, action):
    event = RecitationEvent(request_id, time_us, model, work_id, holder_id, window_hash, action)
    leaf = recitation_leaf(event)
    assert parse_recitation_leaf(json.loads(canonical_json(leaf))) == event


def test_the_leaf_holds_exactly_the_documented_fields() -> None:
    assert recitation_leaf(EVENT) == {
        "kind": "recitation", "version": 1, "request_id": "req_1", "time_us": 1_767_225_600_000_000,
        "model": "smollm2-135m-instruct", "work_id": "wrk_7", "holder_id": "hld_3",
        "window_hash": "ffffffffffffffff", "action": "block"}
    canonical_json(recitation_leaf(EVENT))  # no float, no integer beyond 2**53


@pytest.mark.parametrize("change, message", [
    ({"version": 2}, "unknown recitation leaf version 2"),
    ({"version": "1"}, "integer"),
    ({"version": True}, "integer"),
    ({"kind": "usage"}, "not a recitation leaf"),
    ({"time_us": -1}, "time_us"),
    ({"time_us": 1.5}, "time_us"),
    ({"window_hash": "FFFFFFFFFFFFFFFF"}, "window_hash"),
    ({"window_hash": 123}, "window_hash"),
    ({"window_hash": "0x00000000000001"}, "window_hash"),
    ({"action": "hide"}, "action"),
    ({"work_id": ""}, "work_id"),
    ({"holder_id": 5}, "holder_id"),
    ({"model": "a\nb"}, "model"),
    ({"customer": "x"}, "unknown"),
])
def test_malformed_leaves_are_refused(change, message) -> None:
    with pytest.raises(LeafError, match=message):
        parse_recitation_leaf({**recitation_leaf(EVENT), **change})


def test_missing_fields_and_non_objects_are_refused() -> None:
    for name in ("request_id", "time_us", "model", "work_id", "holder_id", "window_hash", "action"):
        leaf = recitation_leaf(EVENT)
        del leaf[name]
        with pytest.raises(LeafError, match=name):
            parse_recitation_leaf(leaf)
    with pytest.raises(LeafError):
        parse_recitation_leaf([])


def test_counts_per_work_and_action() -> None:
    events = [EVENT, EVENT, RecitationEvent("req_2", 1, "m", "wrk_7", "hld_3", 1, "cite"),
              RecitationEvent("req_3", 1, "m", "wrk_1", "hld_1", 2, "block")]
    assert recitation_counts(events) == {("wrk_1", "block"): 1, ("wrk_7", "block"): 2, ("wrk_7", "cite"): 1}
    assert recitation_counts([]) == {}


def test_the_response_object_and_the_event_of_a_hit() -> None:
    blocked = RecitationHit(Work(1, "wrk_1", "Moby", "hld_1", "Press One"), "block", 5, 40)
    cited = RecitationHit(Work(2, "wrk_2", "Emma", "hld_2", "Press Two", "cite"), "cite", 6, 20)
    assert recitation_object(None, ()) is None
    assert recitation_object(blocked, (cited,)) == {
        "action": "block", "work_id": "wrk_1", "title": "Moby", "holder": "Press One",
        "citations": [{"work_id": "wrk_2", "title": "Emma", "holder": "Press Two"}]}
    assert recitation_object(None, iter([cited]))["action"] == "cite"
    assert recitation_event(blocked, "req_9", 7, "m") == RecitationEvent("req_9", 7, "m", "wrk_1", "hld_1", 5, "block")
