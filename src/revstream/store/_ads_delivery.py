"""Impressions and clicks in the store (issue 13): the money of one ad, exactly once.

An impression's price is reserved in the same transaction that checks the campaign's total
and daily budgets and its advertiser's credit, with the advertiser's and the campaign's rows
locked (PostgreSQL `FOR UPDATE`; SQLite's write lock): two workers cannot both spend the last
of a budget. Delivery charges the reservation (`ad_impression_charge`) and makes the row a
leaf; an abort (or a reservation older than the stale bound, swept) releases it
(`ad_release`). A click is judged by `revstream.ads.judge_click` on what is read under the
same locks, recorded whatever its outcome, and charged (`ad_click_charge`) only when its
outcome is `charged`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, insert, select, update

from ..ads import (
    BID_CPC,
    BID_CPM,
    BurstRule,
    CampaignState,
    ClickClaim,
    ClickVerdict,
    Sale,
    WindowCounter,
    ad_click_charge,
    ad_impression_charge,
    ad_release,
    ad_reserve,
    count_click,
    judge_click,
    utc_day,
)
from ..ads._repository import GENUINE_CLICKS
from ..keys import new_id
from ..money import Money
from ..periods import datetime_of_us
from ._ads import available_credit, campaign_of, campaign_state
from ._ads_schema import ad_advertisers, ad_campaigns, ad_click_windows, ad_clicks, ad_impressions
from ._amounts import add_amount, amount_values, split
from ._engine import writing
from ._ledger import post_entries

RESERVED, DELIVERED, RELEASED = "reserved", "delivered", "released"
SWEEP_BATCH_MAX = 256
"""Most stale reservations one sweep releases."""


@dataclass(frozen=True, slots=True)
class Placement:
    """What the gateway asks to reserve: the sale and the request it rides on."""

    impression_id: str
    request_id: str
    model: str
    conversation_key: str
    answer_sha256: str
    time_us: int


def _locked(connection: Connection, campaign_id: str):
    """The campaign's and its advertiser's rows, locked in one fixed order (advertiser, then
    campaign) before any balance is touched: every writer of an ad's money takes them so."""
    advertiser_id = connection.execute(select(ad_campaigns.c.advertiser_id)
                                       .where(ad_campaigns.c.campaign_id == campaign_id)).scalar_one()
    advertiser = connection.execute(select(ad_advertisers).where(ad_advertisers.c.advertiser_id == advertiser_id)
                                    .with_for_update()).one()
    campaign = connection.execute(select(ad_campaigns).where(ad_campaigns.c.campaign_id == campaign_id)
                                  .with_for_update()).one()
    return advertiser, campaign


def _room(campaign_row, state: CampaignState, credit: int) -> int:
    """What the campaign may still spend: the least of its budgets' rest and the credit."""
    campaign = campaign_of(campaign_row)
    room = credit
    if campaign.total_budget_nanos is not None:
        room = min(room, campaign.total_budget_nanos - state.total_spent_nanos)
    if campaign.daily_budget_nanos is not None:
        room = min(room, campaign.daily_budget_nanos - state.today_spent_nanos)
    return room


def _spend(connection: Connection, campaign_row, day: str, nanos: int, shown: int = 0, clicked: int = 0) -> None:
    """Add `nanos` (negative: give back) to the campaign's spend, today's included."""
    units, rest = split(nanos)
    values = {**add_amount(ad_campaigns, "spent", units, rest),
              "impressions": ad_campaigns.c.impressions + shown, "clicks": ad_campaigns.c.clicks + clicked}
    if campaign_row.spent_day == day:
        values.update(add_amount(ad_campaigns, "day_spent", units, rest))
    elif nanos >= 0:  # a new day's first spend; money given back for another day leaves today alone
        values.update(spent_day=day, **amount_values("day_spent", nanos))
    connection.execute(update(ad_campaigns).where(ad_campaigns.c.campaign_id == campaign_row.campaign_id).values(values))


def reserve_impression(engine: Engine, sale: Sale, placement: Placement) -> bool:
    """Reserve the sale's impression charge and record the impression as `reserved`; False
    (nothing written) when the campaign is paused or its budgets or credit have no room."""
    campaign = sale.campaign
    day = utc_day(placement.time_us)
    with writing(engine) as connection:
        advertiser, row = _locked(connection, campaign.campaign_id)
        if not row.active:
            return False
        credit = available_credit(connection, advertiser.advertiser_id, campaign.currency)
        charge = sale.impression_charge_nanos
        needed = charge if campaign.bid_kind == BID_CPM else campaign.max_event_charge_nanos
        if _room(row, campaign_state(row, day), credit) < needed:
            return False
        if charge:
            post_entries(connection, [ad_reserve(new_id("adr"), datetime_of_us(placement.time_us),
                                                 advertiser=advertiser.advertiser_id,
                                                 amount=Money(charge, campaign.currency))])
            _spend(connection, row, day, charge)
        connection.execute(insert(ad_impressions).values(
            impression_id=placement.impression_id, campaign_id=campaign.campaign_id,
            advertiser_id=advertiser.advertiser_id, request_id=placement.request_id, model=placement.model,
            time_us=placement.time_us, status=RESERVED, bid_kind=campaign.bid_kind, price_nanos=sale.price_nanos,
            charge_nanos=charge, currency=campaign.currency, keywords=json.dumps(sorted(sale.keywords)),
            categories=json.dumps(sorted(sale.categories)), answer_sha256=placement.answer_sha256,
            conversation_key=placement.conversation_key, click_used=False))
    return True


def _claim(connection: Connection, impression_id: str, status: str):
    """Move a reserved impression to `status`; its row, or None if it was not reserved."""
    done = connection.execute(update(ad_impressions).where(
        ad_impressions.c.impression_id == impression_id, ad_impressions.c.status == RESERVED).values(status=status)).rowcount
    if not done:
        return None
    return connection.execute(select(ad_impressions).where(ad_impressions.c.impression_id == impression_id)).one()


def deliver_impression(engine: Engine, impression_id: str, now_us: int) -> bool:
    """The response carrying the impression was delivered: charge it, make it a leaf (once)."""
    with writing(engine) as connection:
        row = _claim(connection, impression_id, DELIVERED)
        if row is None:
            return False
        _locked(connection, row.campaign_id)  # the same lock order as a reservation: no deadlock
        connection.execute(update(ad_impressions).where(ad_impressions.c.impression_id == impression_id)
                           .values(time_us=now_us))
        if row.charge_nanos:
            post_entries(connection, [ad_impression_charge(new_id("adi"), datetime_of_us(now_us),
                                                           advertiser=row.advertiser_id,
                                                           amount=Money(row.charge_nanos, row.currency))])
        connection.execute(update(ad_campaigns).where(ad_campaigns.c.campaign_id == row.campaign_id)
                           .values(impressions=ad_campaigns.c.impressions + 1))
    return True


def _release(connection: Connection, impression_id: str, now_us: int) -> bool:
    row = _claim(connection, impression_id, RELEASED)
    if row is None:
        return False
    _, campaign = _locked(connection, row.campaign_id)  # the same lock order as a reservation: no deadlock
    if row.charge_nanos:
        post_entries(connection, [ad_release(new_id("adl"), datetime_of_us(now_us), advertiser=row.advertiser_id,
                                             amount=Money(row.charge_nanos, row.currency))])
        _spend(connection, campaign, utc_day(row.time_us), -row.charge_nanos)
    return True


def release_impression(engine: Engine, impression_id: str, now_us: int) -> bool:
    """The response carrying the impression was not delivered: give its charge back (once)."""
    with writing(engine) as connection:
        return _release(connection, impression_id, now_us)


def sweep_reservations(engine: Engine, older_than_us: int, now_us: int) -> int:
    """Release reservations made before `older_than_us` (their worker died or lost them)."""
    with engine.connect() as connection:
        stale = list(connection.execute(select(ad_impressions.c.impression_id).where(
            ad_impressions.c.status == RESERVED, ad_impressions.c.time_us < older_than_us)
            .order_by(ad_impressions.c.time_us).limit(SWEEP_BATCH_MAX)).scalars())
    released = 0
    for impression_id in stale:
        released += release_impression(engine, impression_id, now_us)
    return released


# --- clicks ----------------------------------------------------------------------------------

def _burst(connection: Connection, network: str, now_us: int, rule: BurstRule) -> bool:
    row = connection.execute(select(ad_click_windows).where(ad_click_windows.c.network_key == network)
                             .with_for_update()).first()
    counter = WindowCounter(row.window_start_us, row.current, row.previous) if row else WindowCounter()
    burst, after = count_click(counter, now_us, rule)
    values = {"window_start_us": after.window_start_us, "current": after.current, "previous": after.previous}
    if row is None:
        connection.execute(insert(ad_click_windows).values(network_key=network, **values))
    else:
        connection.execute(update(ad_click_windows).where(ad_click_windows.c.network_key == network).values(values))
    return burst


def record_click(engine: Engine, claim: ClickClaim, now_us: int, network: str, rule: BurstRule) -> tuple[ClickVerdict, str] | None:
    """Judge and record a click with a valid token; (verdict, the campaign's landing URL), or
    None when the token names no delivered impression of this host (nothing recorded)."""
    with writing(engine) as connection:
        impression = connection.execute(select(ad_impressions).where(
            ad_impressions.c.impression_id == claim.impression_id,
            ad_impressions.c.campaign_id == claim.campaign_id)).first()
        if impression is None or impression.status != DELIVERED:
            return None
        advertiser, row = _locked(connection, impression.campaign_id)
        burst = _burst(connection, network, now_us, rule)
        day = utc_day(now_us)
        room = _room(row, campaign_state(row, day), available_credit(connection, advertiser.advertiser_id,
                                                                      impression.currency))
        cpc = impression.price_nanos if impression.bid_kind == BID_CPC else None
        verdict = judge_click(claim, now_us, bool(impression.click_used), burst, cpc, room)
        genuine = verdict.outcome in GENUINE_CLICKS
        if genuine:
            connection.execute(update(ad_impressions).where(ad_impressions.c.impression_id == impression.impression_id)
                               .values(click_used=True))
        if verdict.charged:
            post_entries(connection, [ad_click_charge(new_id("adc"), datetime_of_us(now_us),
                                                      advertiser=advertiser.advertiser_id,
                                                      amount=Money(verdict.charge_nanos, impression.currency))])
        if verdict.charged or genuine:
            _spend(connection, row, day, verdict.charge_nanos, clicked=int(genuine))
        connection.execute(insert(ad_clicks).values(
            click_id=new_id("clk"), impression_id=impression.impression_id, campaign_id=impression.campaign_id,
            advertiser_id=advertiser.advertiser_id, model=impression.model, time_us=now_us, outcome=verdict.outcome,
            charge_nanos=verdict.charge_nanos, currency=impression.currency))
        return verdict, campaign_of(row).url



@dataclass(frozen=True, slots=True)
class LiveState:
    """What an auction reads of its candidates now (see `revstream.ads.AuctionInput`)."""

    states: dict[str, CampaignState]
    credit_nanos: dict[str, int]
    shown_in_conversation: dict[str, int]


def live_state(engine: Engine, campaign_ids, conversation_key: str, day: str, currency: str) -> LiveState:
    """The candidates' spend, their advertisers' credit and this conversation's impressions."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return LiveState({}, {}, {})
    with engine.connect() as connection:
        rows = connection.execute(select(ad_campaigns).where(ad_campaigns.c.campaign_id.in_(ids))).all()
        states = {row.campaign_id: campaign_state(row, day) for row in rows}
        credit = {advertiser_id: available_credit(connection, advertiser_id, currency)
                  for advertiser_id in sorted({row.advertiser_id for row in rows})}
        shown: dict[str, int] = {}
        for campaign_id in connection.execute(select(ad_impressions.c.campaign_id).where(
                ad_impressions.c.conversation_key == conversation_key, ad_impressions.c.campaign_id.in_(ids),
                ad_impressions.c.status != RELEASED)).scalars():
            shown[campaign_id] = shown.get(campaign_id, 0) + 1
    return LiveState(states, credit, shown)
