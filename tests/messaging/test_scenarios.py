"""The issue's scenario table, one test per row. Every expected amount is computed by
hand from the published rules and the rate card in fixtures/ratecard_scenarios.csv
(illustrative USD rates, 1 USD = 10**9 nanos; e.g. 0.0125 USD = 12_500_000 nanos)."""

from __future__ import annotations

import pytest

from revstream.messaging import (
    Contact,
    OptIn,
    SendRefused,
    TemplateChange,
    Windows,
    instant_us,
    on_inbound,
)

from messaging_world import AUTH, BUSINESS, BUSINESS_ELIGIBLE, MARKETING, T0, UTILITY, Book, H, approved, contact, template, text

US = 1  # one microsecond


def book_with_inbound(at_us: int = T0, *, entry_point: bool = False, **kwargs) -> Book:
    return Book(windows=on_inbound(Windows(), at_us, entry_point=entry_point), **kwargs)


def test_window_opens_and_renews():
    book = book_with_inbound(T0)
    # Open for [T0, T0+24h): free-form is free up to the last microsecond...
    quote = book.quote(contact(), text(T0 + 24 * H - US))
    assert (quote.category, quote.pricing_type, quote.window, quote.price_nanos) == (
        "service", "free_customer_service", "customer_service", 0)
    # ...and refused from T0+24h on.
    with pytest.raises(SendRefused) as refused:
        book.quote(contact(), text(T0 + 24 * H))
    assert refused.value.code == "window_closed"
    # A second inbound at T0+10h renews it to T0+34h.
    book.windows = on_inbound(book.windows, T0 + 10 * H)
    assert book.quote(contact(), text(T0 + 24 * H)).price_nanos == 0
    assert book.quote(contact(), text(T0 + 34 * H - US)).window == "customer_service"
    with pytest.raises(SendRefused):
        book.quote(contact(), text(T0 + 34 * H))
    # A late-processed older inbound never shortens the window.
    book.windows = on_inbound(book.windows, T0 + 1 * H)
    assert book.quote(contact(), text(T0 + 34 * H - US)).price_nanos == 0


def test_utility_inside_the_window_is_free_outside_charged():
    book = book_with_inbound(T0)
    inside = book.quote(contact(), template(UTILITY, T0 + 1 * H))
    assert (inside.pricing_type, inside.price_nanos, inside.cost_nanos) == ("free_customer_service", 0, 0)
    outside = book.quote(contact(), template(UTILITY, T0 + 25 * H))
    # IN utility, first charged message of July: tier 1-2 at 0.0040 (cost 0.0030).
    assert (outside.pricing_type, outside.window) == ("regular", "closed")
    assert (outside.price_nanos, outside.cost_nanos, outside.ordinal) == (4_000_000, 3_000_000, 1)


def test_marketing_is_charged_inside_and_outside_the_window():
    book = book_with_inbound(T0)
    for at_us in (T0 + 1 * H, T0 + 30 * H):
        quote = book.quote(contact(), template(MARKETING, at_us))
        assert (quote.category, quote.pricing_type) == ("marketing", "regular")
        assert (quote.price_nanos, quote.cost_nanos) == (12_500_000, 10_700_000)


def test_authentication_international():
    outside = T0 + 48 * H
    # Eligible business based in GB, contact in IN (which has an a-i rate): 0.0300.
    quote = Book(sender=BUSINESS_ELIGIBLE).quote(contact("IN"), template(AUTH, outside))
    assert (quote.category, quote.priced_category, quote.price_nanos, quote.cost_nanos) == (
        "authentication", "authentication_international", 30_000_000, 28_000_000)
    # Not eligible: the domestic authentication rate 0.0020.
    assert Book(sender=BUSINESS).quote(contact("IN"), template(AUTH, outside)).price_nanos == 2_000_000
    # Eligible but based in the contact's own market: domestic.
    local = BUSINESS_ELIGIBLE.__class__("acme", "USD", "IN", auth_international_eligible=True)
    assert Book(sender=local).quote(contact("IN"), template(AUTH, outside)).priced_category == "authentication"
    # A market whose card has no a-i rate (BR): domestic 0.0090.
    quote = Book(sender=BUSINESS_ELIGIBLE).quote(contact("BR"), template(AUTH, outside))
    assert (quote.priced_category, quote.price_nanos) == ("authentication", 9_000_000)
    # Inside a customer-service window authentication is still charged.
    inside = book_with_inbound(T0, sender=BUSINESS_ELIGIBLE).quote(contact("IN"), template(AUTH, T0 + H))
    assert inside.price_nanos == 30_000_000


def test_free_entry_window_lasts_72_hours_from_the_first_reply():
    book = book_with_inbound(T0, entry_point=True)  # the contact came through a click-to-WhatsApp ad
    reply = book.send(contact(), text(T0 + 2 * H), "m-reply")  # the reply opens [T0+2h, T0+74h)
    assert (reply.quote.pricing_type, reply.quote.window, reply.hold_nanos) == ("free_entry_point", "free_entry", 0)
    late_marketing = book.quote(contact(), template(MARKETING, T0 + 74 * H - US))
    assert (late_marketing.pricing_type, late_marketing.price_nanos) == ("free_entry_point", 0)
    assert book.quote(contact(), template(AUTH, T0 + 50 * H)).price_nanos == 0
    after = book.quote(contact(), template(MARKETING, T0 + 74 * H))
    assert (after.pricing_type, after.price_nanos) == ("regular", 12_500_000)
    # Templates only once the 24-hour service window closed, even inside the entry window.
    with pytest.raises(SendRefused) as refused:
        book.quote(contact(), text(T0 + 30 * H))
    assert refused.value.code == "window_closed"


def test_no_free_entry_window_without_a_reply_within_24_hours():
    book = book_with_inbound(T0, entry_point=True)
    first = book.send(contact(), template(MARKETING, T0 + 25 * H), "m-late")
    assert (first.quote.pricing_type, first.quote.price_nanos) == ("regular", 12_500_000)
    assert book.quote(contact(), template(MARKETING, T0 + 26 * H)).price_nanos == 12_500_000


def test_free_form_outside_the_window_is_refused_before_anything_is_charged():
    book = Book()
    with pytest.raises(SendRefused) as refused:
        book.send(contact(), text(T0), "m-refused")
    assert refused.value.code == "window_closed"
    assert "template" in str(refused.value)
    assert book.records == {} and book.held == book.charged == 0 and book.windows == Windows()


def test_failed_delivery_is_not_charged():
    book = Book()
    book.send(contact(), template(MARKETING, T0), "m1")
    assert book.held == 12_500_000
    book.status("m1", "sent", T0 + 1_000_000)
    failed = book.status("m1", "failed", T0 + 2_000_000)
    assert (failed.charge_nanos, failed.release_nanos, failed.counted) == (0, 12_500_000, False)
    assert (book.charged, book.outstanding_hold, book.records["m1"].status) == (0, 0, "failed")


def test_duplicate_webhook_is_charged_once():
    book = Book()
    book.send(contact(), template(MARKETING, T0), "m1")
    first = book.status("m1", "delivered", T0 + 5_000_000)
    again = book.status("m1", "delivered", T0 + 5_000_000)
    assert (first.charge_nanos, first.cost_nanos, first.counted) == (12_500_000, 10_700_000, True)
    assert (again.duplicate, again.charge_nanos, again.release_nanos, again.counted) == (True, 0, 0, False)
    book.status("m1", "read", T0 + 9_000_000)
    assert (book.charged, book.cost, book.records["m1"].margin_nanos) == (12_500_000, 10_700_000, 1_800_000)


def test_recategorized_template_applies_from_its_time_on():
    changed_at = instant_us("2025-07-15T12:00:00Z")
    template_ = UTILITY.with_change(TemplateChange(changed_at, category="marketing"))
    book = Book()
    before = book.quote(contact(), template(template_, changed_at - US))
    assert (before.category, before.price_nanos) == ("utility", 4_000_000)
    at = book.quote(contact(), template(template_, changed_at))
    assert (at.category, at.price_nanos) == ("marketing", 12_500_000)
    # As marketing it now needs the marketing opt-in it did not need before.
    no_marketing = contact(marketing=False)
    assert book.quote(no_marketing, template(template_, changed_at - US)).price_nanos == 4_000_000
    with pytest.raises(SendRefused) as refused:
        book.quote(no_marketing, template(template_, changed_at))
    assert refused.value.code == "no_marketing_opt_in"


def test_volume_tier_crossed_within_a_month():
    book = Book()
    july = [T0 + day * 24 * H for day in range(5)]  # all outside any window, all in July
    for index, at_us in enumerate(july):
        book.send(contact(), template(UTILITY, at_us), f"u{index}")
    # Quotes were all made before any delivery: each assumed place 1 (0.0040).
    assert [book.records[f"u{i}"].hold_nanos for i in range(5)] == [4_000_000] * 5
    charges = [book.status(f"u{i}", "delivered", july[i] + 1).charge_nanos for i in range(5)]
    # Places 1-2 at 0.0040, 3-4 at 0.0035, 5 at 0.0030.
    assert charges == [4_000_000, 4_000_000, 3_500_000, 3_500_000, 3_000_000]
    assert book.charged == 18_000_000 and book.released == 20_000_000 and book.outstanding_hold == 0
    assert book.cost == 3_000_000 * 2 + 2_700_000 * 2 + 2_400_000
    # A quote now knows four were delivered: place 5.
    assert book.quote(contact(), template(UTILITY, july[-1] + H)).price_nanos == 3_000_000
    # August starts again at place 1; marketing never counted in the utility tiers.
    august = instant_us("2025-08-01T00:00:00Z")
    assert book.quote(contact(), template(UTILITY, august)).price_nanos == 4_000_000


def test_marketing_to_a_contact_without_marketing_opt_in_is_refused():
    book = book_with_inbound(T0)  # even inside an open window
    with pytest.raises(SendRefused) as refused:
        book.send(contact(marketing=False), template(MARKETING, T0 + H), "m1")
    assert refused.value.code == "no_marketing_opt_in" and book.records == {}
    withdrawn = contact().with_opt_in(OptIn("marketing", False, T0, "replied STOP"))
    with pytest.raises(SendRefused):
        book.quote(withdrawn, template(MARKETING, T0 + H))
    assert book.quote(withdrawn, template(MARKETING, T0 - US)).price_nanos == 12_500_000
    regranted = withdrawn.with_opt_in(OptIn("marketing", True, T0 + 2 * H, "web form"))
    assert book.quote(regranted, template(MARKETING, T0 + 2 * H)).price_nanos == 12_500_000
    # Utility outside a window without any messaging opt-in: refused too.
    with pytest.raises(SendRefused) as refused:
        Book().quote(Contact("c2", "IN"), template(UTILITY, T0))
    assert refused.value.code == "no_opt_in"


def test_rate_card_change_at_an_exact_instant():
    change = instant_us("2025-10-01T00:00:00Z")
    book = Book()
    before = book.quote(contact("BR"), template(MARKETING, change - US))
    at = book.quote(contact("BR"), template(MARKETING, change))
    assert (before.price_nanos, before.cost_nanos, before.rate_from_us) == (70_000_000, 62_500_000, instant_us("2025-07-01"))
    assert (at.price_nanos, at.cost_nanos, at.rate_from_us) == (75_000_000, 65_000_000, change)
    # The card in force at the send time applies even when delivery comes after the change.
    book.send(contact("BR"), template(MARKETING, change - US), "late")
    assert book.status("late", "delivered", change + 3_600_000_000).charge_nanos == 70_000_000


def test_unapproved_template_is_refused():
    pending = approved("fresh", "utility").with_change(TemplateChange(T0, review_state="paused"))
    with pytest.raises(SendRefused) as refused:
        Book().quote(contact(), template(pending, T0))
    assert refused.value.code == "template_not_approved"
