"""The ad stream in the store, on SQLite and the real PostgreSQL: advertisers and their credit,
campaigns, an impression reserved, delivered or released exactly once, clicks judged and
recorded, the leaves appended and re-projected, and the ledger balanced throughout."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from revstream.ads import ClickClaim, BurstRule, CLICK_CHARGED, CLICK_EXPIRED, CLICK_REPLAY, CLICK_BURST
from revstream.ads import AuctionInput, AuctionRules, CampaignIndex, Sale, run_auction, read_conversation, match_categories
from revstream.leaves import LeafKind, decode_leaf
from revstream.periods import parse_time_us
from revstream.store import (
    CheckpointPolicy,
    Conflict,
    Placement,
    add_advertiser,
    add_advertiser_credit,
    add_campaign,
    ads_report,
    append_log,
    check_ledger,
    check_log,
    deliver_impression,
    live_state,
    load_campaigns,
    make_engine,
    record_click,
    release_impression,
    reserve_impression,
    sweep_reservations,
    upgrade,
)
from revstream.store._ads_schema import ad_clicks, ad_impressions
from revstream.store._schema import log_leaves

NOW = parse_time_us("2026-11-20T12:00:00Z")
DAY = "2026-11-20"
NETWORK = "0" * 32
RULES = AuctionRules("USD", reserve_cpm_nanos=1_000_000_000, reserve_cpc_nanos=100_000_000)
"""A lone bidder pays the reserve: 1,000,000 nanos an impression, 0.10 a click."""


@pytest.fixture
def engine(database_url, tmp_path):
    engine = make_engine(database_url, tmp_path / "keys")
    upgrade(engine)
    yield engine
    engine.dispose()


def _boots(engine, taxonomy, **terms):
    add_advertiser(engine, "Trail Co", "Trail Company GmbH", NOW)
    add_advertiser_credit(engine, "Trail Co", 1_000_000_000, "USD", NOW)  # 1.00 USD
    return add_campaign(engine, "Trail Co", taxonomy, NOW, title="Boots", text="Waterproof hiking boots.",
                        url="https://trail.example/boots", currency="USD", keywords=("hiking boots",), **terms)


def _sale(engine, taxonomy, text="which hiking boots for the alps?"):
    loaded = load_campaigns(engine, DAY)
    index = CampaignIndex([c for c, _ in loaded], taxonomy, RULES, {c.campaign_id: s for c, s in loaded})
    conversation = read_conversation([text])
    candidates = index.match(conversation, match_categories(taxonomy, conversation))
    ids = index.candidate_ids(candidates)
    live = live_state(engine, ids, "conv", DAY, "USD")
    return run_auction(index, candidates, AuctionInput(NOW, live.states, live.credit_nanos, live.shown_in_conversation))


def _place(engine, sale, impression_id):
    return reserve_impression(engine, sale, Placement(impression_id, "req_" + impression_id, "m1", "conv", "a" * 64, NOW))


def test_an_advertiser_name_is_unique_and_credit_keeps_one_currency(engine):
    add_advertiser(engine, "Trail Co", None, NOW)
    with pytest.raises(Conflict):
        add_advertiser(engine, "Trail Co", None, NOW)
    assert add_advertiser_credit(engine, "Trail Co", 5, "USD", NOW)[1] == 5
    with pytest.raises(Conflict):
        add_advertiser_credit(engine, "Trail Co", 5, "EUR", NOW)


def test_a_cpm_impression_is_reserved_then_charged_once_and_becomes_a_leaf(engine, taxonomy):
    _boots(engine, taxonomy, bid_kind="cpm", bid_nanos=2_000_000_000)  # 2.00 per 1,000: 2,000,000 nanos each
    sale = _sale(engine, taxonomy)
    assert isinstance(sale, Sale) and sale.impression_charge_nanos == 1_000_000
    assert _place(engine, sale, "imp_1")
    assert deliver_impression(engine, "imp_1", NOW + 1)
    assert not deliver_impression(engine, "imp_1", NOW + 2), "delivered once"
    assert not release_impression(engine, "imp_1", NOW + 3), "a delivered impression is not released"
    append_log(engine, CheckpointPolicy(3_600_000_000, 10_000), NOW + 5)
    with engine.connect() as connection:
        row = connection.execute(select(ad_impressions)).one()
        leaf = connection.execute(select(log_leaves.c.data).where(log_leaves.c.leaf_index == row.log_index)).scalar()
    kind, _, fields = decode_leaf(bytes(leaf))
    assert kind is LeafKind.IMPRESSION and fields["charge_nanos"] == 1_000_000 and fields["keywords"] == ["hiking boots"]
    assert check_log(engine).ok and check_ledger(engine).ok
    report = ads_report(engine, "2026-11")
    assert report["totals"] == [{"currency": "USD", "impressions": 1, "clicks": 0, "refused_clicks": 0,
                                 "spend_nanos": 1_000_000}]


def test_an_aborted_or_stale_reservation_is_given_back(engine, taxonomy):
    _boots(engine, taxonomy, bid_kind="cpm", bid_nanos=2_000_000_000)
    sale = _sale(engine, taxonomy)
    assert _place(engine, sale, "imp_1") and _place(engine, sale, "imp_2")
    assert release_impression(engine, "imp_1", NOW + 1)
    assert sweep_reservations(engine, NOW + 10, NOW + 10) == 1
    assert live_state(engine, [sale.campaign.campaign_id], "x", DAY, "USD").credit_nanos[
        sale.campaign.advertiser_id] == 1_000_000_000
    assert check_ledger(engine).ok
    assert ads_report(engine, "2026-11")["rows"] == []


def test_a_budget_is_never_overspent(engine, taxonomy):
    _boots(engine, taxonomy, bid_kind="cpm", bid_nanos=2_000_000_000, total_budget_nanos=2_500_000)
    sale = _sale(engine, taxonomy)
    placed = [_place(engine, sale, f"imp_{n}") for n in range(4)]
    assert placed == [True, True, False, False], "2 impressions of 1,000,000 fit a budget of 2,500,000, a third does not"


def test_a_cpc_click_is_charged_once_and_replays_expiry_and_bursts_are_not(engine, taxonomy):
    _boots(engine, taxonomy, bid_kind="cpc", bid_nanos=300_000_000)
    sale = _sale(engine, taxonomy)
    assert _place(engine, sale, "imp_1") and deliver_impression(engine, "imp_1", NOW)
    claim = ClickClaim(sale.campaign.campaign_id, "imp_1", secrets.token_hex(16), NOW + 10_000_000)
    rule = BurstRule(clicks_max=2, window_s=60)
    verdict, url = record_click(engine, claim, NOW + 1, NETWORK, rule)
    assert verdict.outcome == CLICK_CHARGED and url == "https://trail.example/boots"
    assert record_click(engine, claim, NOW + 2, "1" * 32, rule)[0].outcome == CLICK_REPLAY
    assert _place(engine, sale, "imp_2") and deliver_impression(engine, "imp_2", NOW)
    late = ClickClaim(sale.campaign.campaign_id, "imp_2", secrets.token_hex(16), NOW + 5)
    assert record_click(engine, late, NOW + 6, "2" * 32, rule)[0].outcome == CLICK_EXPIRED
    assert _place(engine, sale, "imp_3") and deliver_impression(engine, "imp_3", NOW)
    third = ClickClaim(sale.campaign.campaign_id, "imp_3", secrets.token_hex(16), NOW + 10_000_000)
    assert record_click(engine, third, NOW + 3, NETWORK, rule)[0].outcome == CLICK_CHARGED, "2nd from one network"
    assert _place(engine, sale, "imp_4") and deliver_impression(engine, "imp_4", NOW)
    fourth = ClickClaim(sale.campaign.campaign_id, "imp_4", secrets.token_hex(16), NOW + 10_000_000)
    assert record_click(engine, fourth, NOW + 4, NETWORK, rule)[0].outcome == CLICK_BURST, "3rd from one network"
    with engine.connect() as connection:
        charges = connection.execute(select(ad_clicks.c.outcome, ad_clicks.c.charge_nanos)).all()
    price = sale.price_nanos
    assert price == 100_000_000, "a lone CPC bidder pays the reserve"
    assert sorted(charges) == sorted([(CLICK_CHARGED, price), (CLICK_REPLAY, 0), (CLICK_EXPIRED, 0),
                                      (CLICK_CHARGED, price), (CLICK_BURST, 0)])
    append_log(engine, CheckpointPolicy(3_600_000_000, 10_000), NOW + 5)
    assert check_log(engine).ok and check_ledger(engine).ok
