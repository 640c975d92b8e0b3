"""The ad stream's commands (issue 13): advertisers, campaigns, `ads report` and the age band
of an API key. Prepaid ad credit is `revstream credit add --advertiser` (see `_money`)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from ..ads import AGE_BANDS, BID_CPC, BID_CPM, AdsError, load_taxonomy, utc_day
from ..money import format_display, parse_amount, validate_currency
from ..periods import day_us
from ..store import (
    add_advertiser,
    add_advertiser_credit,
    add_campaign,
    ads_report,
    load_campaigns,
    new_advertiser_token,
    set_campaign_active,
    set_key_age_band,
)
from ..store._ads import advertiser_row, campaign_terms
from ._output import JSON_HELP, fail, print_json, print_table
from ._settlement import _day

COMMANDS = ("advertisers", "campaigns", "ads")
READ_ONLY = frozenset({("campaigns", "list"), ("ads", "report")})


def add_parsers(commands) -> None:
    advertisers = commands.add_parser("advertisers", help="advertisers of the ad-supported tier") \
        .add_subparsers(dest="action", required=True)
    add = advertisers.add_parser("add", help="add an advertiser")
    add.add_argument("name", help="the advertiser's name, shown beside its ads")
    add.add_argument("--legal-name", help="the legal name of who pays (shown as `paid_by`; default: the name)")
    add.add_argument("--json", action="store_true", help=JSON_HELP)
    token = advertisers.add_parser("token", help="a new token for the advertiser's dashboard view (printed once)")
    token.add_argument("name", help="the advertiser's name")
    token.add_argument("--json", action="store_true", help=JSON_HELP)

    campaigns = commands.add_parser("campaigns", help="ad campaigns (contextual targeting only)") \
        .add_subparsers(dest="action", required=True)
    new = campaigns.add_parser("add", help="add a campaign")
    new.add_argument("--advertiser", required=True, help="the advertiser's name")
    new.add_argument("--title", required=True, help="the ad's title (at most 80 characters)")
    new.add_argument("--text", required=True, help="the ad's text (at most 300 characters)")
    new.add_argument("--url", required=True, help="the landing page, an absolute http(s) URL")
    bid = new.add_mutually_exclusive_group(required=True)
    bid.add_argument("--bid-cpm", help="bid per 1,000 impressions, a decimal amount, e.g. 2.00")
    bid.add_argument("--bid-cpc", help="bid per click, a decimal amount, e.g. 0.30")
    new.add_argument("--keywords", default="", help="comma-separated keywords or phrases of the conversation")
    new.add_argument("--categories", default="", help="comma-separated category ids of the shipped taxonomy")
    new.add_argument("--daily-budget", help="most the campaign spends per UTC day (paced over the day)")
    new.add_argument("--budget", help="most the campaign spends in total")
    new.add_argument("--from", dest="starts", help="first day it runs, YYYY-MM-DD (UTC; default: now)")
    new.add_argument("--to", dest="ends", help="last day it runs, YYYY-MM-DD (UTC, inclusive)")
    new.add_argument("--countries", default="", help="comma-separated ISO 3166 country codes (default: anywhere)")
    new.add_argument("--frequency-cap", type=int, help="most impressions per conversation")
    new.add_argument("--currency", default="USD", help="ISO 4217 currency of bids and budgets (default: USD)")
    new.add_argument("--json", action="store_true", help=JSON_HELP)
    listing = campaigns.add_parser("list", help="campaigns with their spend and delivery")
    listing.add_argument("--advertiser", help="only this advertiser's campaigns")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    for action, text in (("pause", "stop a campaign from being shown"), ("resume", "show a paused campaign again")):
        parser = campaigns.add_parser(action, help=text)
        parser.add_argument("campaign_id", metavar="ID", help="the campaign's id")
        parser.add_argument("--json", action="store_true", help=JSON_HELP)

    ads = commands.add_parser("ads", help="the ad stream's reports and settings").add_subparsers(dest="action", required=True)
    report = ads.add_parser("report", help="delivery, clicks, spend and CTR per campaign and day")
    report.add_argument("--period", required=True, help="the month, YYYY-MM (UTC)")
    report.add_argument("--advertiser", help="only this advertiser")
    report.add_argument("--json", action="store_true", help=JSON_HELP)
    band = ads.add_parser("age-band", help="the default age band of an API key's end users")
    band.add_argument("--key", dest="key_id", required=True, help="the key id (see `revstream keys list`)")
    band.add_argument("--band", required=True, choices=AGE_BANDS, help="the band its requests get by default")
    band.add_argument("--json", action="store_true", help=JSON_HELP)


def handles(args) -> bool:
    return args.command in COMMANDS


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _amount(text: str | None, currency: str) -> int | None:
    return None if text is None else parse_amount(text, currency)


def run(args, engine) -> int:
    now_us = time.time_ns() // 1000
    try:
        handler = {("advertisers", "add"): _advertiser_add, ("advertisers", "token"): _advertiser_token,
                   ("campaigns", "add"): _campaign_add, ("campaigns", "list"): _campaign_list,
                   ("campaigns", "pause"): _campaign_pause, ("campaigns", "resume"): _campaign_pause,
                   ("ads", "report"): _report, ("ads", "age-band"): _age_band}[(args.command, args.action)]
        return handler(args, engine, now_us)
    except AdsError as error:
        return fail(str(error), 2)


def _emit(args, value, text: str) -> int:
    print_json(value) if args.json else print(text)
    return 0


def _advertiser_add(args, engine, now_us) -> int:
    row = add_advertiser(engine, args.name, args.legal_name, now_us)
    return _emit(args, {"advertiser_id": row.advertiser_id, "name": row.name, "legal_name": row.legal_name},
                 f"advertiser {row.name} ({row.advertiser_id}); paid by {row.payer}")


def _advertiser_token(args, engine, now_us) -> int:
    token = new_advertiser_token(engine, args.name)
    return _emit(args, {"advertiser": args.name, "token": token},
                 f"{token}\n\nthe dashboard token of {args.name}: shown once; the previous one no longer works.")


def credit_add(args, engine, now_us) -> int:
    """`revstream credit add --advertiser NAME`: prepaid ad credit."""
    currency = validate_currency(args.currency)
    amount = parse_amount(args.amount, currency)
    entry_id, available = add_advertiser_credit(engine, args.advertiser, amount, currency, now_us)
    return _emit(args, {"entry_id": entry_id, "advertiser": args.advertiser, "currency": currency,
                        "available_nanos": available},
                 f"added {format_display(amount, currency)}; {args.advertiser} has "
                 f"{format_display(available, currency, exact=True)} of ad credit")


def _campaign_add(args, engine, now_us) -> int:
    currency = validate_currency(args.currency)
    starts, ends = _day(args.starts, "--from"), _day(args.ends, "--to")
    kind, bid = (BID_CPM, args.bid_cpm) if args.bid_cpm is not None else (BID_CPC, args.bid_cpc)
    campaign = add_campaign(
        engine, args.advertiser, load_taxonomy(), now_us, title=args.title, text=args.text, url=args.url,
        currency=currency, bid_kind=kind, bid_nanos=parse_amount(bid, currency), keywords=_list(args.keywords),
        categories=_list(args.categories), daily_budget_nanos=_amount(args.daily_budget, currency),
        total_budget_nanos=_amount(args.budget, currency), starts_us=day_us(starts) if starts else 0,
        ends_us=day_us(ends + timedelta(days=1)) if ends else None, countries=_list(args.countries.upper()),
        frequency_cap=args.frequency_cap)
    return _emit(args, _campaign_json(campaign, None), f"campaign {campaign.campaign_id} of {campaign.advertiser}")


def _campaign_json(campaign, state) -> dict:
    value = json.loads(campaign_terms(campaign))
    for name in ("bid_nanos", "daily_budget_nanos", "total_budget_nanos"):
        value[name] = None if value[name] is None else int(value[name])
    if state is not None:
        value.update(spent_nanos=state.total_spent_nanos, today_spent_nanos=state.today_spent_nanos,
                     impressions=state.impressions, clicks=state.clicks)
    return value


def _campaign_list(args, engine, now_us) -> int:
    advertiser_id = None
    if args.advertiser:
        with engine.connect() as connection:
            advertiser_id = advertiser_row(connection, args.advertiser).advertiser_id
    rows = [_campaign_json(c, s) for c, s in load_campaigns(engine, utc_day(now_us), advertiser_id)]
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        row["bid"] = f"{format_display(row['bid_nanos'], row['currency'], exact=True)} {row['bid_kind']}"
        row["spent"] = format_display(row["spent_nanos"], row["currency"], exact=True)
        row["status"] = "active" if row["active"] else "paused"
    print_table(rows, ("campaign_id", "advertiser", "title", "bid", "spent", "impressions", "clicks", "status"))
    return 0


def _campaign_pause(args, engine, now_us) -> int:
    campaign = set_campaign_active(engine, args.campaign_id, args.action == "resume")
    state = "active" if campaign.active else "paused"
    return _emit(args, _campaign_json(campaign, None), f"campaign {campaign.campaign_id} is {state}")


def _report(args, engine, now_us) -> int:
    report = ads_report(engine, args.period, args.advertiser)
    if args.json:
        print_json(report)
        return 0
    rows = [{**row, "spend": format_display(int(row["spend_nanos"]), row["currency"], exact=True)}
            for row in report["rows"]]
    print_table(rows, ("campaign_id", "day", "impressions", "clicks", "refused_clicks", "ctr", "spend"))
    return 0


def _age_band(args, engine, now_us) -> int:
    set_key_age_band(engine, args.key_id, args.band)
    return _emit(args, {"key_id": args.key_id, "age_band": args.band}, f"key {args.key_id}: age band {args.band}")
