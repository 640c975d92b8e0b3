"""Campaigns and their live state: pure, validated values.

A campaign buys placements beside answers whose conversation matches its keywords or taxonomy
categories. Nothing about a person can be targeted: there is no field for it. Amounts are
integer nanos of ``currency``.

Bids: ``cpm`` is a price per 1,000 impressions and must be a whole number of micro-units
(a multiple of 1,000 nanos) so that one impression costs whole nanos; ``cpc`` is a price per
click. Budgets are optional; a campaign without a total budget is still bounded by its
advertiser's prepaid credit. ``frequency_cap`` is the most impressions per conversation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from revstream.ads._errors import AdsValueError
from revstream.ads._taxonomy import Taxonomy
from revstream.ads._text import phrase
from revstream.money import MoneyError, validate_currency

BID_CPM = "cpm"
BID_CPC = "cpc"
BID_KINDS = (BID_CPM, BID_CPC)
impressions_per_mille = 1000
campaign_keywords_max = 64
campaign_categories_max = 32
campaign_countries_max = 64
title_chars_max = 80
text_chars_max = 300
url_chars_max = 2048
name_chars_max = 200
nanos_max = 10**27
"""Largest amount accepted (10^18 currency units, the range money promises)."""
frequency_cap_max = 1000
_COUNTRY = re.compile(r"[A-Z]{2}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


def _text(name: str, value: object, chars_max: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > chars_max:
        raise AdsValueError(f"{name} must be non-empty text of at most {chars_max} characters")
    if any(ord(char) < 32 for char in value):
        raise AdsValueError(f"{name} must not contain control characters")
    return value


def _nanos(name: str, value: object, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= nanos_max:
        raise AdsValueError(f"{name} must be a positive integer of nanos up to {nanos_max}, not {value!r}")
    return value


def check_id(name: str, value: object) -> str:
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise AdsValueError(f"{name} must be 1..128 characters of letters, digits and _.:-, not {value!r}")
    return value


def check_url(value: object) -> str:
    """An absolute http(s) URL with a host, as an ad's landing page."""
    url = _text("url", value, url_chars_max)
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or any(char.isspace() for char in url):
        raise AdsValueError(f"url must be an absolute http(s) URL with a host, not {url!r}")
    return url


@dataclass(frozen=True, slots=True)
class Campaign:
    """One campaign's terms, checked on construction (see the module docstring)."""

    campaign_id: str
    advertiser_id: str
    advertiser: str
    payer: str
    title: str
    text: str
    url: str
    currency: str
    bid_kind: str
    bid_nanos: int
    keywords: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    daily_budget_nanos: int | None = None
    total_budget_nanos: int | None = None
    starts_us: int = 0
    ends_us: int | None = None
    countries: tuple[str, ...] = ()
    frequency_cap: int | None = None
    active: bool = True

    def __post_init__(self) -> None:
        check_id("campaign_id", self.campaign_id)
        check_id("advertiser_id", self.advertiser_id)
        _text("advertiser", self.advertiser, name_chars_max)
        _text("payer", self.payer, name_chars_max)
        _text("title", self.title, title_chars_max)
        _text("text", self.text, text_chars_max)
        check_url(self.url)
        try:
            validate_currency(self.currency)
        except MoneyError as error:
            raise AdsValueError(str(error)) from error
        if self.bid_kind not in BID_KINDS:
            raise AdsValueError(f"bid_kind must be one of {BID_KINDS}, not {self.bid_kind!r}")
        _nanos("bid_nanos", self.bid_nanos)
        if self.bid_kind == BID_CPM and self.bid_nanos % impressions_per_mille:
            raise AdsValueError("a CPM bid must be a multiple of 1000 nanos, so that one impression costs whole nanos")
        _nanos("daily_budget_nanos", self.daily_budget_nanos, optional=True)
        _nanos("total_budget_nanos", self.total_budget_nanos, optional=True)
        self._check_targeting()
        if not isinstance(self.starts_us, int) or self.starts_us < 0:
            raise AdsValueError("starts_us must be a non-negative integer")
        if self.ends_us is not None and (not isinstance(self.ends_us, int) or self.ends_us <= self.starts_us):
            raise AdsValueError("ends_us must be after starts_us")
        if self.frequency_cap is not None and (
            not isinstance(self.frequency_cap, int) or not 1 <= self.frequency_cap <= frequency_cap_max
        ):
            raise AdsValueError(f"frequency_cap must be an integer in 1..{frequency_cap_max}")
        if not isinstance(self.active, bool):
            raise AdsValueError("active must be a bool")

    def _check_targeting(self) -> None:
        if not isinstance(self.keywords, tuple) or not isinstance(self.categories, tuple):
            raise AdsValueError("keywords and categories must be tuples")
        if not self.keywords and not self.categories:
            raise AdsValueError("a campaign targets at least one keyword or category (targeting is contextual only)")
        if len(self.keywords) > campaign_keywords_max or len(self.categories) > campaign_categories_max:
            raise AdsValueError(f"at most {campaign_keywords_max} keywords and {campaign_categories_max} categories")
        for keyword in self.keywords:
            if not isinstance(keyword, str):
                raise AdsValueError("keywords must be strings")
            phrase(keyword)
        if not isinstance(self.countries, tuple) or len(self.countries) > campaign_countries_max:
            raise AdsValueError(f"countries must be a tuple of at most {campaign_countries_max} codes")
        for country in self.countries:
            if not isinstance(country, str) or _COUNTRY.fullmatch(country) is None:
                raise AdsValueError(f"a country is an ISO 3166-1 alpha-2 code in upper case, not {country!r}")

    @property
    def max_impression_charge_nanos(self) -> int:
        """The most one impression can cost: the CPM bid per impression, 0 for CPC."""
        return self.bid_nanos // impressions_per_mille if self.bid_kind == BID_CPM else 0

    @property
    def max_event_charge_nanos(self) -> int:
        """The most one billed event (an impression for CPM, a click for CPC) can cost."""
        return self.max_impression_charge_nanos if self.bid_kind == BID_CPM else self.bid_nanos


def check_campaign_targeting(campaign: Campaign, taxonomy: Taxonomy) -> Campaign:
    """The campaign, if every category exists in the taxonomy and may be targeted."""
    taxonomy.targetable(campaign.categories)
    return campaign


@dataclass(frozen=True, slots=True)
class CampaignState:
    """What the store knows of a campaign now. ``*_spent_nanos`` include open reservations
    (charges reserved for impressions in flight), exactly as the store counts them;
    ``impressions`` are delivered ones; ``clicks`` are genuine ones (outcome ``charged``,
    ``not_billable`` or ``budget_exhausted``: at most one per impression, as a token's nonce is
    single-use), never replays, expired tokens or bursts."""

    total_spent_nanos: int = 0
    today_spent_nanos: int = 0
    impressions: int = 0
    clicks: int = 0

    def __post_init__(self) -> None:
        for name in ("total_spent_nanos", "today_spent_nanos", "impressions", "clicks"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise AdsValueError(f"{name} must be a non-negative integer, not {value!r}")
        if self.today_spent_nanos > self.total_spent_nanos:
            raise AdsValueError("today's spend cannot exceed the total spend")
        if self.clicks > self.impressions:
            raise AdsValueError("a campaign cannot have more clicks than impressions")

    def after_impression(self, charge_nanos: int) -> CampaignState:
        return CampaignState(self.total_spent_nanos + charge_nanos, self.today_spent_nanos + charge_nanos,
                             self.impressions + 1, self.clicks)

    def after_click(self, charge_nanos: int) -> CampaignState:
        return CampaignState(self.total_spent_nanos + charge_nanos, self.today_spent_nanos + charge_nanos,
                             self.impressions, self.clicks + 1)

    def next_day(self) -> CampaignState:
        return CampaignState(self.total_spent_nanos, 0, self.impressions, self.clicks)
