"""The dashboard's rights view (issue 16): a rights holder's works and what the guard did with
them.

`GET /dashboard/api/holder/rights` (a holder's token; the admin token sees every holder's):
the works registered (title, mode, limit, windows; removed ones too), the events per work and
action, and the latest events (window hash, request id, model, action, time, log index and the
period that settled them). The same figures as `GET /rights/events`, from the same store.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..metering import rfc3339
from ..store import holder_events, list_works, work_event_counts
from ._viewer import HOLDER, HOST, require, resolve_viewer, token_of

EVENTS_SHOWN_MAX = 100
"""The latest events the view lists."""


def _rights(engine, holder_id: str | None) -> dict:
    counts = work_event_counts(engine, holder_id)
    works = [{"work_id": w.work_id, "title": w.title, "holder": w.holder, "mode": w.mode,
              "limit_words": w.limit_words, "windows": w.windows, "registered": rfc3339(w.created_us),
              "removed": rfc3339(w.removed_us), "blocked": counts.get(w.work_id, {}).get("block", 0),
              "cited": counts.get(w.work_id, {}).get("cite", 0)}
             for w in list_works(engine, include_removed=True, holder_id=holder_id)]
    events = holder_events(engine, holder_id, limit=EVENTS_SHOWN_MAX, newest_first=True)
    for event in events:
        event["time"] = rfc3339(event.pop("time_us"))
    return {"works": works, "events": events}


async def holder_rights(request: Request) -> Response:
    state = request.app.state.revstream
    viewer = await asyncio.to_thread(resolve_viewer, state.engine, token_of(request.headers))
    require(viewer, HOLDER, HOST)
    body = await asyncio.to_thread(_rights, state.engine, viewer.subject_id if viewer.view == HOLDER else None)
    return Response(orjson.dumps(body), media_type="application/json", headers={"cache-control": "no-store"})


def rights_routes(api: str) -> list[Route]:
    return [Route(f"{api}/holder/rights", holder_rights, methods=["GET"])]
