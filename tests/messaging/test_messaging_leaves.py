"""Message leaves: projection, strict parser, attribution and the settlement tally."""

from __future__ import annotations

import hmac
import json
from dataclasses import replace
from fractions import Fraction

import pytest

from revstream.messaging import (
    LeafError,
    MessagingTotal,
    MessagingValueError,
    Windows,
    attribute_model,
    message_leaf,
    on_inbound,
    parse_message_leaf,
    tally_messaging,
)
from revstream.transparency import canonical_json

from messaging_world import MARKETING, T0, UTILITY, Book, H, contact, template, text

SECRET = b"host-pseudonym-secret"


def pseudonym(value: str) -> str:
    return hmac.digest(SECRET, value.encode(), "sha256").hex()


def delivered_book() -> Book:
    book = Book(windows=on_inbound(Windows(), T0))
    book.send(contact(), text(T0 + H, "Here is your tracking link"), "ai1")        # an AI reply, free
    book.send(contact(), template(MARKETING, T0 + 2 * H), "mk1")                    # marketing, charged
    book.send(contact(), template(UTILITY, T0 + 30 * H), "ut1")                     # utility outside, charged
    book.send(contact(), template(MARKETING, T0 + 31 * H), "mk2")                   # fails
    for message_id in ("ai1", "mk1", "ut1"):
        book.status(message_id, "delivered", T0 + 40 * H)
    book.status("mk2", "failed", T0 + 40 * H)
    return book


def leaf_of(book: Book, message_id: str, reply_model=None, conversation_model="smollm2-135m-instruct"):
    model, attribution = attribute_model(reply_model, conversation_model, None, "default-model")
    return message_leaf(book.records[message_id], business=pseudonym("acme"), conversation=pseudonym("acme:c1"),
                        model=model, attribution=attribution,
                        usage_request_id="req_1" if reply_model else None)


def test_leaf_projection_round_trips_through_canonical_json():
    book = delivered_book()
    value = leaf_of(book, "mk1")
    assert value["kind"] == "message" and value["version"] == 1
    encoded = canonical_json(value)
    for secret_thing in (b"919876543210", b"wamid", b"summer_sale", b"off this week", b"acme"):
        assert secret_thing not in encoded  # no number, no platform id, no content, no raw ids
    leaf = parse_message_leaf(json.loads(encoded))
    assert (leaf.category, leaf.market, leaf.window, leaf.pricing_type, leaf.price_nanos, leaf.cost_nanos) == (
        "marketing", "IN", "customer_service", "regular", 12_500_000, 10_700_000)
    assert (leaf.model, leaf.attribution, leaf.ai_reply, leaf.status, leaf.stream) == (
        "smollm2-135m-instruct", "conversation", False, "delivered", "messaging")
    reply = parse_message_leaf(json.loads(canonical_json(leaf_of(book, "ai1", reply_model="smollm2-135m-instruct"))))
    assert (reply.ai_reply, reply.usage_request_id, reply.price_nanos, reply.category) == (True, "req_1", 0, "service")


def test_only_final_messages_have_leaves_and_pseudonyms_are_required():
    book = Book()
    book.send(contact(), template(MARKETING, T0), "m1")
    with pytest.raises(LeafError):
        leaf_of(book, "m1")
    book.status("m1", "delivered", T0 + 1)
    with pytest.raises(LeafError):
        message_leaf(book.records["m1"], business="acme", conversation=pseudonym("x"), model="m", attribution="reply")
    with pytest.raises(LeafError):
        message_leaf(book.records["m1"], business=pseudonym("acme"), conversation="+919876543210", model="m",
                     attribution="reply")


@pytest.mark.parametrize("tamper", [
    lambda v: v.pop("price_nanos"),
    lambda v: v.update(version=2),
    lambda v: v.update(kind="usage"),
    lambda v: v.update(price_nanos=1.25),
    lambda v: v.update(price_nanos="12500000"),
    lambda v: v.update(time_us="1752138000"),
    lambda v: v.update(conversation="919876543210"),
    lambda v: v.update(phone="919876543210"),
    lambda v: v.update(status="read"),
    lambda v: v.update(stream="api"),
    lambda v: v.update(price_nanos=-1),
    lambda v: v.update(model=""),
    lambda v: v.update(attribution="guess"),
    lambda v: v.update(usage_request_id=7),
])
def test_parser_refuses_malformed_leaves(tamper):
    value = json.loads(canonical_json(leaf_of(delivered_book(), "mk1")))
    tamper(value)
    with pytest.raises(LeafError):
        parse_message_leaf(value)


def test_failed_leaf_carries_no_charge():
    value = json.loads(canonical_json(leaf_of(delivered_book(), "mk2")))
    assert (value["status"], value["price_nanos"]) == ("failed", 0)
    value["price_nanos"] = 5
    with pytest.raises(LeafError):
        parse_message_leaf(value)


def test_huge_amounts_travel_as_strings():
    record = delivered_book().records["mk1"]
    big = replace(record, charge_nanos=10**27)  # 10**18 units
    value = leaf_of_record(big)
    assert value["price_nanos"] == str(10**27)
    assert parse_message_leaf(json.loads(canonical_json(value))).price_nanos == 10**27


def leaf_of_record(record):
    return message_leaf(record, business=pseudonym("acme"), conversation=pseudonym("c"), model="m", attribution="default")


def test_attribution_takes_the_first_model_and_never_leaves_a_fee_unattributed():
    assert attribute_model("a", "b", "c", "d") == ("a", "reply")
    assert attribute_model(None, "b", "c", "d") == ("b", "conversation")
    assert attribute_model(None, None, "c", "d") == ("c", "channel")
    assert attribute_model(None, "", None, "d") == ("d", "default")
    with pytest.raises(MessagingValueError):
        attribute_model(None, None, None, "")


def test_tally_per_model_is_exact():
    book = delivered_book()
    leaves = [parse_message_leaf(json.loads(canonical_json(value))) for value in (
        leaf_of(book, "ai1", reply_model="smollm2-135m-instruct"),
        leaf_of(book, "mk1"),
        leaf_of(book, "ut1", conversation_model=None),
        leaf_of(book, "mk2"),
    )]
    totals = tally_messaging(leaves, "USD")
    assert totals == {
        ("default-model", "messaging"): MessagingTotal(Fraction(4_000_000), Fraction(3_000_000), 1),
        ("smollm2-135m-instruct", "messaging"): MessagingTotal(Fraction(12_500_000), Fraction(10_700_000), 2),
    }
    assert sum(t.gross_nanos for t in totals.values()) == book.charged
    with pytest.raises(MessagingValueError):
        tally_messaging(leaves, "EUR")
