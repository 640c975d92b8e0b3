"""The ad stream's storage (issue 13): advertisers, their prepaid credit, campaigns, and the
reads behind the public ad repository, `revstream ads report` and the advertiser's view.

Business rules are `revstream.ads`'s: this module reads, calls them and writes what they
return. Money moves only through `revstream.ads`'s ledger entries (see `_ads_delivery` for
impressions and clicks). A campaign's terms are a `Campaign` stored as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, insert, select, update

from ..ads import (
    ADVERTISER_CREDIT,
    Campaign,
    CampaignState,
    ClickLeaf,
    ImpressionLeaf,
    Taxonomy,
    advertiser_top_up,
    delivery,
    repository_entry,
)
from ..ads._campaign import check_campaign_targeting
from ..keys import hash_secret, new_id
from ..ledger import normal_balance_nanos
from ..money import Money, check_amount_range
from ..periods import datetime_of_us, period_bounds_us
from ._ads_schema import ad_advertisers, ad_campaigns, ad_clicks, ad_impressions, ad_key_settings
from ._amounts import amount_values, join, read_amount
from ._engine import writing
from ._errors import Conflict, NotFound, StoreError
from ._host_secrets import host_secret
from ._keys import ADS_SECRET
from ._ledger import post_entries
from ._plans import active_subscriptions
from ._schema import account_balances, api_keys

ADVERTISER_TOKEN_PREFIX = "rsadv-"
EVENT_NANOS_MAX = 2**63 - 1
"""Most one impression or click may cost (a BIGINT, like a request's charge)."""
_AMOUNT_FIELDS = ("bid_nanos", "daily_budget_nanos", "total_budget_nanos")


def ads_secret(engine: Engine) -> bytes:
    """The host's ads key (click tokens, conversation keys, click networks): a key file,
    `REVSTREAM_ADS_SECRET`, made once; never in a store opened with a key directory."""
    return host_secret(engine, ADS_SECRET)


# --- advertisers --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AdvertiserRow:
    advertiser_id: str
    name: str
    legal_name: str | None
    currency: str | None
    created_us: int

    @property
    def payer(self) -> str:
        return self.legal_name or self.name


def _advertiser(row) -> AdvertiserRow:
    return AdvertiserRow(row.advertiser_id, row.name, row.legal_name, row.currency, row.created_us)


def advertiser_row(connection: Connection, name: str, lock: bool = False):
    query = select(ad_advertisers).where(ad_advertisers.c.name == name)
    row = connection.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"no advertiser named {name!r} (add it with `revstream advertisers add`)")
    return row


def add_advertiser(engine: Engine, name: str, legal_name: str | None, now_us: int) -> AdvertiserRow:
    if not name.strip() or len(name) > 200 or (legal_name is not None and not 0 < len(legal_name.strip()) <= 200):
        raise StoreError("an advertiser's name and legal name are 1..200 characters")
    with writing(engine) as connection:
        if connection.execute(select(ad_advertisers.c.name).where(ad_advertisers.c.name == name)).first():
            raise Conflict(f"an advertiser named {name!r} exists already")
        values = {"advertiser_id": new_id("adv"), "name": name, "legal_name": legal_name, "currency": None,
                  "created_us": now_us}
        connection.execute(insert(ad_advertisers).values(**values))
    return AdvertiserRow(values["advertiser_id"], name, legal_name, None, now_us)


def new_advertiser_token(engine: Engine, name: str) -> str:
    """A new token for the advertiser's dashboard view (printed once; the previous one stops working)."""
    token = ADVERTISER_TOKEN_PREFIX + new_id("t").removeprefix("t_") + new_id("t").removeprefix("t_")
    with writing(engine) as connection:
        row = advertiser_row(connection, name)
        connection.execute(update(ad_advertisers).where(ad_advertisers.c.advertiser_id == row.advertiser_id)
                           .values(token_sha256=hash_secret(token)))
    return token


def advertiser_of_token(engine: Engine, token: str) -> AdvertiserRow | None:
    with engine.connect() as connection:
        row = connection.execute(select(ad_advertisers).where(ad_advertisers.c.token_sha256 == hash_secret(token))).first()
    return None if row is None else _advertiser(row)


def available_credit(connection: Connection, advertiser_id: str, currency: str) -> int:
    """The advertiser's prepaid credit not yet spent or reserved."""
    row = connection.execute(select(account_balances).where(
        account_balances.c.owner == advertiser_id, account_balances.c.kind == ADVERTISER_CREDIT,
        account_balances.c.currency == currency)).first()
    return normal_balance_nanos(ADVERTISER_CREDIT, join(row.units, row.nanos)) if row else 0


def add_advertiser_credit(engine: Engine, name: str, amount_nanos: int, currency: str, now_us: int) -> tuple[str, int]:
    """Prepaid ad credit: cash → advertiser_credit. Returns (entry id, credit now available)."""
    if amount_nanos <= 0:
        raise StoreError("a credit amount must be positive")
    with writing(engine) as connection:
        row = advertiser_row(connection, name, lock=True)
        if row.currency is None:
            connection.execute(update(ad_advertisers).where(ad_advertisers.c.advertiser_id == row.advertiser_id)
                               .values(currency=currency))
        elif row.currency != currency:
            raise Conflict(f"advertiser {name!r} pays in {row.currency}, not {currency}")
        entry = advertiser_top_up(new_id("adt"), datetime_of_us(now_us), advertiser=row.advertiser_id,
                                  amount=Money(amount_nanos, currency))
        post_entries(connection, [entry])
        return entry.entry_id, available_credit(connection, row.advertiser_id, currency)


# --- campaigns ----------------------------------------------------------------------------

def campaign_terms(campaign: Campaign) -> str:
    fields = {name: getattr(campaign, name) for name in Campaign.__slots__}
    for name in _AMOUNT_FIELDS:
        fields[name] = None if fields[name] is None else str(fields[name])
    for name in ("keywords", "categories", "countries"):
        fields[name] = list(fields[name])
    return json.dumps(fields, sort_keys=True)


def campaign_of(row) -> Campaign:
    fields = json.loads(row.terms)
    for name in _AMOUNT_FIELDS:
        fields[name] = None if fields[name] is None else int(fields[name])
    for name in ("keywords", "categories", "countries"):
        fields[name] = tuple(fields[name])
    fields["active"] = bool(row.active)
    return Campaign(**fields)


def campaign_state(row, day: str) -> CampaignState:
    spent = read_amount(row, "spent")
    today = read_amount(row, "day_spent") if row.spent_day == day else 0
    return CampaignState(spent, today, row.impressions, row.clicks)


def add_campaign(engine: Engine, advertiser: str, taxonomy: Taxonomy, now_us: int, **terms) -> Campaign:
    """A new, active campaign of `advertiser` (terms as `Campaign` takes them, less the ids
    and names, which come from the advertiser). AdsValueError for bad terms."""
    with writing(engine) as connection:
        row = advertiser_row(connection, advertiser)
        campaign = check_campaign_targeting(Campaign(
            campaign_id=new_id("cmp"), advertiser_id=row.advertiser_id, advertiser=row.name,
            payer=row.legal_name or row.name, **terms), taxonomy)
        if campaign.bid_nanos > EVENT_NANOS_MAX:
            raise StoreError("a bid beyond 9.2 billion units per click or 1,000 impressions is not accepted")
        for name in _AMOUNT_FIELDS:
            value = getattr(campaign, name)
            if value is not None:
                check_amount_range(value, name)
        if row.currency is not None and row.currency != campaign.currency:
            raise Conflict(f"advertiser {advertiser!r} pays in {row.currency}, not {campaign.currency}")
        connection.execute(insert(ad_campaigns).values(
            campaign_id=campaign.campaign_id, advertiser_id=row.advertiser_id, terms=campaign_terms(campaign),
            currency=campaign.currency, active=True, created_us=now_us, **amount_values("spent", 0), spent_day="",
            **amount_values("day_spent", 0), impressions=0, clicks=0))
    return campaign


def set_campaign_active(engine: Engine, campaign_id: str, active: bool) -> Campaign:
    with writing(engine) as connection:
        done = connection.execute(update(ad_campaigns).where(ad_campaigns.c.campaign_id == campaign_id)
                                  .values(active=active)).rowcount
        if not done:
            raise NotFound(f"no campaign {campaign_id!r}")
        return campaign_of(connection.execute(select(ad_campaigns).where(ad_campaigns.c.campaign_id == campaign_id)).one())


def load_campaigns(engine: Engine, day: str, advertiser_id: str | None = None) -> list[tuple[Campaign, CampaignState]]:
    """Every campaign (of one advertiser), with its live state on the UTC `day`."""
    query = select(ad_campaigns).order_by(ad_campaigns.c.created_us, ad_campaigns.c.campaign_id)
    if advertiser_id is not None:
        query = query.where(ad_campaigns.c.advertiser_id == advertiser_id)
    with engine.connect() as connection:
        return [(campaign_of(row), campaign_state(row, day)) for row in connection.execute(query)]


# --- the age band of an API key ------------------------------------------------------------

def set_key_age_band(engine: Engine, key_id: str, age_band: str) -> None:
    with writing(engine) as connection:
        if connection.execute(select(api_keys.c.key_id).where(api_keys.c.key_id == key_id)).first() is None:
            raise NotFound(f"no key {key_id!r}")
        done = connection.execute(update(ad_key_settings).where(ad_key_settings.c.key_id == key_id)
                                  .values(age_band=age_band)).rowcount
        if not done:
            connection.execute(insert(ad_key_settings).values(key_id=key_id, age_band=age_band))


def key_age_band(engine: Engine, key_id: str) -> str | None:
    with engine.connect() as connection:
        return connection.execute(select(ad_key_settings.c.age_band).where(ad_key_settings.c.key_id == key_id)).scalar()


# --- public views --------------------------------------------------------------------------

def impression_of(row) -> ImpressionLeaf:
    return ImpressionLeaf(row.impression_id, row.request_id, row.time_us, row.campaign_id, row.advertiser_id, row.model,
                          row.bid_kind, row.price_nanos, row.charge_nanos, row.currency,
                          tuple(json.loads(row.keywords)), tuple(json.loads(row.categories)), row.answer_sha256)


def click_of(row) -> ClickLeaf:
    return ClickLeaf(row.click_id, row.impression_id, row.time_us, row.campaign_id, row.advertiser_id, row.model,
                     row.outcome, row.charge_nanos, row.currency)


def delivery_rows(engine: Engine, start_us: int, end_us: int, advertiser_id: str | None = None):
    """`revstream.ads.delivery` of the delivered impressions and the clicks in [start, end)."""
    shown = select(ad_impressions).where(ad_impressions.c.status == "delivered", ad_impressions.c.time_us >= start_us,
                                         ad_impressions.c.time_us < end_us)
    clicked = select(ad_clicks).where(ad_clicks.c.time_us >= start_us, ad_clicks.c.time_us < end_us)
    if advertiser_id is not None:
        shown = shown.where(ad_impressions.c.advertiser_id == advertiser_id)
        clicked = clicked.where(ad_clicks.c.advertiser_id == advertiser_id)
    with engine.connect() as connection:
        return delivery((impression_of(r) for r in connection.execute(shown)),
                        (click_of(r) for r in connection.execute(clicked)))


def ads_report(engine: Engine, period: str, advertiser: str | None = None) -> dict:
    """A month's delivery per campaign and day (of one advertiser), with its totals."""
    start_us, end_us = period_bounds_us(period)
    advertiser_id = None
    if advertiser is not None:
        with engine.connect() as connection:
            advertiser_id = advertiser_row(connection, advertiser).advertiser_id
    rows = delivery_rows(engine, start_us, end_us, advertiser_id)
    totals: dict[str, dict] = {}
    for row in rows:
        total = totals.setdefault(row.currency, {"currency": row.currency, "impressions": 0, "clicks": 0,
                                                 "refused_clicks": 0, "spend_nanos": 0})
        total["impressions"] += row.impressions
        total["clicks"] += row.clicks
        total["refused_clicks"] += row.refused_clicks
        total["spend_nanos"] += row.spend_nanos
    return {"period": period, "advertiser": advertiser, "rows": [row.as_json() for row in rows],
            "totals": [totals[currency] for currency in sorted(totals)]}


def ad_repository(engine: Engine, taxonomy: Taxonomy) -> list[dict]:
    """Every campaign that was shown or is active, as the public ad repository lists it."""
    with engine.connect() as connection:
        shown = {r.campaign_id: r for r in connection.execute(
            select(ad_impressions.c.campaign_id, func.min(ad_impressions.c.time_us).label("first"),
                   func.max(ad_impressions.c.time_us).label("last"), func.count().label("impressions"))
            .where(ad_impressions.c.status == "delivered").group_by(ad_impressions.c.campaign_id))}
        campaigns = [campaign_of(row) for row in connection.execute(
            select(ad_campaigns).order_by(ad_campaigns.c.created_us, ad_campaigns.c.campaign_id))]
    entries = []
    for campaign in campaigns:
        seen = shown.get(campaign.campaign_id)
        if seen is None and not campaign.active:
            continue
        entries.append(repository_entry(campaign, taxonomy, seen.first if seen else None, seen.last if seen else None,
                                        seen.impressions if seen else 0))
    return entries


def plan_kind_of(engine: Engine, customer_id: str, now_us: int) -> str | None:
    """The kind of the customer's plan in force (`free`, ...), None without a plan."""
    with engine.connect() as connection:
        subscription = active_subscriptions(connection, [customer_id], now_us).get(customer_id)
    return None if subscription is None else subscription.plan.kind
