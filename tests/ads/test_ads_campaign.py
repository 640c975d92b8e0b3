"""Campaign values refuse what cannot be sold; campaign state stays consistent."""

from __future__ import annotations

from dataclasses import replace

import pytest

from revstream.ads import AdsValueError, AuctionRules, Campaign, CampaignIndex, CampaignState

BASE = Campaign("c1", "adv1", "Acme", "Acme GmbH", "Title", "Text.", "https://acme.example/x", "USD", "cpm",
                2_500_000_000, keywords=("running shoes",))


@pytest.mark.parametrize("change,message", [
    ({"bid_nanos": 2_500_000_001}, "multiple of 1000"),
    ({"bid_nanos": 0}, "positive integer"),
    ({"bid_nanos": 1.5}, "positive integer"),
    ({"bid_kind": "cpa"}, "bid_kind"),
    ({"url": "javascript:alert(1)"}, "http"),
    ({"url": "https://"}, "http"),
    ({"keywords": (), "categories": ()}, "contextual only"),
    ({"keywords": ("",)}, "phrase"),
    ({"keywords": ["a"]}, "tuples"),
    ({"countries": ("de",)}, "alpha-2"),
    ({"currency": "usd"}, "currency"),
    ({"title": "x" * 81}, "title"),
    ({"text": "line\nbreak"}, "control"),
    ({"campaign_id": "has space"}, "campaign_id"),
    ({"starts_us": 10, "ends_us": 10}, "ends_us"),
    ({"frequency_cap": 0}, "frequency_cap"),
    ({"daily_budget_nanos": -1}, "daily_budget_nanos"),
])
def test_bad_campaigns_are_refused(change, message):
    with pytest.raises(AdsValueError, match=message):
        replace(BASE, **change)


def test_the_largest_charges():
    assert BASE.max_impression_charge_nanos == 2_500_000 == BASE.max_event_charge_nanos
    cpc = replace(BASE, bid_kind="cpc", bid_nanos=300_000_001)
    assert (cpc.max_impression_charge_nanos, cpc.max_event_charge_nanos) == (0, 300_000_001)


def test_blocked_or_unknown_categories_cannot_be_indexed(taxonomy):
    with pytest.raises(AdsValueError, match="may not be targeted"):
        CampaignIndex([replace(BASE, categories=("301",))], taxonomy, AuctionRules())
    with pytest.raises(AdsValueError, match="unknown category"):
        CampaignIndex([replace(BASE, categories=("x1",))], taxonomy, AuctionRules())
    with pytest.raises(AdsValueError, match="share an id"):
        CampaignIndex([BASE, BASE], taxonomy, AuctionRules())
    assert len(CampaignIndex([BASE, replace(BASE, campaign_id="eur", currency="EUR")], taxonomy, AuctionRules())) == 1


def test_campaign_state_stays_consistent():
    state = CampaignState().after_impression(5).after_click(7)
    assert state == CampaignState(12, 12, 1, 1)
    assert state.next_day() == CampaignState(12, 0, 1, 1)
    with pytest.raises(AdsValueError):
        CampaignState(total_spent_nanos=1, today_spent_nanos=2)
    with pytest.raises(AdsValueError):
        CampaignState(impressions=1, clicks=2)
    with pytest.raises(AdsValueError):
        CampaignState(total_spent_nanos=-1)
