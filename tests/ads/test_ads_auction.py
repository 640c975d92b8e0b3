"""Selection and pricing: hand-computed auctions, then hypothesis over any sequence of them."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from revstream.ads import (
    NO_ELIGIBLE,
    NO_MATCH,
    AdsValueError,
    AuctionInput,
    AuctionRules,
    Campaign,
    CampaignIndex,
    CampaignState,
    NoAd,
    Sale,
    count_click,
    judge_click,
    match_categories,
    predicted_click_rate,
    read_conversation,
    run_auction,
)
from revstream.ads._auction import eligible, expected_value
from revstream.ads._clicks import ClickClaim

NOON_US = 1_767_268_800_000_000  # 2026-01-01T12:00:00Z
DAY_US = 86_400_000_000
RULES = AuctionRules(currency="USD", reserve_cpm_nanos=500_000_000, reserve_cpc_nanos=10_000_000, pacing_slack_s=0)
TEXT = "What are the best running shoes for a marathon?"


def campaign(campaign_id: str, kind: str = "cpm", bid: int = 2_000_000_000, **fields) -> Campaign:
    fields.setdefault("keywords", ("running shoes",))
    return Campaign(campaign_id, fields.pop("advertiser_id", "adv"), "Advertiser", "Advertiser Ltd", "Title", "Text.",
                    "https://ads.example/", "USD", kind, bid, **fields)


def auction(taxonomy, campaigns, text=TEXT, now_us=NOON_US, states=None, credit=None, shown=None, country=None,
            rules=RULES):
    index = CampaignIndex(campaigns, taxonomy, rules, states)
    conversation = read_conversation([text])
    candidates = index.match(conversation, match_categories(taxonomy, conversation))
    credit = credit if credit is not None else {c.advertiser_id: 10**15 for c in campaigns}
    return run_auction(index, candidates, AuctionInput(now_us, states or {}, credit, shown or {}, country))


def test_a_lone_bidder_pays_the_reserve(taxonomy):
    sale = auction(taxonomy, [campaign("a")])
    assert isinstance(sale, Sale) and sale.runner_up_id is None
    assert (sale.price_nanos, sale.impression_charge_nanos) == (500_000, 500_000)  # $0.50 CPM = 500,000 nanos each


def test_the_winner_pays_the_runner_up(taxonomy):
    sale = auction(taxonomy, [campaign("a", bid=5_000_000_000), campaign("b", bid=2_000_000_000)])
    assert (sale.campaign.campaign_id, sale.price_nanos, sale.runner_up_id) == ("a", 2_000_000, "b")


def test_cpc_ranks_by_bid_times_predicted_click_rate(taxonomy):
    # CPC $0.30 with the prior 1/100 is worth $3.00 CPM and beats a $2.00 CPM; it pays per click
    # the least that keeps it first: $2.00 CPM / (1/100) = $0.20 per click.
    sale = auction(taxonomy, [campaign("cpc", "cpc", 300_000_000), campaign("cpm", bid=2_000_000_000)])
    assert (sale.campaign.campaign_id, sale.price_nanos, sale.impression_charge_nanos) == ("cpc", 200_000_000, 0)


def test_the_click_rate_learns_from_impressions_and_clicks(taxonomy):
    states = {"cpc": CampaignState(impressions=100, clicks=10)}  # (1 + 10) / (100 + 100) = 11/200
    assert expected_value(campaign("cpc", "cpc", 100_000_000), states["cpc"], RULES) == (1_100_000_000, 200)
    sale = auction(taxonomy, [campaign("cpc", "cpc", 100_000_000), campaign("cpm", bid=5_000_000_000)], states=states)
    assert sale.campaign.campaign_id == "cpc"  # 5.5M per impression against 5M
    assert sale.price_nanos == -(-5_000_000 * 200 // 11)  # 90,909,091: rounded up


def test_prices_round_up_to_the_nano_and_never_pass_the_bid(taxonomy):
    sale = auction(taxonomy, [campaign("cpm", bid=5_000_000_000), campaign("cpc", "cpc", 333_333_333)])
    assert sale.price_nanos == 3_333_334  # 3,333,333.33 rounded up
    tie = auction(taxonomy, [campaign("b", bid=3_000_000_000), campaign("a", bid=3_000_000_000)])
    assert (tie.campaign.campaign_id, tie.price_nanos) == ("a", 3_000_000)  # ties: smaller id, pays its bid


def test_below_the_reserve_nothing_is_sold(taxonomy):
    assert auction(taxonomy, [campaign("a", bid=400_000_000)]) == NoAd(NO_ELIGIBLE)
    assert auction(taxonomy, [campaign("c", "cpc", 9_000_000)]) == NoAd(NO_ELIGIBLE)
    assert auction(taxonomy, [campaign("a", keywords=("golf",))]) == NoAd(NO_MATCH)


def test_why_names_the_matched_parameters(taxonomy):
    sale = auction(taxonomy, [campaign("a", keywords=("Running Shoes", "golf"), categories=("227", "596"))])
    assert (sale.keywords, sale.categories) == (("Running Shoes",), ("227",))


@pytest.mark.parametrize("fields,states,shown,credit,country,now_us,ok", [
    ({}, {}, {}, None, None, NOON_US, True),
    ({"active": False}, {}, {}, None, None, NOON_US, False),
    ({"starts_us": NOON_US + 1}, {}, {}, None, None, NOON_US, False),
    ({"ends_us": NOON_US}, {}, {}, None, None, NOON_US, False),
    ({"countries": ("DE",)}, {}, {}, None, None, NOON_US, False),
    ({"countries": ("DE",)}, {}, {}, None, "DE", NOON_US, True),
    ({"frequency_cap": 2}, {}, {"a": 2}, None, None, NOON_US, False),
    ({"frequency_cap": 2}, {}, {"a": 1}, None, None, NOON_US, True),
    ({}, {}, {}, {"adv": 1_999_999}, None, NOON_US, False),
    ({}, {}, {}, {"adv": 2_000_000}, None, NOON_US, True),
    ({"total_budget_nanos": 10_000_000}, {"a": CampaignState(8_000_001, 0)}, {}, None, None, NOON_US, False),
    ({"total_budget_nanos": 10_000_000}, {"a": CampaignState(8_000_000, 0)}, {}, None, None, NOON_US, True),
    # pacing: a 24,000,000 daily budget allows 12,000,000 by noon (no slack in RULES)
    ({"daily_budget_nanos": 24_000_000}, {"a": CampaignState(10_000_001, 10_000_001)}, {}, None, None, NOON_US, False),
    ({"daily_budget_nanos": 24_000_000}, {"a": CampaignState(10_000_000, 10_000_000)}, {}, None, None, NOON_US, True),
    ({"daily_budget_nanos": 24_000_000}, {"a": CampaignState(0, 0)}, {}, None, None, NOON_US - 43_200_000_000, False),
])
def test_eligibility(taxonomy, fields, states, shown, credit, country, now_us, ok):
    outcome = auction(taxonomy, [campaign("a", **fields)], states=states, shown=shown, credit=credit, country=country,
                      now_us=now_us)
    assert isinstance(outcome, Sale) is ok, outcome


def test_slack_lets_a_campaign_start_its_day(taxonomy):
    midnight = NOON_US - 12 * 3600 * 10**6
    rules = replace(RULES, pacing_slack_s=3600)
    # 48,000,000 a day: an hour of slack allows 2,000,000 at midnight, one $2 CPM impression
    sale = auction(taxonomy, [campaign("a", daily_budget_nanos=48_000_000)], now_us=midnight, rules=rules)
    assert isinstance(sale, Sale)


def test_the_index_does_not_offer_unrelated_campaigns(taxonomy):
    index = CampaignIndex([campaign("a"), campaign("golf", keywords=("golf",)), campaign("cat", keywords=(),
                                                                                          categories=("653",))],
                          taxonomy, RULES)
    conversation = read_conversation([TEXT])
    assert index.candidate_ids(index.match(conversation, match_categories(taxonomy, conversation))) == ("a",)


def test_candidates_come_best_first_and_the_auction_stops_early(taxonomy):
    campaigns = [campaign(f"c{n:04}", bid=(n + 1) * 1_000_000) for n in range(1000)]
    index = CampaignIndex(campaigns, taxonomy, RULES)
    conversation = read_conversation([TEXT])
    candidates = index.match(conversation, match_categories(taxonomy, conversation))
    assert index.candidate_ids(candidates)[:3] == ("c0999", "c0998", "c0997")

    class Counting(dict):
        reads = 0

        def get(self, key, default=None):
            Counting.reads += 1
            return super().get(key, default)

    sale = run_auction(index, candidates, AuctionInput(NOON_US, Counting(), {"adv": 10**15}, {}))
    assert (sale.campaign.campaign_id, sale.runner_up_id, sale.price_nanos) == ("c0999", "c0998", 999_000)
    assert Counting.reads == 2  # two candidates read of a thousand


def test_a_refused_reservation_is_retried_without_that_campaign(taxonomy):
    campaigns = [campaign("a", bid=5_000_000_000), campaign("b", bid=3_000_000_000), campaign("c", bid=1_000_000_000)]
    index = CampaignIndex(campaigns, taxonomy, RULES)
    conversation = read_conversation([TEXT])
    candidates = index.match(conversation, match_categories(taxonomy, conversation))
    retry = run_auction(index, candidates, AuctionInput(NOON_US, {}, {"adv": 10**15}, {}, excluded=frozenset({"a"})))
    assert (retry.campaign.campaign_id, retry.price_nanos) == ("b", 1_000_000)


def test_rules_are_checked():
    with pytest.raises(AdsValueError):
        AuctionRules(reserve_cpm_nanos=1)
    with pytest.raises(AdsValueError):
        AuctionRules(ctr_prior_clicks=0)


# --- any sequence of auctions --------------------------------------------------------------

VOCABULARY = ("tent", "kayak", "shoe")


@st.composite
def campaigns_strategy(draw):
    count = draw(st.integers(1, 6))
    found = []
    for number in range(count):
        kind = draw(st.sampled_from(("cpm", "cpc")))
        bid = draw(st.integers(1, 5_000)) * 1000 if kind == "cpm" else draw(st.integers(1, 3_000_000))
        found.append(Campaign(
            f"c{number}", f"adv{draw(st.integers(0, 1))}", "A", "A Ltd", "T", "X.", "https://ads.example/", "USD",
            kind, bid,
            keywords=tuple(draw(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=3, unique=True))),
            daily_budget_nanos=draw(st.none() | st.integers(1, 50_000)),
            total_budget_nanos=draw(st.none() | st.integers(1, 100_000)),
            frequency_cap=draw(st.none() | st.integers(1, 3)),
        ))
    return found


EVENTS = st.lists(st.tuples(
    st.sampled_from(("auction", "click")),
    st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=3),
    st.integers(0, 2),  # conversation
    st.integers(0, 4 * 3600),  # seconds that pass
), min_size=1, max_size=30)


def _ev(campaign_value, state, rules) -> Fraction:
    return Fraction(*expected_value(campaign_value, state, rules))


@settings(max_examples=150, deadline=None)
@given(campaigns_strategy(), EVENTS, st.integers(0, 3) , st.integers(0, 2_000))
def test_prices_budgets_and_caps_hold_over_any_sequence(taxonomy, campaigns, events, reserve_cpm_micros, reserve_cpc):
    rules = AuctionRules(currency="USD", reserve_cpm_nanos=reserve_cpm_micros * 1000, reserve_cpc_nanos=reserve_cpc,
                         ctr_prior_clicks=1, ctr_prior_non_clicks=9, pacing_slack_s=1800)
    by_id = {c.campaign_id: c for c in campaigns}
    states = {c.campaign_id: CampaignState() for c in campaigns}
    credit = {"adv0": 60_000, "adv1": 150_000}
    shown: dict[int, dict[str, int]] = {0: {}, 1: {}, 2: {}}
    now_us, last_sale = NOON_US - 12 * 3600 * 10**6, None
    for kind, words, conversation_number, seconds in events:
        before_day = now_us // DAY_US
        now_us += seconds * 10**6
        if now_us // DAY_US != before_day:
            states = {key: state.next_day() for key, state in states.items()}
        if kind == "click" and last_sale is not None and last_sale.campaign.bid_kind == "cpc":
            sold = last_sale.campaign
            state = states[sold.campaign_id]
            room = min(credit[sold.advertiser_id],
                       (sold.total_budget_nanos or 10**18) - state.total_spent_nanos,
                       (sold.daily_budget_nanos or 10**18) - state.today_spent_nanos)
            claim = ClickClaim(sold.campaign_id, "imp", "0" * 32, now_us + 1)
            verdict = judge_click(claim, now_us, False, False, last_sale.price_nanos, room)
            states[sold.campaign_id] = state.after_click(verdict.charge_nanos)
            credit[sold.advertiser_id] -= verdict.charge_nanos
            last_sale = None  # the token's nonce is used: a second click is a replay, not a click
            continue
        index = CampaignIndex(campaigns, taxonomy, rules, states)  # the gateway refreshes its snapshot
        conversation = read_conversation([" ".join(words)])
        candidates = index.match(conversation, match_categories(taxonomy, conversation))
        request = AuctionInput(now_us, states, dict(credit), shown[conversation_number])
        outcome = run_auction(index, candidates, request)
        reserve = Fraction(rules.reserve_cpm_nanos, 1000)
        eligible_ones = [by_id[c] for c in index.candidate_ids(candidates)
                         if eligible(by_id[c], states[c], request, rules)
                         and _ev(by_id[c], states[c], rules) >= reserve]
        if not isinstance(outcome, Sale):
            assert eligible_ones == []
            event(f"no ad: {outcome.reason}")
            continue
        event(f"sold {outcome.campaign.bid_kind}, {len(eligible_ones)} eligible")
        winner, state = outcome.campaign, states[outcome.campaign.campaign_id]
        # the winner has the highest expected value, and pays the least that keeps it first
        values = sorted((_ev(c, states[c.campaign_id], rules) for c in eligible_ones), reverse=True)
        assert _ev(winner, state, rules) == values[0]
        clearing = max([Fraction(rules.reserve_cpm_nanos, 1000)] + values[1:2])
        ctr = Fraction(1) if winner.bid_kind == "cpm" else predicted_click_rate(state, rules)

        def unit_value(price: int, ctr: Fraction = ctr) -> Fraction:
            return price * ctr
        assert unit_value(outcome.price_nanos) >= clearing
        if winner.bid_kind == "cpm" or outcome.price_nanos > rules.reserve_cpc_nanos:
            assert unit_value(outcome.price_nanos - 1) < clearing
        # never above the bid, never below the reserve
        if winner.bid_kind == "cpm":
            assert rules.reserve_cpm_nanos // 1000 <= outcome.price_nanos <= winner.bid_nanos // 1000
        else:
            assert rules.reserve_cpc_nanos <= outcome.price_nanos <= winner.bid_nanos
        # deliver: the store commits the reserved impression charge
        states[winner.campaign_id] = state.after_impression(outcome.impression_charge_nanos)
        credit[winner.advertiser_id] -= outcome.impression_charge_nanos
        counts = shown[conversation_number]
        counts[winner.campaign_id] = counts.get(winner.campaign_id, 0) + 1
        last_sale = outcome
        # budgets, credit and caps hold after every step
        for campaign_id, campaign_state in states.items():
            terms = by_id[campaign_id]
            assert terms.total_budget_nanos is None or campaign_state.total_spent_nanos <= terms.total_budget_nanos
            assert terms.daily_budget_nanos is None or campaign_state.today_spent_nanos <= terms.daily_budget_nanos
        assert min(credit.values()) >= 0
        for counts in shown.values():
            for campaign_id, count in counts.items():
                cap = by_id[campaign_id].frequency_cap
                assert cap is None or count <= cap


def test_bursts_stay_exact_in_integers():
    # the property test above covers money; this pins that count_click is importable beside it
    from revstream.ads import BurstRule, WindowCounter

    burst, counter = count_click(WindowCounter(), NOON_US, BurstRule(clicks_max=1, window_s=60))
    assert (burst, counter.current) == (False, 1)
