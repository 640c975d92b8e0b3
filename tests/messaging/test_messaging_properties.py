"""Properties of the messaging core under random sequences of sends and statuses."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.messaging import (
    Contact,
    NoRateError,
    OptIn,
    SendRefused,
    TemplateChange,
    on_inbound,
)

from messaging_world import AUTH, BUSINESS, BUSINESS_ELIGIBLE, EARLY, MARKETING, T0, UTILITY, Book, H, template, text

RECATEGORIZED = UTILITY.with_change(TemplateChange(T0 + 100 * H, category="marketing"))
TEMPLATES = (UTILITY, MARKETING, AUTH, RECATEGORIZED)
STATUS_NAMES = ("sent", "delivered", "read", "failed")

consents = st.lists(st.tuples(st.sampled_from(("messaging", "marketing")), st.booleans(),
                              st.integers(EARLY, T0 + 900 * H)), max_size=4)
# Mostly consenting contacts in markets with rates (so sends get through), then random
# withdrawals and grants, and now and then a market without any rate (ZA).
GRANTED = (OptIn("messaging", True, EARLY), OptIn("marketing", True, EARLY))
contacts = st.builds(lambda market, records: Contact("c1", market, GRANTED + tuple(OptIn(*r) for r in records)),
                     st.sampled_from(("IN", "IN", "BR", "ZA")), consents)
send_ops = st.tuples(st.just("send"), st.integers(0, 900 * H), st.integers(-1, len(TEMPLATES) - 1), st.booleans())
inbound_ops = st.tuples(st.just("inbound"), st.integers(0, 900 * H), st.booleans(), st.just(None))
status_ops = st.tuples(st.just("status"), st.integers(0, 12), st.sampled_from(STATUS_NAMES), st.integers(0, 10**9))
operations = st.lists(st.one_of(send_ops, inbound_ops, status_ops, status_ops), max_size=60)


def snapshot(book: Book) -> tuple:
    return (dict(book.records), book.windows, dict(book.counts), book.held, book.charged, book.released, book.cost)


def run(book: Book, who: Contact, ops) -> tuple[list, list]:
    """Drive the book; return the refused sends' before/after snapshots and the counter history."""
    refused, counter_history = [], [dict(book.counts)]
    sent_ids: list[str] = []
    for op in ops:
        if op[0] == "inbound":
            book.windows = on_inbound(book.windows, T0 + op[1], entry_point=op[2])
        elif op[0] == "send":
            _, offset, which, _ = op
            outbound = text(T0 + offset) if which < 0 else template(TEMPLATES[which], T0 + offset)
            before = snapshot(book)
            try:
                book.send(who, outbound, f"m{len(sent_ids)}")
                sent_ids.append(f"m{len(sent_ids)}")
            except (SendRefused, NoRateError):
                refused.append((before, snapshot(book)))
        elif sent_ids:
            _, index, status, delay = op
            message_id = sent_ids[index % len(sent_ids)]
            book.status(message_id, status, book.records[message_id].quote.time_us + delay)
            counter_history.append(dict(book.counts))
    return refused, counter_history


@settings(max_examples=150, deadline=None)
@given(contacts, operations, st.booleans())
def test_a_message_is_charged_at_most_once_and_never_above_its_quote(who, ops, eligible):
    book = Book(sender=BUSINESS_ELIGIBLE if eligible else BUSINESS)
    run(book, who, ops)
    for record in book.records.values():
        delivered = bool({"delivered", "read"} & record.seen)
        assert record.booked == delivered
        assert 0 <= record.charge_nanos <= record.quote.price_nanos
        if not record.quote.billable:
            assert record.charge_nanos == record.cost_nanos == record.hold_nanos == 0
        if record.booked or "failed" in record.seen:
            assert record.hold_nanos == 0
    assert book.charged == sum(record.charge_nanos for record in book.records.values())
    assert all(count == 1 for count in book.bookings.values())  # booked at most once per message
    assert book.held == book.released + book.outstanding_hold  # every hold is released exactly once


@settings(max_examples=150, deadline=None)
@given(contacts, operations)
def test_monthly_tier_counts_are_monotone_and_match_the_charged_deliveries(who, ops):
    book = Book()
    _, history = run(book, who, ops)
    for earlier, later in zip(history, history[1:]):
        for key, count in earlier.items():
            assert later.get(key, 0) >= count
    by_key: dict = {}
    for record in book.records.values():
        if record.booked and record.quote.billable:
            by_key.setdefault(record.quote.tier_key, []).append(record.ordinal)
    assert {key: len(ordinals) for key, ordinals in by_key.items()} == book.counts
    for ordinals in by_key.values():
        assert sorted(ordinals) == list(range(1, len(ordinals) + 1))  # each place in the month once


@settings(max_examples=150, deadline=None)
@given(contacts, operations)
def test_every_refused_send_charges_nothing(who, ops):
    book = Book()
    refused, _ = run(book, who, ops)
    for before, after in refused:
        assert before == after  # no record, no hold, no window change, no counter, no charge
    assert book.held == sum(record.quote.price_nanos for record in book.records.values())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(STATUS_NAMES), min_size=1, max_size=12))
def test_any_order_of_statuses_books_once(statuses):
    book = Book()
    book.send(Contact("c1", "IN", (OptIn("marketing", True, EARLY), OptIn("messaging", True, EARLY))),
              template(MARKETING, T0), "m1")
    replay = statuses + statuses  # every status delivered twice, as retries do
    for index, status in enumerate(replay):
        book.status("m1", status, T0 + index)
    expected = 12_500_000 if {"delivered", "read"} & set(statuses) else 0
    assert book.charged == expected
    assert book.outstanding_hold == (0 if expected or "failed" in statuses else 12_500_000)


@given(st.integers(-62_135_596_800 * 10**6, 253_402_300_799 * 10**6))  # years 1 to 9999
def test_calendar_month_matches_datetime(time_us):
    from datetime import datetime, timedelta, timezone

    from revstream.messaging import month_of_us
    moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=time_us)
    assert month_of_us(time_us) == f"{moment.year:04d}-{moment.month:02d}"
