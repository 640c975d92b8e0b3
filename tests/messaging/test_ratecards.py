"""Rate cards: CSV import, versions in force, tiers."""

from __future__ import annotations

import pytest

from revstream.messaging import NoRateError, RateCard, RateCardError, RateKey, RateRow, instant_us, parse_rate_card_csv
from revstream.messaging._ratecards import tier_price

from messaging_world import CARD, T0, Book, contact, template, MARKETING

HEADER = "market,category,currency,price,effective_from,tier_from,tier_to\n"


def test_import_reads_exact_prices_and_defaults():
    rows = parse_rate_card_csv("category,market,price,currency,effective_from\nmarketing,IN,0.0107,USD,2025-07-01\n")
    assert rows == (RateRow("IN", "marketing", "USD", 10_700_000, instant_us("2025-07-01")),)
    assert (rows[0].channel, rows[0].book, rows[0].tier_from, rows[0].tier_to) == ("whatsapp", "price", 1, None)
    assert parse_rate_card_csv(HEADER + "IN,marketing,INR,0.882500001,2025-07-01,,\n")[0].price_nanos == 882_500_001
    assert len(parse_rate_card_csv("\ufeff" + HEADER + "IN,marketing,USD,0.01,2025-07-01,,\n")) == 1


def test_version_in_force_and_tiers():
    key = RateKey("whatsapp", "IN", "utility", "USD", "price")
    version = CARD.version_at(key, T0)
    assert [tier_price(version.tiers, n) for n in (1, 2, 3, 4, 5, 10**9)] == [
        4_000_000, 4_000_000, 3_500_000, 3_500_000, 3_000_000, 3_000_000]
    assert CARD.version_at(key, instant_us("2025-07-01") - 1) is None
    assert CARD.markets() == ("BR", "IN")


@pytest.mark.parametrize(("csv_text", "message"), [
    ("market,category,currency\nIN,marketing,USD\n", "missing"),
    (HEADER.replace("tier_to", "tier_to,colour") + "IN,marketing,USD,0.01,2025-07-01,,,red\n", "unknown"),
    (HEADER, "no rows"),
    (HEADER + "IN,marketing,usd,0.01,2025-07-01,,\n", "line 2"),
    (HEADER + "IN,marketing,USD,-0.01,2025-07-01,,\n", "negative"),
    (HEADER + "IN,marketing,USD,0.0000000001,2025-07-01,,\n", "line 2"),
    (HEADER + "IN,marketing,USD,1e-3,2025-07-01,,\n", "line 2"),
    (HEADER + "IN,promo,USD,0.01,2025-07-01,,\n", "category"),
    (HEADER + "in,marketing,USD,0.01,2025-07-01,,\n", "market"),
    (HEADER + "IN,marketing,USD,0.01,July 1st,,\n", "ISO 8601"),
    (HEADER + "IN,marketing,USD,0.01,2025-07-01,1,1000\nIN,marketing,USD,0.009,2025-07-01,1001,\n", "volume tiers"),
    (HEADER + "IN,utility,USD,0.004,2025-07-01,1,10\nIN,utility,USD,0.003,2025-07-01,12,\n", "expected a tier from 11"),
    (HEADER + "IN,utility,USD,0.004,2025-07-01,1,10\nIN,utility,USD,0.003,2025-07-01,5,\n", "expected a tier from 11"),
    (HEADER + "IN,utility,USD,0.004,2025-07-01,1,10\nIN,utility,USD,0.005,2025-07-01,11,\n", "cost more"),
    (HEADER + "IN,utility,USD,0.004,2025-07-01,1,10\n", "unbounded"),
    (HEADER + "IN,utility,USD,0.004,2025-07-01,2,\n", "from 1"),
    (HEADER + "IN,utility,USD,0.004,2025-07-01,1,\nIN,utility,USD,0.003,2025-07-01,1,\n", "only the last"),
    (HEADER + "IN,utility,USD,0.004,2025-07-01,x,\n", "whole numbers"),
    (HEADER + "IN,utility,USD,0.004,2025-07-01,\u00b2,\n", "whole numbers"),
    (HEADER + "IN,utility,USD,0.004,2025-07-01,1,,extra\n", "more cells"),
])
def test_bad_rate_cards_are_refused_with_a_reason(csv_text, message):
    with pytest.raises(RateCardError) as error:
        parse_rate_card_csv(csv_text)
    assert message in str(error.value)


def test_a_new_version_replaces_all_tiers_of_its_key():
    rows = parse_rate_card_csv(HEADER + "IN,utility,USD,0.004,2025-07-01,1,10\nIN,utility,USD,0.003,2025-07-01,11,\n"
                               "IN,utility,USD,0.005,2025-08-01,,\n")
    card = RateCard(rows)
    key = RateKey("whatsapp", "IN", "utility", "USD", "price")
    assert card.version_at(key, instant_us("2025-08-01")).tiers[0].price_nanos == 5_000_000
    assert len(card.version_at(key, instant_us("2025-07-31T23:59:59.999999")).tiers) == 2
    assert card.merged(parse_rate_card_csv(HEADER + "BR,utility,USD,0.01,2025-07-01,,\n")).markets() == ("BR", "IN")


def test_a_billable_message_without_a_rate_is_a_clear_error():
    with pytest.raises(NoRateError) as error:
        Book().quote(contact("ZA"), template(MARKETING, T0))
    assert "market ZA" in str(error.value) and "import a rate card" in str(error.value)
    no_cost = RateCard(parse_rate_card_csv(HEADER + "IN,marketing,USD,0.01,2025-07-01,,\n"))
    with pytest.raises(NoRateError) as error:
        Book(card=no_cost).quote(contact(), template(MARKETING, T0))
    assert "platform cost rate" in str(error.value)
    eur = Book(sender=Book().sender.__class__("acme", "EUR", "GB"))
    with pytest.raises(NoRateError):
        eur.quote(contact(), template(MARKETING, T0))
