"""Admin endpoints (admin token only), /health and /metrics."""

from __future__ import annotations

import asyncio
import os
import time

from starlette.requests import Request
from starlette.responses import Response

from ..metering import balance_json, usage_json
from ..store import NotFound, StoreError, create_key, customer_balance, find_customer_id, get_meta, list_keys, list_usage, revoke_key
from ._auth import require_admin
from ._errors import ApiError, invalid
from ._routes_v1 import json_response, read_json, since_us, state_of
from ._transparency import log_health

ADMIN_BODY_BYTES_MAX = 64 * 1024


def key_json(row) -> dict:
    return {
        "key_id": row.key_id,
        "customer": row.customer,
        "customer_id": row.customer_id,
        "hint": row.key_hint,
        "created_us": row.created_us,
        "revoked": row.revoked_us is not None,
    }


async def admin_keys(request: Request) -> Response:
    state = state_of(request)
    await require_admin(state.engine, request.headers)
    if request.method == "GET":
        rows = await asyncio.to_thread(list_keys, state.engine, request.query_params.get("customer"))
        return json_response({"object": "list", "data": [key_json(row) for row in rows]})
    body = await read_json(request, ADMIN_BODY_BYTES_MAX)
    customer = body.get("customer") if isinstance(body, dict) else None
    if not isinstance(customer, str) or not customer.strip():
        raise invalid("'customer' (a name) is required", "customer")
    key, row = await asyncio.to_thread(create_key, state.engine, customer.strip(), time.time_ns() // 1000)
    return json_response({"key": key, **key_json(row)}, 201)


async def admin_revoke_key(request: Request) -> Response:
    state = state_of(request)
    await require_admin(state.engine, request.headers)
    key_id = request.path_params["key_id"]
    try:
        row = await asyncio.to_thread(revoke_key, state.engine, key_id, time.time_ns() // 1000)
    except NotFound as error:
        raise ApiError(404, str(error), code="key_not_found", param="key_id") from error
    state.keys.forget(key_id)
    return json_response(key_json(row))


async def admin_usage(request: Request) -> Response:
    state = state_of(request)
    await require_admin(state.engine, request.headers)
    customer = request.query_params.get("customer")
    since = request.query_params.get("since")
    customer_id = None
    if customer:
        try:
            customer_id = await asyncio.to_thread(find_customer_id, state.engine, customer)
        except NotFound as error:
            raise ApiError(404, str(error), code="customer_not_found", param="customer") from error
    records = await asyncio.to_thread(list_usage, state.engine, customer_id, since_us(since) if since else None)
    return json_response({"object": "list", "data": [usage_json(r) for r in records]})


async def admin_balance(request: Request) -> Response:
    state = state_of(request)
    await require_admin(state.engine, request.headers)
    customer = request.query_params.get("customer")
    if not customer:
        raise invalid("'customer' is required", "customer")
    try:
        balance = await asyncio.to_thread(customer_balance, state.engine, customer)
    except NotFound as error:
        raise ApiError(404, str(error), code="customer_not_found", param="customer") from error
    return json_response(balance_json(balance))


async def health(request: Request) -> Response:
    state = state_of(request)
    try:
        await asyncio.to_thread(get_meta, state.engine, "schema")
        store = {"ready": True, "detail": "ok"}
    except (StoreError, Exception) as error:  # any driver error means "not ready"
        store = {"ready": False, "detail": f"{type(error).__name__}"}
    backends = {}
    for model in state.config.models:  # one entry per model, not per alias
        served = state.models[model.name]
        ready, detail = await served.backend.ready()
        backends[model.name] = {"ready": ready, "backend": served.backend.kind, "aliases": list(model.aliases), "detail": detail}
    ready, detail = await state.limiter.ready()
    rate_limiter = {"ready": ready, "shared": state.config.store.redis_url is not None, "detail": detail}
    # The writer's last error names the database's host: /health (public) shows its type only.
    writer_error = state.writer.last_error
    writer = {"ready": writer_error is None, "detail": writer_error.partition(":")[0] if writer_error else "ok"}
    try:
        transparency = await log_health(state)
    except Exception as error:  # the store section above already reports why
        transparency = {"ready": False, "signing": None, "checkpoint_size": None, "detail": type(error).__name__}
    # Without its rate limiter a worker admits nothing (it never counts unchecked): not ready.
    ok = store["ready"] and rate_limiter["ready"] and all(b["ready"] for b in backends.values())
    body = {
        "status": "ok" if ok else "degraded",
        "process": {"ready": True, "pid": os.getpid(), "worker_id": state.worker_id,
                    "uptime_s": round(time.monotonic() - state.started_monotonic, 3)},
        "store": store,
        "rate_limiter": rate_limiter,
        "usage_writer": writer,
        "transparency_log": transparency,
        "backends": backends,
    }
    return json_response(body, 200 if ok else 503)


async def metrics(request: Request) -> Response:
    body, content_type = state_of(request).metrics.render()
    return Response(body, media_type=content_type)
