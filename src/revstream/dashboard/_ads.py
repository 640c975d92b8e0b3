"""The dashboard's advertiser view (issue 13): an advertiser's token (`revstream advertisers
token NAME`) sees its own campaigns and their delivery per day: impressions, genuine clicks,
refused clicks, spend and click-through rate. Aggregates only: nothing about any person.

`GET /dashboard/api/advertiser/delivery?period=YYYY-MM` (default: the current UTC month).
"""

from __future__ import annotations

import asyncio
import time

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..ads import utc_day
from ..money import json_safe
from ..periods import period_bounds_us, period_of_us
from ..store import delivery_rows, load_campaigns
from ..store._ads import available_credit
from ._errors import BadRequest
from ._money import money_json
from ._viewer import ADVERTISER, require, resolve_viewer, token_of


def _rate_text(clicks: int, impressions: int) -> str | None:
    """A click-through rate as a percentage with two decimals, exact (rounded half up)."""
    if not impressions:
        return None
    hundredths = (clicks * 10_000 * 2 + impressions) // (impressions * 2)
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def _delivery(engine, advertiser_id: str, period: str, now_us: int) -> dict:
    start_us, end_us = period_bounds_us(period)
    campaigns = load_campaigns(engine, utc_day(now_us), advertiser_id)
    titles = {campaign.campaign_id: campaign.title for campaign, _ in campaigns}
    rows = [row for row in delivery_rows(engine, start_us, end_us, advertiser_id)]
    with engine.connect() as connection:
        currencies = sorted({campaign.currency for campaign, _ in campaigns})
        credit = [money_json(available_credit(connection, advertiser_id, c), c) for c in currencies]
    return {
        "period": period, "credit": credit,
        "campaigns": [{"campaign_id": c.campaign_id, "title": c.title, "status": "active" if c.active else "paused",
                       "bid": money_json(c.bid_nanos, c.currency), "bid_kind": c.bid_kind,
                       "spent": money_json(s.total_spent_nanos, c.currency), "impressions": s.impressions,
                       "clicks": s.clicks, "ctr": _rate_text(s.clicks, s.impressions)} for c, s in campaigns],
        "days": [{"campaign_id": r.campaign_id, "title": titles.get(r.campaign_id, r.campaign_id), "day": r.day,
                  "impressions": r.impressions, "clicks": r.clicks, "refused_clicks": r.refused_clicks,
                  "spend": money_json(r.spend_nanos, r.currency), "ctr": _rate_text(r.clicks, r.impressions)}
                 for r in rows],
    }


async def advertiser_delivery(request: Request) -> Response:
    engine = request.app.state.revstream.engine
    viewer = require(await asyncio.to_thread(resolve_viewer, engine, token_of(request.headers)), ADVERTISER)
    now_us = time.time_ns() // 1000
    period = request.query_params.get("period") or period_of_us(now_us)
    try:
        period_bounds_us(period)
    except ValueError:
        raise BadRequest(f"'period' must be a month YYYY-MM, got {period!r}", "period") from None
    value = await asyncio.to_thread(_delivery, engine, viewer.subject_id, period, now_us)
    return Response(orjson.dumps(json_safe(value)), media_type="application/json", headers={"cache-control": "no-store"})


def ads_routes(api: str) -> list[Route]:
    return [Route(f"{api}/advertiser/delivery", advertiser_delivery, methods=["GET"])]
