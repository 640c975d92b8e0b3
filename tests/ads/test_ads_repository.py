"""The public ad repository entry and delivery per campaign and day."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from revstream.ads import Campaign, ClickLeaf, DeliveryRow, ImpressionLeaf, delivery, repository_entry, utc_day

DAY1_US = 1_767_268_800_000_000  # 2026-01-01T12:00:00Z
DAY2_US = DAY1_US + 86_400_000_000
CAMPAIGN = Campaign("camp-1", "adv-1", "Acme", "Acme GmbH", "Trail shoes", "Grippy.", "https://acme.example/",
                    "EUR", "cpm", 3_000_000_000, keywords=("trail running", "hiking"), categories=("227",),
                    countries=("FR", "DE"))
IMPRESSION = ImpressionLeaf("imp-1", "req-1", DAY1_US, "camp-1", "adv-1", "m", "cpm", 3_000_000, 3_000_000, "EUR",
                            ("hiking",), (), "0" * 64)
CLICK = ClickLeaf("clk-1", "imp-1", DAY1_US + 5, "camp-1", "adv-1", "m", "not_billable", 0, "EUR")


def test_utc_days_are_exact():
    assert utc_day(DAY1_US) == "2026-01-01" and utc_day(DAY1_US + 12 * 3600 * 10**6 - 1) == "2026-01-01"
    assert utc_day(DAY1_US + 12 * 3600 * 10**6) == "2026-01-02"


def test_a_repository_entry_shows_content_payer_period_and_targeting(taxonomy):
    entry = repository_entry(CAMPAIGN, taxonomy, DAY1_US, DAY2_US, 42)
    assert (entry["advertiser"], entry["paid_by"], entry["impressions"]) == ("Acme", "Acme GmbH", 42)
    assert (entry["shown_from"], entry["shown_to"]) == ("2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z")
    assert entry["targeting"]["keywords"] == ["hiking", "trail running"]
    assert entry["targeting"]["countries"] == ["DE", "FR"]
    assert entry["targeting"]["personal_data_used"] is False
    assert repository_entry(CAMPAIGN, taxonomy, None, None, 0)["shown_from"] is None


def test_delivery_per_campaign_and_day():
    impressions = [IMPRESSION, replace(IMPRESSION, impression_id="imp-2"), replace(IMPRESSION, impression_id="imp-3",
                                                                                    time_us=DAY2_US)]
    clicks = [CLICK, replace(CLICK, click_id="clk-2", outcome="replay"),
              replace(CLICK, click_id="clk-3", time_us=DAY2_US, outcome="charged", charge_nanos=9)]
    rows = delivery(impressions, clicks)
    assert rows == (
        DeliveryRow("camp-1", "2026-01-01", "EUR", 2, 1, 1, 6_000_000),
        DeliveryRow("camp-1", "2026-01-02", "EUR", 1, 1, 0, 3_000_009),
    )
    assert rows[0].click_rate == Fraction(1, 2)
    assert rows[0].as_json()["ctr"] == "1/2" and rows[0].as_json()["spend_nanos"] == 6_000_000
