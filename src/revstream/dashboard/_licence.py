"""The dashboard's licence panel (issue 15): where the host stands against its licence.

`GET /dashboard/api/licence/status` (admin token or licensor token): monthly active users by
month against the threshold, acceptable-use counts by hazard category, where the attribution
is shown: the JSON `revstream licence status --json` prints, from the same store.
`GET /dashboard/api/licence/attribution` (no token): the attribution texts the served models'
licences ask for ("Built with Llama"), which every page of the dashboard shows in its footer.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..licence import attribution_state, status_report
from ..money import json_safe
from ..store import licence_status
from ._viewer import HOST, LICENSOR, require, resolve_viewer, token_of


def _json(value) -> Response:
    return Response(orjson.dumps(json_safe(value)), media_type="application/json",
                    headers={"cache-control": "no-store"})


async def licence_status_view(request: Request) -> Response:
    state = request.app.state.revstream
    viewer = await asyncio.to_thread(resolve_viewer, state.engine, token_of(request.headers))
    require(viewer, HOST, LICENSOR)
    months = await asyncio.to_thread(licence_status, state.engine)
    runtime = state.licence
    return _json(status_report(months, runtime.threshold, runtime.models, runtime.settings.attribution_url))


async def licence_attribution(request: Request) -> Response:
    runtime = request.app.state.revstream.licence
    return _json({"attribution": attribution_state(runtime.models, runtime.settings.attribution_url)})


def licence_routes(api: str) -> list[Route]:
    return [
        Route(f"{api}/licence/status", licence_status_view, methods=["GET"]),
        Route(f"{api}/licence/attribution", licence_attribution, methods=["GET"]),
    ]
