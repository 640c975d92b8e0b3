"""A customer's own plan and invoices under /v1, with its API key: never another's.

    GET /v1/plan                   the plan in force, its window, included tokens used and left
    GET /v1/invoices               the customer's invoices
    GET /v1/invoices/{number}      one invoice, JSON (its stored canonical bytes)
    GET /v1/invoices/{number}.pdf  the same invoice as a PDF

Another customer's invoice answers 404, exactly as a number that was never issued.
"""

from __future__ import annotations

import asyncio
import time

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..invoicing import render_pdf
from ..store import NotFound
from ..store._invoices import get_invoice, list_invoices
from ..store._plans import customer_plan
from ._errors import ApiError
from ._routes_v1 import json_response, state_of

INVOICE_NUMBER_DIGITS_MAX = 18


def _not_found(name: str) -> ApiError:
    return ApiError(404, f"No invoice {name!r} for this account. GET /v1/invoices lists yours.",
                    "invalid_request_error", "invoice_not_found", "number")


async def my_plan(request: Request) -> Response:
    state = state_of(request)
    principal = await state.keys.authenticate(request.headers)
    plan = await asyncio.to_thread(customer_plan, state.engine, principal.customer_id, time.time_ns() // 1000)
    if plan is None:
        return json_response({"object": "plan", "plan": None, "kind": "payg",
                              "message": "No plan: pay as you go at the model prices, from prepaid credit or a postpaid limit."})
    return json_response({"object": "plan", **plan})


def _summary(stored) -> dict:
    body = orjson.loads(stored.body)
    return {"object": "invoice", "invoice": stored.number, "number": body["number"], "period": stored.period,
            "currency": stored.currency, "total": body["total"], "total_minor": stored.total_minor,
            "amount_due": body["amount_due"], "issued": body["issued"]}


async def my_invoices(request: Request) -> Response:
    state = state_of(request)
    principal = await state.keys.authenticate(request.headers)
    stored = await asyncio.to_thread(list_invoices, state.engine, principal.customer_id)
    return json_response({"object": "list", "data": [_summary(s) for s in stored]})


async def my_invoice(request: Request) -> Response:
    state = state_of(request)
    principal = await state.keys.authenticate(request.headers)
    name = request.path_params["name"]
    text, pdf = (name[:-4], True) if name.endswith(".pdf") else (name, False)
    if not text.isascii() or not text.isdigit() or len(text) > INVOICE_NUMBER_DIGITS_MAX:
        raise _not_found(name)
    try:
        stored = await asyncio.to_thread(get_invoice, state.engine, int(text), principal.customer_id)
    except NotFound as error:
        raise _not_found(name) from error
    if not pdf:
        return Response(stored.body, media_type="application/json")
    data = await asyncio.to_thread(render_pdf, orjson.loads(stored.body))
    return Response(data, media_type="application/pdf",
                    headers={"content-disposition": f'attachment; filename="invoice-{stored.number}.pdf"'})
