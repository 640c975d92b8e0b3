"""The delivery state machine: every order of statuses the platform can produce."""

from __future__ import annotations

import pytest

from revstream.messaging import (
    PlatformPricing,
    StatusUpdate,
    TransitionError,
    Windows,
    accept_message,
    apply_status,
    on_inbound,
)

from messaging_world import AUTH, MARKETING, T0, UTILITY, Book, H, contact, template, text


def test_read_without_delivered_books_the_charge_once():
    book = Book()
    book.send(contact(), template(MARKETING, T0), "m1")
    read = book.status("m1", "read", T0 + 10)
    assert (read.charge_nanos, read.release_nanos, read.counted, read.record.status) == (12_500_000, 12_500_000, True, "read")
    late_delivered = book.status("m1", "delivered", T0 + 5)  # arrives after the read
    assert (late_delivered.duplicate, late_delivered.charge_nanos, late_delivered.record.status) == (False, 0, "read")
    assert book.charged == 12_500_000 and book.counts[book.records["m1"].quote.tier_key] == 1


def test_failed_after_delivered_changes_nothing():
    book = Book()
    book.send(contact(), template(MARKETING, T0), "m1")
    book.status("m1", "delivered", T0 + 10)
    failed = book.status("m1", "failed", T0 + 20)
    assert (failed.charge_nanos, failed.release_nanos, failed.record.status) == (0, 0, "delivered")
    assert book.charged == 12_500_000


def test_delivered_after_failed_books_the_charge_directly():
    book = Book()
    book.send(contact(), template(MARKETING, T0), "m1")
    book.status("m1", "failed", T0 + 10)
    delivered = book.status("m1", "delivered", T0 + 20)
    assert (delivered.charge_nanos, delivered.release_nanos, delivered.record.status) == (12_500_000, 0, "delivered")
    assert book.released == 12_500_000 and book.charged == 12_500_000 and book.outstanding_hold == 0


def test_free_message_books_nothing_and_counts_nothing():
    book = Book(windows=on_inbound(Windows(), T0))
    book.send(contact(), template(UTILITY, T0 + H), "u1")
    delivered = book.status("u1", "delivered", T0 + H + 1)
    assert (delivered.charge_nanos, delivered.cost_nanos, delivered.counted, delivered.record.ordinal) == (0, 0, False, 0)
    assert book.counts == {}


def test_platform_verdict_mismatch_is_kept_for_review():
    book = Book()
    book.send(contact(), template(UTILITY, T0), "u1")  # we say: utility, regular
    platform = PlatformPricing("marketing", "regular", True, "PMP")
    record = book.status("u1", "sent", T0 + 1, pricing=platform).record
    assert record.mismatch == "category: ours utility, platform marketing"
    assert book.status("u1", "delivered", T0 + 2).charge_nanos == 4_000_000  # still our card's price


@pytest.mark.parametrize(("pricing", "expected"), [
    (PlatformPricing("utility", "regular", True, "PMP"), None),
    (PlatformPricing("utility", "free_customer_service", False, "PMP"), "pricing type: ours regular, platform free_customer_service"),
    (PlatformPricing("utility", None, False, "PMP"), "billable: ours True, platform False"),
])
def test_platform_verdicts(pricing, expected):
    book = Book()
    book.send(contact(), template(UTILITY, T0), "u1")
    assert book.status("u1", "delivered", T0 + 1, pricing=pricing).record.mismatch == expected


def test_authentication_international_verdict_matches_in_either_spelling():
    from messaging_world import BUSINESS_ELIGIBLE
    for spelling in ("authentication-international", "authentication_international"):
        book = Book(sender=BUSINESS_ELIGIBLE)
        book.send(contact(), template(AUTH, T0), "a1")
        verdict = PlatformPricing(spelling, "regular", True, "PMP")
        assert book.status("a1", "delivered", T0 + 1, pricing=verdict).record.mismatch is None


def test_free_entry_point_verdicts():
    book = Book(windows=on_inbound(Windows(), T0, entry_point=True))
    book.send(contact(), text(T0 + H), "r1")
    legacy = PlatformPricing("referral_conversion", None, False, "CBP")
    assert book.status("r1", "delivered", T0 + H + 1, pricing=legacy).record.mismatch is None


def test_status_of_another_message_is_refused():
    book = Book()
    record = book.send(contact(), template(MARKETING, T0), "m1")
    with pytest.raises(TransitionError):
        apply_status(record, StatusUpdate("wamid.other", "x", "delivered", T0), 0)


def test_a_record_holds_its_quote_until_final():
    record = accept_message("m1", Book().quote(contact(), template(MARKETING, T0)))
    assert (record.hold_nanos, record.final, record.status) == (12_500_000, False, "accepted")
    sent = apply_status(record, StatusUpdate("anything", "x", "sent", T0 + 1), 0).record
    assert (sent.status, sent.final, sent.sent_us) == ("sent", False, T0 + 1)
