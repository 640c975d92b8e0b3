"""Selection and pricing: which campaign wins a placement, and what it pays. Pure and exact.

1. **Candidates** come from an index, never a scan: the campaigns whose keywords occur in the
   conversation or whose categories the conversation is about (``CampaignIndex``).
2. **Ranking** by expected value per impression, an exact fraction of nanos: a CPM bid / 1000;
   a CPC bid × predicted click rate, the mean of a Beta(α, β) prior updated with the
   campaign's impressions and clicks: ``(α + clicks) / (α + β + impressions)``. Ties go to the
   smaller campaign id. The click rates are those of the ``stats`` the index was built with:
   the index is an immutable snapshot, rebuilt when campaigns change and every
   ``index_refresh_s`` (the gateway's job), so its posting lists can be kept sorted by expected
   value and an auction reads candidates best first and stops at the second eligible one,
   however many campaigns bought a popular keyword.
3. **Eligibility**, checked on live state: active; within its schedule; the request's country
   among its countries (a campaign with countries never runs where the country is unknown);
   under its frequency cap in this conversation; its bid and expected value at or above the
   reserve; and room for its largest possible charge in its total budget, its advertiser's
   credit and its daily budget *as paced*: by second ``e`` of the UTC day a campaign may have
   spent ``daily × min(1, (e + slack) / 86400)``; one ahead of that curve yields.
4. **Price** (generalized second price): the winner pays the least that keeps it first: the
   runner-up's expected value, or the reserve if higher (or if there is no runner-up), turned
   into the winner's unit and **rounded up to the nano** — the only rounding, and upward
   because a price rounded down would no longer keep the winner first. It never exceeds the
   bid: the bid's own expected value is at least the clearing value and the bid is whole nanos
   per impression (CPM) or per click (CPC), so the ceiling stays at or under it; it is never
   below the reserve for the same reason. A CPM winner pays per impression, at once; a CPC
   winner pays that price per click, later, if a click comes and its budget still has room.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction

from revstream.ads._campaign import BID_CPM, Campaign, CampaignState, check_campaign_targeting
from revstream.ads._context import CategoryMatch, Conversation
from revstream.ads._errors import AdsError, AdsValueError
from revstream.ads._taxonomy import Taxonomy
from revstream.ads._text import PhraseTable, phrase

seconds_per_day = 86_400
micros_per_second = 1_000_000
index_campaigns_max = 1_000_000
"""Most campaigns one index holds."""
NO_MATCH = "no_match"
NO_ELIGIBLE = "no_eligible"
_ZERO = CampaignState()


@dataclass(frozen=True, slots=True)
class AuctionRules:
    """The host's auction settings. Reserves are nanos; the CPM reserve is per 1,000 impressions."""

    currency: str = "USD"
    reserve_cpm_nanos: int = 0
    reserve_cpc_nanos: int = 0
    ctr_prior_clicks: int = 1
    ctr_prior_non_clicks: int = 99
    pacing_slack_s: int = 3600

    def __post_init__(self) -> None:
        for name in ("reserve_cpm_nanos", "reserve_cpc_nanos", "pacing_slack_s"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise AdsValueError(f"{name} must be a non-negative integer")
        if self.reserve_cpm_nanos % 1000:
            raise AdsValueError("reserve_cpm_nanos must be a multiple of 1000 (whole nanos per impression)")
        for name in ("ctr_prior_clicks", "ctr_prior_non_clicks"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise AdsValueError(f"{name} must be a positive integer (a Beta prior's pseudo-count)")


@dataclass(frozen=True, slots=True)
class AuctionInput:
    """What the gateway knows for this request: live campaign state (a mapping it may fill
    lazily: the auction reads only the few candidates it ranks), the advertisers' available
    credit, this conversation's impressions per campaign, the request's country, and campaigns
    to leave out (one whose reservation the store just refused, on a retry)."""

    now_us: int
    states: Mapping[str, CampaignState]
    credit_nanos: Mapping[str, int]
    shown_in_conversation: Mapping[str, int]
    country: str | None = None
    excluded: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Sale:
    """The auction's outcome when a campaign wins.

    ``price_nanos`` is per impression (CPM) or per click (CPC); ``impression_charge_nanos`` is
    what the impression itself costs now (the price for CPM, 0 for CPC) and what the store
    reserves against the campaign's budgets and the advertiser's credit until delivery.
    ``keywords`` (as the advertiser wrote them) and ``categories`` (ids) are the contextual
    parameters that matched: *why this ad*. ``runner_up_id`` set the price (None: the reserve did)."""

    campaign: Campaign
    price_nanos: int
    impression_charge_nanos: int
    keywords: tuple[str, ...]
    categories: tuple[str, ...]
    runner_up_id: str | None


@dataclass(frozen=True, slots=True)
class NoAd:
    """No campaign won: ``no_match`` (nothing targets this conversation) or ``no_eligible``."""

    reason: str


@dataclass(frozen=True, slots=True)
class Candidates:
    """The campaigns an index found for one conversation: posting lists of positions, each
    ascending (positions are ranks: best expected value first), merged lazily by the auction."""

    lists: tuple[tuple[int, ...], ...]
    phrases: frozenset[tuple[str, ...]]
    categories: CategoryMatch

    def positions(self) -> Iterator[int]:
        """Every candidate position once, best first."""
        last = -1
        for position in heapq.merge(*self.lists):
            if position != last:
                last = position
                yield position

    def __len__(self) -> int:
        return sum(1 for _ in self.positions())


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def click_rate(state: CampaignState, rules: AuctionRules) -> tuple[int, int]:
    """The Beta posterior mean click rate as (clicks, impressions) pseudo-counts."""
    return (rules.ctr_prior_clicks + state.clicks,
            rules.ctr_prior_clicks + rules.ctr_prior_non_clicks + state.impressions)


def predicted_click_rate(state: CampaignState, rules: AuctionRules) -> Fraction:
    """The Beta posterior mean click rate, as a fraction (for reports)."""
    return Fraction(*click_rate(state, rules))


def expected_value(campaign: Campaign, state: CampaignState, rules: AuctionRules) -> tuple[int, int]:
    """Expected nanos per impression as (numerator, denominator), denominator > 0."""
    if campaign.bid_kind == BID_CPM:
        return campaign.bid_nanos, 1000
    clicks, shown = click_rate(state, rules)
    return campaign.bid_nanos * clicks, shown


class CampaignIndex:
    """The campaigns of the rules' currency, ranked by expected value under ``stats`` and
    indexed by keyword phrase and category. Immutable; see step 2 of the module docstring.
    Building it is linear in keywords plus a sort (about a second per 10,000 campaigns on a
    busy small machine): the gateway builds the next one aside and swaps it in."""

    __slots__ = ("campaigns", "taxonomy", "rules", "_values", "_rates", "_keywords", "_by_category",
                 "_keyword_phrases")

    def __init__(self, campaigns: Iterable[Campaign], taxonomy: Taxonomy, rules: AuctionRules,
                 stats: Mapping[str, CampaignState] | None = None) -> None:
        stats = stats or {}
        chosen = [c for c in campaigns if c.currency == rules.currency]
        if len(chosen) > index_campaigns_max:
            raise AdsValueError(f"more than {index_campaigns_max} campaigns in one index")
        if len({c.campaign_id for c in chosen}) != len(chosen):
            raise AdsValueError("two campaigns share an id")
        for campaign in chosen:
            check_campaign_targeting(campaign, taxonomy)
        values = {c.campaign_id: expected_value(c, stats.get(c.campaign_id, _ZERO), rules) for c in chosen}
        chosen.sort(key=lambda c: (-Fraction(*values[c.campaign_id]), c.campaign_id))
        self.campaigns: tuple[Campaign, ...] = tuple(chosen)
        self.taxonomy, self.rules = taxonomy, rules
        self._values = tuple(values[c.campaign_id] for c in chosen)
        self._rates = tuple(click_rate(stats.get(c.campaign_id, _ZERO), rules) for c in chosen)
        by_phrase: dict[tuple[str, ...], list[int]] = {}
        by_category: dict[str, list[int]] = {}
        keyword_phrases: list[dict[tuple[str, ...], str]] = []
        for position, campaign in enumerate(chosen):
            phrases = {phrase(keyword): keyword for keyword in campaign.keywords}
            keyword_phrases.append(phrases)
            for key in phrases:
                by_phrase.setdefault(key, []).append(position)
            for category_id in campaign.categories:
                by_category.setdefault(category_id, []).append(position)
        self._keywords = PhraseTable((key, tuple(value)) for key, value in by_phrase.items())
        self._by_category = {key: tuple(value) for key, value in by_category.items()}
        self._keyword_phrases = tuple(keyword_phrases)

    def __len__(self) -> int:
        return len(self.campaigns)

    def match(self, conversation: Conversation, categories: CategoryMatch) -> Candidates:
        """The campaigns targeting this conversation (by keyword or category), from the index."""
        lists: list[tuple[int, ...]] = []
        found: set[tuple[str, ...]] = set()
        for match in self._keywords.find(conversation.terms):
            if match.phrase not in found:
                found.add(match.phrase)
                lists.append(match.value)
        by_category = self._by_category
        for category_id in categories.phrases:
            hit = by_category.get(category_id)
            if hit is not None:
                lists.append(hit)
        return Candidates(tuple(lists), frozenset(found), categories)

    def why(self, position: int, candidates: Candidates) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The campaign's keywords (as written) and categories (ids) that matched."""
        phrases = self._keyword_phrases[position]
        keywords = tuple(sorted(text for key, text in phrases.items() if key in candidates.phrases))
        matched = tuple(sorted(c for c in self.campaigns[position].categories if c in candidates.categories.phrases))
        return keywords, matched

    def candidate_ids(self, candidates: Candidates) -> tuple[str, ...]:
        """The candidates' campaign ids, best first (for reports and tests; the auction stops early)."""
        return tuple(self.campaigns[position].campaign_id for position in candidates.positions())

    def value(self, position: int) -> tuple[int, int]:
        """The expected value the index ranked this position by."""
        return self._values[position]

    def rate(self, position: int) -> tuple[int, int]:
        """The click-rate pseudo-counts (clicks, impressions) behind a CPC position's value."""
        return self._rates[position]


def _paced_room(campaign: Campaign, state: CampaignState, charge: int, now_us: int, rules: AuctionRules) -> bool:
    """Whether ``charge`` more keeps the campaign on or under its daily pacing curve."""
    daily = campaign.daily_budget_nanos
    if daily is None:
        return True
    elapsed_s = (now_us // micros_per_second) % seconds_per_day
    allowed_s = min(seconds_per_day, elapsed_s + rules.pacing_slack_s)
    return (state.today_spent_nanos + charge) * seconds_per_day <= daily * allowed_s


def eligible(campaign: Campaign, state: CampaignState, auction: AuctionInput, rules: AuctionRules) -> bool:
    """Every rule of step 3 in the module docstring but the expected-value reserve."""
    if not campaign.active or auction.now_us < campaign.starts_us or campaign.campaign_id in auction.excluded:
        return False
    if campaign.ends_us is not None and auction.now_us >= campaign.ends_us:
        return False
    if campaign.countries and auction.country not in campaign.countries:
        return False
    cap = campaign.frequency_cap
    if cap is not None and auction.shown_in_conversation.get(campaign.campaign_id, 0) >= cap:
        return False
    if campaign.bid_nanos < (rules.reserve_cpm_nanos if campaign.bid_kind == BID_CPM else rules.reserve_cpc_nanos):
        return False
    charge = campaign.max_event_charge_nanos
    if campaign.total_budget_nanos is not None and state.total_spent_nanos + charge > campaign.total_budget_nanos:
        return False
    if auction.credit_nanos.get(campaign.advertiser_id, 0) < charge:
        return False
    return _paced_room(campaign, state, charge, auction.now_us, rules)


def run_auction(index: CampaignIndex, candidates: Candidates, auction: AuctionInput) -> Sale | NoAd:
    """The winning campaign and its price, or why there is none. See the module docstring."""
    if not candidates.lists:
        return NoAd(NO_MATCH)
    rules = index.rules
    reserve_cpm = rules.reserve_cpm_nanos
    winner = runner_up = None
    for position in candidates.positions():
        numerator, denominator = index.value(position)
        if numerator * 1000 < reserve_cpm * denominator:
            break  # best first: every later candidate is below the reserve too
        campaign = index.campaigns[position]
        if not eligible(campaign, auction.states.get(campaign.campaign_id, _ZERO), auction, rules):
            continue
        if winner is None:
            winner = position
        else:
            runner_up = position
            break
    if winner is None:
        return NoAd(NO_ELIGIBLE)
    clearing = (reserve_cpm, 1000)
    if runner_up is not None and _greater(index.value(runner_up), clearing):
        clearing = index.value(runner_up)
    else:
        runner_up = None
    campaign = index.campaigns[winner]
    price = _price(campaign, index.rate(winner), clearing, rules)
    keywords, matched = index.why(winner, candidates)
    runner_up_id = index.campaigns[runner_up].campaign_id if runner_up is not None else None
    return Sale(campaign, price, price if campaign.bid_kind == BID_CPM else 0, keywords, matched, runner_up_id)


def _greater(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] * b[1] > b[0] * a[1]


def _price(winner: Campaign, rate: tuple[int, int], clearing: tuple[int, int], rules: AuctionRules) -> int:
    """The clearing expected value in the winner's unit, rounded up to the nano (see the docstring)."""
    numerator, denominator = clearing
    if winner.bid_kind == BID_CPM:
        price = _ceil_div(numerator, denominator)  # per impression
        limit = winner.bid_nanos // 1000
    else:
        clicks, shown = rate
        price = max(_ceil_div(numerator * shown, denominator * clicks), rules.reserve_cpc_nanos)
        limit = winner.bid_nanos
    if price > limit:
        raise AdsError(f"invariant broken: price {price} above the bid {limit}")  # unreachable; see the docstring
    return price
