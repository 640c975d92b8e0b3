"""The dashboard over HTTP: the page, its static files, and the JSON API under
`/dashboard/api/` that the page calls with `Authorization: Bearer <token>`.

Each endpoint reads through `revstream.store` in a worker thread and answers JSON with
money already formatted (see `_views`). `dashboard_routes()` is what the gateway mounts.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Final

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..metering import balance_json, rfc3339
from ..money import json_safe
from ..store import (
    NotFound as StoreNotFound,
    customer_accounts,
    customer_balance,
    get_statement,
    latest_checkpoint,
    open_periods,
    preview_statements,
    statements_of,
    top_customers,
    usage_by_day,
    verification_states,
)
from ._console import console, has_console  # issue 17
from ._errors import BadRequest, NotFound
from ._licence import licence_routes  # licence (issue 15)
from ._rights import rights_routes  # recitation (issue 16): the holder's view
from ._messaging import messaging_routes  # messaging (issue 14)
from ._ads import ads_routes  # ads (issue 13)
from ._statement_files import statement_csv, statement_markdown
from ._viewer import CUSTOMER, HOST, LICENSOR, Viewer, require, resolve_viewer, token_of
from ..store._dashboard import fee_revenue
from ._views import (
    ViewError,
    accounts_json,
    bucket_starts,
    checkpoint_json,
    day_of,
    fees_inside,
    licensors_owed,
    money_json,
    next_bucket,
    share_trend,
    statement_json_summary,
    streams_table,
    top_customers_json,
    usage_series,
)

STATIC_DIRECTORY: Final = Path(__file__).resolve().parent / "static"
MICROSECONDS_PER_DAY: Final = 86_400_000_000
TOP_CUSTOMERS_DEFAULT: Final = 10
# Unsettled periods whose statements are previewed (each a settlement computation); any
# older ones are still listed, as not previewed.
PREVIEW_PERIODS_MAX: Final = 120
# Dates a chart may ask for: usage times count from the Unix epoch, and the bucket after the
# last one (up to a month later) must still be a date Python can hold (year 9999 at most).
DATE_PARAM_MIN: Final = date(1970, 1, 1)
DATE_PARAM_MAX: Final = date(9998, 12, 31)
# The page loads only what this server serves: no CDN, no inline script.
PAGE_HEADERS: Final = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
_DOWNLOADS: Final = {"json": "application/json", "csv": "text/csv; charset=utf-8", "md": "text/markdown; charset=utf-8"}


def _engine(request: Request):
    return request.app.state.revstream.engine


def _json(value, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(json_safe(value)), status, media_type="application/json",
                    headers={"cache-control": "no-store", **(headers or {})})


async def _viewer(request: Request, *views: str) -> Viewer:
    viewer = await asyncio.to_thread(resolve_viewer, _engine(request), token_of(request.headers))
    return require(viewer, *views) if views else viewer


def _day_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        moment = date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"'{name}' must be a date YYYY-MM-DD, got {value!r}", name) from None
    if not DATE_PARAM_MIN <= moment <= DATE_PARAM_MAX:
        raise BadRequest(f"'{name}' must be a date from {DATE_PARAM_MIN} to {DATE_PARAM_MAX}, got {value!r}", name)
    return day_of(moment)


def _window(request: Request) -> tuple[str, list[int]]:
    bucket = request.query_params.get("bucket", "day")
    today = day_of(datetime.now(timezone.utc).date())
    until = _day_param(request, "until")
    try:
        return bucket, bucket_starts(bucket, _day_param(request, "since"), today if until is None else until)
    except ViewError as error:
        raise BadRequest(str(error), error.param) from error


def _window_us(bucket: str, starts: list[int]) -> tuple[int, int]:
    return starts[0] * MICROSECONDS_PER_DAY, next_bucket(starts[-1], bucket) * MICROSECONDS_PER_DAY


def _window_json(bucket: str, starts: list[int]) -> dict:
    since_us, until_us = _window_us(bucket, starts)
    return {"since": rfc3339(since_us), "before": rfc3339(until_us)}


# --- everyone -------------------------------------------------------------------------

async def page(request: Request) -> Response:
    return FileResponse(STATIC_DIRECTORY / "index.html", headers=PAGE_HEADERS)


def _now_us() -> int:
    return time.time_ns() // 1000


def _host_config(request: Request):
    return request.app.state.revstream.config.host


async def me(request: Request) -> Response:
    viewer = await _viewer(request)
    name = viewer.name
    if viewer.view == HOST and _host_config(request).legal_name:
        name = _host_config(request).legal_name
    # issue 17: a licensor's own install following hosts shows its console to the admin token
    console = viewer.view == HOST and await asyncio.to_thread(has_console, _engine(request))
    return _json({"view": viewer.view, "name": name, **({"console": True} if console else {})})


# --- host -----------------------------------------------------------------------------

def _usage_and_fees(engine, since_us: int, until_us: int, customer_id: str | None = None):
    return (usage_by_day(engine, since_us, until_us, customer_id),
            fee_revenue(engine, since_us, until_us, _now_us(), customer_id))


async def host_usage(request: Request) -> Response:
    await _viewer(request, HOST)
    bucket, starts = _window(request)
    window_us = _window_us(bucket, starts)
    rows, fees = await asyncio.to_thread(_usage_and_fees, _engine(request), *window_us)
    costs = request.app.state.revstream.config.costs
    return _json({**usage_series(rows, bucket, starts, by_stream=True, fees=fees), "window": _window_json(bucket, starts),
                  "streams": streams_table(rows, costs, fees_inside(fees, *window_us)),
                  "costs_configured": costs.configured})


def _customers(engine, since_us: int, until_us: int, limit: int) -> dict:
    fees = fees_inside(fee_revenue(engine, since_us, until_us, _now_us()), since_us, until_us)
    spend = top_customers(engine, since_us, until_us, limit, {fee.customer_id for fee, _ in fees})
    return {"top": top_customers_json(spend, fees, limit), **accounts_json(customer_accounts(engine))}


async def host_customers(request: Request) -> Response:
    await _viewer(request, HOST)
    bucket, starts = _window(request)
    limit = request.query_params.get("limit", str(TOP_CUSTOMERS_DEFAULT))
    if not limit.isdigit() or not 0 < int(limit) <= 100:
        raise BadRequest(f"'limit' must be an integer from 1 to 100, got {limit!r}", "limit")
    value = await asyncio.to_thread(_customers, _engine(request), *_window_us(bucket, starts), int(limit))
    return _json({**value, "window": _window_json(bucket, starts)})


def _owed(engine) -> dict:
    closed = statements_of(engine)
    periods = open_periods(engine, _now_us())
    previews = [value for period in periods[:PREVIEW_PERIODS_MAX] for value in preview_statements(engine, period)]
    return licensors_owed(closed, previews, periods[PREVIEW_PERIODS_MAX:])


async def host_licensors(request: Request) -> Response:
    await _viewer(request, HOST)
    return _json(await asyncio.to_thread(_owed, _engine(request)))


async def host_checkpoint(request: Request) -> Response:
    await _viewer(request, HOST)
    stored = await asyncio.to_thread(latest_checkpoint, _engine(request))
    return _json({"checkpoint": checkpoint_json(stored)})


async def host_profile(request: Request) -> Response:
    """The host as its invoices name it (the config's [host] section)."""
    await _viewer(request, HOST)
    host = _host_config(request)
    return _json({"configured": host.configured, "legal_name": host.legal_name, "address": list(host.address),
                  "tax_id": host.tax_id, "contact": host.contact})


# --- statements (host: all; licensor: its own) ------------------------------------------

def _statement_values(engine, licensor_id: str | None) -> list[dict]:
    values = [stored.json() for stored in statements_of(engine, licensor_id)]
    states = verification_states(engine, [value["statement"] for value in values])
    return [{**statement_json_summary(value, states[value["statement"]]),
             "downloads": {kind: f"/dashboard/api/statements/{value['statement']}?format={kind}" for kind in _DOWNLOADS}}
            for value in values]


async def statements(request: Request) -> Response:
    viewer = await _viewer(request, HOST, LICENSOR)
    values = await asyncio.to_thread(_statement_values, _engine(request), viewer.subject_id)
    return _json({"statements": values})


async def statement_download(request: Request) -> Response:
    viewer = await _viewer(request, HOST, LICENSOR)
    statement_id = request.path_params["statement_id"]
    kind = request.query_params.get("format", "json")
    if kind not in _DOWNLOADS:
        raise BadRequest(f"'format' must be one of {', '.join(_DOWNLOADS)}, got {kind!r}", "format")
    try:
        stored = await asyncio.to_thread(get_statement, _engine(request), statement_id)
    except StoreNotFound:
        stored = None
    if stored is None or (viewer.view == LICENSOR and stored.licensor_id != viewer.subject_id):
        raise NotFound(f"no statement {statement_id} for this token", "statement_id")
    body = stored.body if kind == "json" else (statement_csv if kind == "csv" else statement_markdown)(stored.json())
    disposition = f'attachment; filename="{stored.statement_id}.{kind}"'
    return Response(body, media_type=_DOWNLOADS[kind],
                    headers={"content-disposition": disposition, "cache-control": "no-store"})


# --- licensor -------------------------------------------------------------------------

async def licensor_trend(request: Request) -> Response:
    viewer = await _viewer(request, LICENSOR)
    stored = await asyncio.to_thread(statements_of, _engine(request), viewer.subject_id)
    return _json(share_trend([s.json() for s in stored]))


# --- customer -------------------------------------------------------------------------

async def customer_usage(request: Request) -> Response:
    viewer = await _viewer(request, CUSTOMER)
    bucket, starts = _window(request)
    rows, fees = await asyncio.to_thread(_usage_and_fees, _engine(request), *_window_us(bucket, starts),
                                         viewer.subject_id)
    series = usage_series(rows, bucket, starts, by_stream=False, fees=fees, fee_label=lambda fee: fee.label)
    return _json({**series, "window": _window_json(bucket, starts)})


async def customer_balance_view(request: Request) -> Response:
    viewer = await _viewer(request, CUSTOMER)
    balance = await asyncio.to_thread(customer_balance, _engine(request), viewer.name)
    value = balance_json(balance)
    currency = balance.currency
    if currency is not None:
        for name in ("available", "reserved", "spent", "credit_limit"):
            nanos = value[f"{name}_nanos"]
            value[name] = None if nanos is None else money_json(nanos, currency)
    return _json(value)


async def unknown(request: Request) -> Response:
    raise NotFound(f"no dashboard endpoint {request.url.path}")


def dashboard_routes() -> list[BaseRoute]:
    """The routes the gateway mounts: the page at /dashboard, the API under /dashboard/api."""
    api = "/dashboard/api"
    return [
        Route("/dashboard", page, methods=["GET"]),
        Route("/dashboard/", page, methods=["GET"]),
        Mount("/dashboard/static", app=StaticFiles(directory=STATIC_DIRECTORY), name="dashboard-static"),
        Route(f"{api}/me", me, methods=["GET"]),
        Route(f"{api}/host/usage", host_usage, methods=["GET"]),
        Route(f"{api}/host/customers", host_customers, methods=["GET"]),
        Route(f"{api}/host/licensors", host_licensors, methods=["GET"]),
        Route(f"{api}/host/checkpoint", host_checkpoint, methods=["GET"]),
        Route(f"{api}/host/profile", host_profile, methods=["GET"]),
        Route(f"{api}/statements", statements, methods=["GET"]),
        Route(f"{api}/statements/{{statement_id}}", statement_download, methods=["GET"]),
        Route(f"{api}/licensor/trend", licensor_trend, methods=["GET"]),
        Route(f"{api}/customer/usage", customer_usage, methods=["GET"]),
        Route(f"{api}/customer/balance", customer_balance_view, methods=["GET"]),
        *licence_routes(api),  # licence (issue 15): status panel, "Built with Llama" footer
        *messaging_routes(api),  # messaging (issue 14): fees, costs and margin of the month's messages
        *ads_routes(api),  # ads (issue 13): the advertiser view
        Route(f"{api}/console", console, methods=["GET"]),  # issue 17: the licensor console
        *rights_routes(api),  # recitation (issue 16): a rights holder's works and events
        Route(f"{api}/{{rest:path}}", unknown),
    ]
