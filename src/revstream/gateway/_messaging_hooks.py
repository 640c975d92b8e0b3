"""What channels report (issue 14): the WhatsApp Cloud API's webhooks and the built-in
webchat page's endpoints. Every body is checked before anything in it is used: a whatsapp
webhook's `X-Hub-Signature-256` over the raw bytes (401 when missing or wrong); a webchat
report's signature when its channel has a secret, else the visitor's session. Events are
applied once each (a retried or replayed delivery changes nothing: `apply_statuses` and
`record_inbound` remember every event's key)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from importlib import resources
from typing import Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..messaging import (
    InboundMessage,
    MessagingError,
    Referral,
    SignatureMissingError,
    WebhookBatch,
    WebhookError,
    WebhookPayloadError,
    adapter_for,
)
from ..store import NotFound, apply_statuses, get_channel, list_messages, record_inbound
from ..store._messaging import conversation_of_address
from ..store._messaging_send import apply_template_update
from ._errors import ApiError, invalid
from ._messaging_ai import answer_inbound
from ._routes_messaging import messaging_error
from ._routes_v1 import json_response, parse_json, read_body, state_of
from ._state import AppState

log = logging.getLogger("revstream.gateway")
WEBHOOK_BODY_BYTES_MAX: Final = 4 * 1024 * 1024
VISITOR_BODY_BYTES_MAX: Final = 16 * 1024
SESSION_CHARS_MAX: Final = 64
VISITOR_TEXT_CHARS_MAX: Final = 4_096


async def _channel(state: AppState, channel_id: str, kind: str):
    try:
        channel = await asyncio.to_thread(get_channel, state.engine, channel_id)
    except NotFound as error:
        raise ApiError(404, f"no {kind} channel {channel_id!r}", code="not_found") from error
    if channel.kind != kind:
        raise ApiError(404, f"no {kind} channel {channel_id!r}", code="not_found")
    return channel


def _secret(channel) -> bytes | None:
    value = os.environ.get(channel.app_secret_env) if channel.app_secret_env else None
    return value.encode() if value else None


def _verify(channel, raw: bytes, headers, required: bool) -> None:
    secret = _secret(channel)
    if required and secret is None:
        raise ApiError(503, f"the app secret of channel {channel.channel_id} is not set (environment variable "
                       f"{channel.app_secret_env})", "server_error", "secret_missing")
    try:
        adapter_for(channel.kind).verify(raw, headers, secret)
    except SignatureMissingError as error:
        raise ApiError(401, str(error), code="signature_missing") from error
    except WebhookPayloadError as error:
        raise invalid(str(error)) from error
    except WebhookError as error:
        raise ApiError(401, str(error), code="signature_invalid") from error


async def _apply_batch(state: AppState, channel, batch: WebhookBatch, address: str, wait_for_replies: bool) -> dict:
    """Statuses, inbound messages (answered by the model where the channel says so) and
    template changes of one report, for this channel's address only. A platform wants its
    webhook answered at once: without ``wait_for_replies`` the model answers in the
    background (the worker awaits it at shutdown)."""
    now = state.clock()
    statuses = tuple(s for s in batch.statuses if s.channel_address == address)
    results = await asyncio.to_thread(apply_statuses, state.engine, channel.channel_id, statuses, now) if statuses else []
    replies = []
    for inbound in batch.inbound:
        if inbound.channel_address != address:
            continue
        stored = await asyncio.to_thread(record_inbound, state.engine, channel.channel_id, inbound, now)
        results.append({"message": stored.get("message_id"), "effect": stored["effect"]})
        if not wait_for_replies:
            state.spawn(answer_inbound(state, stored))
            continue
        reply = await answer_inbound(state, stored)
        if reply is not None:
            replies.append(reply)
    for update in (*batch.template_updates, *batch.template_reviews):
        if getattr(update, "impending", False):  # announced ahead: applied when the change is reported done
            continue
        effect = await asyncio.to_thread(apply_template_update, state.engine, channel.channel_id, channel.customer_id,
                                         update, now)
        results.append({"template": update.name, "effect": effect})
    return {"object": "webhook.result", "results": results, "replies": replies}


async def whatsapp_webhook(request: Request) -> Response:
    state = state_of(request)
    channel = await _channel(state, request.path_params["channel"], "whatsapp")
    raw = await read_body(request, WEBHOOK_BODY_BYTES_MAX)
    _verify(channel, raw, request.headers, required=True)  # before any byte of it is parsed
    try:
        batch = adapter_for("whatsapp").parse_webhook(raw)
    except WebhookError as error:
        raise invalid(str(error)) from error
    return json_response(await _apply_batch(state, channel, batch, channel.phone_number_id, wait_for_replies=False))


async def whatsapp_subscribe(request: Request) -> Response:
    """The platform's subscription check: echo ``hub.challenge`` when ``hub.verify_token`` is
    the channel's verify token (from the variable it names); 403 otherwise."""
    state = state_of(request)
    channel = await _channel(state, request.path_params["channel"], "whatsapp")
    expected = os.environ.get(channel.verify_token_env) if channel.verify_token_env else None
    query = request.query_params
    given = query.get("hub.verify_token", "")
    if query.get("hub.mode") != "subscribe" or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(403, "the verify token does not match this channel's", code="verify_token_mismatch")
    return Response(query.get("hub.challenge", ""), media_type="text/plain")


# --- the built-in webchat channel -------------------------------------------------------------

def _session(value: object) -> str:
    if not isinstance(value, str) or not 8 <= len(value) <= SESSION_CHARS_MAX or not value.isascii() \
            or not value.replace("-", "").replace("_", "").isalnum():
        raise invalid(f"'session' must be 8-{SESSION_CHARS_MAX} characters of A-Z a-z 0-9 - _", "session")
    return value


async def webchat_page(request: Request) -> Response:
    state = state_of(request)
    channel = await _channel(state, request.path_params["channel"], "webchat")
    page = resources.files("revstream.gateway").joinpath("webchat.html").read_text(encoding="utf-8")
    return HTMLResponse(page.replace("{{CHANNEL}}", channel.channel_id))


async def webchat_write(request: Request) -> Response:
    """A visitor writes: the message opens or renews the window; the model may answer."""
    state = state_of(request)
    channel = await _channel(state, request.path_params["channel"], "webchat")
    body = parse_json(await read_body(request, VISITOR_BODY_BYTES_MAX))
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    session, text = _session(body.get("session")), body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > VISITOR_TEXT_CHARS_MAX:
        raise invalid(f"'text' must be 1-{VISITOR_TEXT_CHARS_MAX} characters", "text")
    entry = body.get("entry_point")
    referral = None
    if entry is not None:
        try:
            referral = Referral(entry, "", str(body.get("click_id", ""))[:200])
        except MessagingError as error:
            raise invalid(str(error), "entry_point") from error
    now = state.clock()
    inbound = InboundMessage(f"web_{session}_{now}", channel.channel_id, session, now, "text", text, referral)
    batch = WebhookBatch(inbound=(inbound,))
    return json_response(await _apply_batch(state, channel, batch, channel.channel_id, wait_for_replies=True))


async def webchat_read(request: Request) -> Response:
    """What the business sent this session (the session is the visitor's credential)."""
    state = state_of(request)
    channel = await _channel(state, request.path_params["channel"], "webchat")
    session = _session(request.query_params.get("session"))
    conversation = await asyncio.to_thread(conversation_of_address, state.engine, channel.channel_id, session)
    if conversation is None:
        return json_response({"object": "list", "data": []})
    rows = await asyncio.to_thread(list_messages, state.engine, channel.customer_id, conversation)
    return json_response({"object": "list", "data": [
        {"id": row["id"], "direction": row["direction"], "text": row["text"], "status": row["status"],
         "time_us": row["time_us"]} for row in rows]})


async def webchat_events(request: Request) -> Response:
    """Delivery statuses reported by the page (the webchat JSON shape; signed with
    X-Revstream-Signature-256 when the channel has a secret)."""
    state = state_of(request)
    channel = await _channel(state, request.path_params["channel"], "webchat")
    raw = await read_body(request, WEBHOOK_BODY_BYTES_MAX)
    _verify(channel, raw, request.headers, required=False)
    try:
        batch = adapter_for("webchat").parse_webhook(raw)
    except WebhookError as error:
        raise invalid(str(error)) from error
    try:
        return json_response(await _apply_batch(state, channel, batch, channel.channel_id, wait_for_replies=True))
    except MessagingError as error:
        raise messaging_error(error) from error
