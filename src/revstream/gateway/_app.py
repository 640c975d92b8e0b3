"""The ASGI application: routes, the request-id and error middleware, and the lifespan
that builds the AppState (store, usage writer, backends) and tears it down.

`create_app(config, backends=..., clock=...)` is the seam tests use: `backends` maps a model's
`backend` kind to the factory that builds it (over the registry `BACKEND_CLASSES`), `clock` is
the request path's time in µs since the Unix epoch (see `AppState.clock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import time
from collections.abc import Callable, Mapping

from sqlalchemy import exc as sql
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from ..backends import BACKEND_CLASSES, Backend, BackendError
from ..config import Config, ModelConfig, load_config
from ..dashboard import DashboardError, dashboard_routes
from ..keys import new_id
from ..ratelimit import RateLimitUnavailable, make_rate_limiter
from ..store import (
    StoreError,
    UsageWriter,
    UsageWriterClosed,
    recover_interrupted,
    forget_crashed_local_workers,
    heartbeat,
    make_engine,
    register_worker,
    unregister_worker,
)
from ._admin import admin_balance, admin_keys, admin_revoke_key, admin_usage, health, metrics
from ._auth import KeyCache
from ._errors import ApiError, from_backend, internal
from ._metrics import Metrics
from ._plan_limits import PlanLimitCache
from ._routes_v1 import chat_completions, completions, list_models, my_balance, my_usage
from ._routes_plans import my_invoice, my_invoices, my_plan
from ._state import AppState, ServedModel, system_clock_us
from ._licence import build_licence_runtime, run_licence_flusher  # licence (issue 15)
from ._recitation import build_recitation_runtime, rights_events, run_recitation_reloader  # recitation (issue 16)
from ._ads import ad_click, ads_repository, build_ads_runtime, run_ads_upkeep  # ads (issue 13)
from ._tiles import tile_routes  # p2-fleet (issue 17): the log as C2SP tlog-tiles
from ._witnessing import Witnessing
from ._messaging_routes import messaging_routes  # messaging (issue 14)
from ._transparency import (
    checkpoint,
    consistency_proof,
    entries,
    inclusion_proof,
    prefix,
    run_appender,
    statement_note,
    statements,
)

log = logging.getLogger("revstream.gateway")
HEARTBEAT_INTERVAL_S = 5.0
WORKER_LEASE_S = 30.0
# Request ids need to be unique, not secret: a PRNG seeded from the OS is enough and
# saves a system call per request.
_ids = random.Random()
METRIC_PATHS = {"/v1/chat/completions": "chat", "/v1/completions": "completion", "/v1/models": "models"}
RETRY_AFTER_S = 1
"""What a 503 for a store or Redis outage tells clients to wait before retrying."""
# The database errors that mean "cannot reach or use the database now": a lost or refused
# connection, an exhausted pool, a locked SQLite file. A retry may succeed.
STORE_OUTAGES = (sql.OperationalError, sql.InterfaceError, sql.TimeoutError, sql.DisconnectionError)
BackendFactory = Callable[[ModelConfig], Backend]


class RequestContext:
    """Pure ASGI middleware: gives every request an id (echoed as x-request-id),
    maps errors to the OpenAI error body once, and observes request metrics.

    The generation endpoints (`direct`: (path, method) -> handler) are called from here,
    not through the router: every request pays for them, and the router's layers (route
    matching, the exception middleware, the request-response wrappers and their `send`
    wrappers) added tens of microseconds of CPU to each while doing nothing for them: their
    errors are mapped here. Any other path or method (a 405 included) goes to the router."""

    def __init__(self, app, direct: Mapping[tuple[str, str], Callable] | None = None) -> None:
        self.app = app
        self.direct = dict(direct or {})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req_{_ids.getrandbits(96):024x}"
        scope["revstream.request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        started = time.monotonic()
        status_box = [500]
        response_started = False

        async def send_with_id(message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_box[0] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            handler = self.direct.get((scope["path"], scope["method"]))
            if handler is None:
                await self.app(scope, receive, send_with_id)
            else:
                response = await handler(Request(scope, receive, send_with_id))
                await response(scope, receive, send_with_id)
        except Exception as error:  # the one place unexpected errors become responses
            if response_started:
                raise
            api_error = _as_api_error(error, request_id)
            status_box[0] = api_error.status
            await api_error.response(request_id)(scope, receive, send)
        finally:
            endpoint = METRIC_PATHS.get(scope["path"])
            state = getattr(scope["app"].state, "revstream", None) if "app" in scope else None
            if endpoint and state is not None:
                model = scope.get("revstream.model", "-")
                if state.model(model) is None:
                    model = "-"
                state.metrics.observe(model, endpoint, status_box[0], time.monotonic() - started)


def _as_api_error(error: Exception, request_id: str) -> ApiError:
    if isinstance(error, ApiError):
        return error
    if isinstance(error, BackendError):
        return from_backend(error)
    if isinstance(error, DashboardError):
        return ApiError(error.status, error.message, error.error_type, error.code, error.param)
    if isinstance(error, RateLimitUnavailable):  # its message names no host (see ratelimit._redis)
        return ApiError(503, f"rate limits cannot be checked: {error}", "server_error", "rate_limiter_unavailable",
                        headers=_retry_soon())
    if isinstance(error, UsageWriterClosed):
        return ApiError(503, str(error), "server_error", "shutting_down", headers={"x-should-retry": "true"})
    if isinstance(error, STORE_OUTAGES) or (isinstance(error, sql.DBAPIError) and error.connection_invalidated):
        # The driver's text names the database's host and port: it goes to the log only.
        log.warning("request %s: the database is unavailable: %s", request_id, error)
        return ApiError(503, "the database is unavailable; retry shortly", "server_error", "store_unavailable",
                        headers=_retry_soon())
    if isinstance(error, StoreError):
        return ApiError(503, f"the store is unavailable: {error}", "server_error", "store_unavailable")
    log.exception("unhandled error in request %s", request_id)
    return internal(request_id)


def _retry_soon() -> dict[str, str]:
    return {"x-should-retry": "true", "retry-after": str(RETRY_AFTER_S)}


async def _heartbeat(state: AppState) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_INTERVAL_S)
        try:
            now = time.time_ns() // 1000
            # In the usage writer's thread: this process's writes never contend for SQLite's lock.
            await state.writer.call(heartbeat, state.engine, state.worker_id, now)
            await state.writer.call(recover_interrupted, state.engine, now, int(WORKER_LEASE_S * 1e6))
        except Exception as error:  # a store hiccup must not kill the worker
            log.warning("heartbeat failed: %s", error)


async def _build_state(
    config: Config, backends: Mapping[str, BackendFactory], clock: Callable[[], int] | None,
) -> AppState:
    engine = make_engine(config.store.database_url, config.keys_dir)
    worker_id = new_id("wrk")
    now = time.time_ns() // 1000
    await asyncio.to_thread(forget_crashed_local_workers, engine)
    await asyncio.to_thread(register_worker, engine, worker_id, now)
    await asyncio.to_thread(recover_interrupted, engine, now, int(WORKER_LEASE_S * 1e6))
    writer = UsageWriter(
        engine, config.store.batch_records_max, config.store.batch_delay_ms, config.store.queue_records_max
    )
    writer.start()
    models: dict[str, ServedModel] = {}
    for model_config in config.models:
        backend = backends[model_config.backend](model_config)
        await backend.start()
        for name in model_config.names:
            models[name] = ServedModel(model_config, backend)
    limiter = make_rate_limiter(config.store.redis_url, clock_us=clock)
    licence = await build_licence_runtime(config, engine)  # licence (issue 15)
    recitation = await build_recitation_runtime(config, engine)  # recitation (issue 16)
    return AppState(
        config=config, engine=engine, writer=writer, keys=KeyCache(engine, config.server.auth_cache_ttl_s),
        metrics=Metrics(), worker_id=worker_id, models=models, limiter=limiter,
        plan_limits=PlanLimitCache(engine, config.server.auth_cache_ttl_s), clock=clock or system_clock_us,
        licence=licence,
        recitation=recitation,  # recitation (issue 16)
    )


async def _teardown(state: AppState) -> None:
    if state.background:
        await asyncio.wait(list(state.background), timeout=15)
    await state.writer.close()
    await state.limiter.aclose()
    for backend in {id(s.backend): s.backend for s in state.models.values()}.values():
        await backend.close()
    with contextlib.suppress(Exception):
        await asyncio.to_thread(unregister_worker, state.engine, state.worker_id)
    state.engine.dispose()


def create_app(
    config: Config, *, backends: Mapping[str, BackendFactory] | None = None, clock: Callable[[], int] | None = None,
) -> Starlette:
    """The gateway for `config`. `backends` adds or replaces backend factories by kind (the
    registry `BACKEND_CLASSES` otherwise); `clock` replaces the system clock (µs since the
    epoch) on the request path and in the in-process rate limiter."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        state = await _build_state(config, {**BACKEND_CLASSES, **(backends or {})}, clock)
        app.state.revstream = state
        # Everything built so far lives as long as the worker: move it out of the cyclic
        # collector's generations, so a full collection no longer walks it (a stall of
        # tens of milliseconds every few thousand requests, seen as the p99).
        gc.collect()
        gc.freeze()
        beat = asyncio.create_task(_heartbeat(state))
        stop_appender = asyncio.Event()
        witnessing = Witnessing(state)  # issue 17: witnesses cosign new checkpoints
        appender = asyncio.create_task(run_appender(state, stop_appender, witnessing.wake))
        witnessing_task = asyncio.create_task(witnessing.run(stop_appender))
        state.metrics.add_text(state.licence.metrics_text)  # licence (issue 15): MAU gauges
        licence_flusher = asyncio.create_task(run_licence_flusher(state, stop_appender))  # licence (issue 15)
        recitation_reloader = asyncio.create_task(run_recitation_reloader(state.recitation, stop_appender))  # issue 16
        if state.recitation is not None:  # recitation (issue 16): the works in force, a gauge
            state.metrics.add_text(state.recitation.metrics_text)
        app.state.ads = await build_ads_runtime(config, state.engine, state.clock)  # ads (issue 13)
        ads_upkeep = asyncio.create_task(run_ads_upkeep(app.state.ads, stop_appender))  # ads (issue 13)
        try:
            yield
        finally:
            beat.cancel()
            stop_appender.set()  # let an append in progress commit, then stop
            await asyncio.wait([appender, witnessing_task, licence_flusher, recitation_reloader, ads_upkeep],
                               timeout=15)  # the flusher merges once more
            await _teardown(state)
            await state.licence.close()  # licence (issue 15): after its webhooks ran (teardown awaits them)

    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/usage", my_usage, methods=["GET"]),
        Route("/v1/balance", my_balance, methods=["GET"]),
        Route("/v1/plan", my_plan, methods=["GET"]),
        Route("/v1/invoices", my_invoices, methods=["GET"]),
        Route("/v1/invoices/{name}", my_invoice, methods=["GET"]),
        Route("/admin/keys", admin_keys, methods=["GET", "POST"]),
        Route("/admin/keys/{key_id}", admin_revoke_key, methods=["DELETE"]),
        Route("/admin/usage", admin_usage, methods=["GET"]),
        Route("/admin/balance", admin_balance, methods=["GET"]),
        Route("/transparency/checkpoint", checkpoint, methods=["GET"]),
        Route("/transparency/proof/inclusion", inclusion_proof, methods=["GET"]),
        Route("/transparency/proof/consistency", consistency_proof, methods=["GET"]),
        Route("/transparency/entries", entries, methods=["GET"]),
        Route("/transparency/prefix", prefix, methods=["GET"]),
        Route("/transparency/statements", statements, methods=["GET"]),
        Route("/transparency/statements/{statement_id}", statement_note, methods=["GET"]),
        *tile_routes(),  # p2-fleet: /checkpoint, /tile/...
        Route("/rights/events", rights_events, methods=["GET"]),  # recitation (issue 16)
        *messaging_routes(),  # messaging (issue 14): /v1/messages, /v1/conversations, webhooks, webchat
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *dashboard_routes(),
        Route("/ads/click/{token}", ad_click, methods=["GET"]),  # ads (issue 13)
        Route("/ads/repository", ads_repository, methods=["GET"]),  # ads (issue 13)
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(RequestContext, direct={("/v1/chat/completions", "POST"): chat_completions,
                                               ("/v1/completions", "POST"): completions})
    return app


def app_from_environment() -> Starlette:
    """The uvicorn factory for `serve --workers N`: each worker process builds its
    app from the config file named in REVSTREAM_CONFIG (or the embedded default)."""
    return create_app(load_config(os.environ.get("REVSTREAM_CONFIG") or None))
