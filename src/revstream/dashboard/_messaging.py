"""The dashboard's messaging panel (issue 14): a month's business messages per channel,
category and market, and per conversation: fees, platform costs and margin.

`GET /dashboard/api/messaging/report?period=YYYY-MM` (admin token; default: the month of
now): the JSON `revstream messages report --json` prints, from the same store, with each
amount also as an exact decimal string for display.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..money import format_nanos_exact, json_safe
from ..periods import Period, PeriodFormatError
from ..store import messages_report
from ._errors import BadRequest
from ._viewer import HOST, require, resolve_viewer, token_of

AMOUNTS = ("fees", "costs", "margin")


def _shown(line: dict) -> dict:
    return {**line, **{name: format_nanos_exact(line[f"{name}_nanos"], line["currency"]) for name in AMOUNTS}}


async def messaging_report_view(request: Request) -> Response:
    state = request.app.state.revstream
    viewer = await asyncio.to_thread(resolve_viewer, state.engine, token_of(request.headers))
    require(viewer, HOST)
    text = request.query_params.get("period")
    try:
        period = str(Period.parse(text)) if text else str(Period.of_us(state.clock()))
    except PeriodFormatError as error:
        raise BadRequest(f"period: {error}", "period") from error
    report = await asyncio.to_thread(messages_report, state.engine, period)
    shown = {**report, **{part: [_shown(line) for line in report[part]] for part in ("lines", "totals", "conversations")}}
    return Response(orjson.dumps(json_safe(shown)), media_type="application/json", headers={"cache-control": "no-store"})


def messaging_routes(api: str) -> list[Route]:
    return [Route(f"{api}/messaging/report", messaging_report_view, methods=["GET"])]
