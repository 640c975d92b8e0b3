"""The recitation guard in the gateway (issue 16): every completion, streamed or not, passes
through `revstream.recitation.Guard` as the model generates it.

`generate(call)` is the backend's event stream, wrapped when the registry holds works:

* each text delta goes through the guard, and only what it releases goes on (it holds back
  the segment being formed, so nothing sent can complete a window it has not checked);
* a `block` work recited past its limit stops the generation there: the backend is closed,
  the tokens generated so far are counted (billed as usual) and the stream ends with a
  `Finish` whose reason is `content_filter` and which carries the `recitation` object;
* a `cite` work lets the text flow; the `Finish` carries the citation.

Each work found is one event, put on the call (`Call.rows`): the usage writer inserts it in
the transaction that finalizes the response's usage record, however the call ends. With no
work registered, `generate` is the backend's stream itself: nothing is added per request.

`RecitationRuntime` holds the catalog the guard reads: the index segments mapped from the
host's index directory and the works in force from the store, reloaded when the index's
manifest changes (`works add` and `works remove` always change it).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import AsyncIterator

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..backends import Event, Finish, TextDelta
from ..config._recitation import RecitationSettings, recitation_settings
from ..recitation import (
    MODE_BLOCK,
    Catalog,
    Emit,
    Guard,
    IndexDirectory,
    recitation_event,
    recitation_object,
)
from ..recitation._directory import MANIFEST_NAME
from ..store import (
    event_rows,
    find_holder_by_token,
    fingerprint_key,
    holder_events,
    index_directory,
    work_event_counts,
    works_in_force,
)
from ._call import Call
from ._errors import ApiError

log = logging.getLogger("revstream.gateway")
RELOAD_INTERVAL_S = 0.5
"""How often a worker looks at the index's manifest for added or removed works."""
CONTENT_FILTER = "content_filter"


@dataclass(frozen=True, slots=True)
class GuardedFinish(Finish):
    """The end of a guarded generation: the backend's `Finish`, or `content_filter` when the
    guard stopped it, with the response's `recitation` object (None when nothing was found)."""

    recitation: dict | None = None


class RecitationRuntime:
    """The catalog one worker's guard reads, kept in step with the index directory."""

    def __init__(self, settings: RecitationSettings, engine: Engine, directory: IndexDirectory) -> None:
        self.settings = settings
        self.engine = engine
        self.directory = directory
        self.key = fingerprint_key(engine)
        self.catalog: Catalog | None = None
        self._stamp: tuple | None = None

    def _manifest_stamp(self) -> tuple:
        status = os.stat(self.directory.path / MANIFEST_NAME)
        return (status.st_ino, status.st_mtime_ns, status.st_size)

    def reload(self) -> bool:
        """Reload if the index changed since the last load; True if it did (blocking: a thread's job)."""
        stamp = self._manifest_stamp()
        if stamp == self._stamp:
            return False
        works = works_in_force(self.engine, self.settings.limit_words)
        indexes = self.directory.load() if works else ()
        self.catalog = Catalog(self.key, indexes, works) if works and indexes else None
        self._stamp = stamp
        return True

    @property
    def works(self) -> int:
        return len(self.catalog.works) if self.catalog is not None else 0

    def metrics_text(self) -> bytes:
        """The works this worker's guard checks (a registration is in force once it shows here)."""
        return ("# HELP revstream_recitation_works Registered works this worker's recitation guard checks\n"
                "# TYPE revstream_recitation_works gauge\n"
                f"revstream_recitation_works {self.works}\n").encode()


async def build_recitation_runtime(config, engine: Engine) -> RecitationRuntime | None:
    """The worker's runtime, loaded; None when `[recitation] enabled = false`."""
    settings = recitation_settings(config)
    if not settings.enabled:
        return None
    directory = await asyncio.to_thread(index_directory, engine, settings.index_dir)
    runtime = RecitationRuntime(settings, engine, directory)
    await asyncio.to_thread(runtime.reload)
    return runtime


async def run_recitation_reloader(runtime: RecitationRuntime | None, stop: asyncio.Event) -> None:
    """Reload the catalog whenever the index's manifest changes, until `stop`."""
    while runtime is not None and not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), RELOAD_INTERVAL_S)
        except TimeoutError:
            pass
        try:
            if await asyncio.to_thread(runtime.reload):
                log.info("recitation registry reloaded: %d works", runtime.works)
        except Exception as error:  # a half-written index is read again next time
            log.warning("reloading the recitation registry failed: %s", error)


def generate(call: Call) -> AsyncIterator[Event]:
    """The backend's events for this call, through the guard when any work is registered."""
    events = call.served.backend.execute(call.prepared, call.meter)
    runtime: RecitationRuntime | None = getattr(call.state, "recitation", None)
    catalog = runtime.catalog if runtime is not None else None
    return events if catalog is None else _guarded(call, events, Guard(catalog))


async def _guarded(call: Call, events: AsyncIterator[Event], guard: Guard) -> AsyncIterator[Event]:
    try:
        async for event in events:
            emit = guard.feed(event.text) if isinstance(event, TextDelta) else guard.finish()
            _record(call, emit)
            if emit.text:
                yield TextDelta(emit.text)
            if emit.stop is not None:
                if isinstance(event, Finish):
                    counts = event
                else:
                    await events.aclose()  # the model stops here; what it generated is billed
                    counts = await call._counted()
                yield GuardedFinish(CONTENT_FILTER, counts.tokens_prompt, counts.tokens_completion,
                                    counts.usage_source, recitation_object(emit.stop, guard.citations))
                return
            if isinstance(event, Finish):
                yield GuardedFinish(event.reason, event.tokens_prompt, event.tokens_completion, event.usage_source,
                                    recitation_object(None, guard.citations))
                return
    finally:
        await events.aclose()


def _record(call: Call, emit: Emit) -> None:
    """The works found in this step, as events written with the usage record."""
    hits = (*emit.citations, *((emit.stop,) if emit.stop is not None else ()))
    if not hits:
        return
    now_us = call.state.clock()
    model = call.served.config.name
    call.rows.extend(event_rows(recitation_event(hit, call.request_id, now_us, model) for hit in hits))
    if emit.stop is not None and emit.stop.action == MODE_BLOCK:
        log.info("request %s stopped: it recited work %s", call.request_id, emit.stop.work.work_id)


# --- GET /rights/events?period=YYYY-MM&after=CURSOR: a holder reads its works' events --------

RIGHTS_EVENTS_PAGE = 1_000
"""Events one page of GET /rights/events carries; `next` names the cursor of the following page."""


async def rights_events(request: Request) -> JSONResponse:
    state = request.app.state.revstream
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    holder_id = await asyncio.to_thread(find_holder_by_token, state.engine, token) if token else None
    if holder_id is None:
        raise ApiError(401, "a rights holder's token is required (Authorization: Bearer rshold-...; "
                       "`revstream holders token NAME` makes one)", "invalid_request_error", "invalid_holder_token")
    period = request.query_params.get("period")
    if period is not None and not _is_period(period):
        raise ApiError(400, "period is a calendar month, YYYY-MM", "invalid_request_error", "invalid_period", "period")
    after = _cursor(request.query_params.get("after"))
    events = await asyncio.to_thread(holder_events, state.engine, holder_id, period, after=after,
                                     limit=RIGHTS_EVENTS_PAGE)
    counts = await asyncio.to_thread(work_event_counts, state.engine, holder_id, period)
    last = events[-1] if len(events) == RIGHTS_EVENTS_PAGE else None
    return JSONResponse({
        "object": "list", "holder_id": holder_id, "period": period, "data": events,
        "next": None if last is None else f"{last['time_us']}.{last['event_id']}",
        "counts": [{"work_id": work_id, "action": action, "events": count}
                   for work_id, actions in sorted(counts.items()) for action, count in sorted(actions.items())],
    })


def _is_period(text: str) -> bool:
    return len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit() and 1 <= int(text[5:]) <= 12


def _cursor(text: str | None) -> tuple[int, str] | None:
    """The `after` parameter: the `next` of the previous page (time µs, a dot, the event id)."""
    if text is None:
        return None
    time_us, _, event_id = text.partition(".")
    if not time_us.isdigit() or len(time_us) > 19 or not event_id.startswith("rev_") or len(event_id) > 40:
        raise ApiError(400, "after is the `next` cursor of the previous page", "invalid_request_error",
                       "invalid_cursor", "after")
    return int(time_us), event_id
