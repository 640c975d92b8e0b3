"""Paid business messaging over HTTP (issue 14).

    POST /v1/messages                       send (customer API key): the message id, the quoted
                                            price and category, before delivery
    GET  /v1/conversations                  the business's conversations
    GET  /v1/messages?conversation=ID       one conversation's messages
    POST /webhooks/whatsapp/{channel}       the Cloud API's webhooks, X-Hub-Signature-256 checked
    GET  /webchat/{channel}                 the built-in webchat page
    POST /webchat/{channel}/messages        a visitor writes ({"session", "text"})
    GET  /webchat/{channel}/messages        what the business sent the session
    POST /webchat/{channel}/events          delivery statuses from the page (webchat JSON)

A refused send (free-form outside the window, marketing without opt-in, no credit) is a 4xx
in the OpenAI error format before anything is held or charged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from ..messaging import (
    MessagingError,
    NoRateError,
    SendRefused,
)
from ..store import (
    MessageHoldRefused,
    NotFound,
    SendRequest,
    list_conversations,
    list_messages,
)
from ._errors import ApiError, invalid
from ._messaging_ai import default_model
from ._messaging_delivery import deliver
from ._messaging_sender import MessageSender
from ._routes_v1 import json_response, read_json, state_of
from ._state import AppState

log = logging.getLogger("revstream.gateway")
SEND_BODY_BYTES_MAX: Final = 64 * 1024
PARAMETERS_MAX: Final = 100


def messaging_error(error: Exception) -> ApiError:
    """The OpenAI-format error of a messaging refusal (nothing was held or charged)."""
    if isinstance(error, SendRefused):
        return ApiError(400, str(error), "invalid_request_error", error.code)
    if isinstance(error, NoRateError):
        return ApiError(400, str(error), "invalid_request_error", "no_rate")
    if isinstance(error, MessageHoldRefused):
        return ApiError(429, str(error), "insufficient_quota", "insufficient_quota")
    if isinstance(error, NotFound):
        return ApiError(404, str(error), "invalid_request_error", "not_found")
    return ApiError(400, str(error), "invalid_request_error", "invalid_value")


def _send_request(body, principal, state: AppState) -> SendRequest:
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    channel, to = body.get("channel"), body.get("to")
    if channel is not None and (not isinstance(channel, str) or not channel):
        raise invalid("'channel' must be a channel's id (optional when the account has one channel)", "channel")
    if not isinstance(to, str) or not to:
        raise invalid("'to' (the contact's address) is required", "to")
    text, template = body.get("text"), body.get("template")
    if isinstance(template, dict):
        name, language = template.get("name"), template.get("language")
        parameters = template.get("parameters", [])
    else:
        name, language, parameters = template, body.get("language"), body.get("parameters", [])
    if (text is None) == (name is None):
        raise invalid("send either 'text' or a 'template' (with its 'parameters')", "text")
    if text is not None and not isinstance(text, str):
        raise invalid("'text' must be a string", "text")
    if (name is not None and not isinstance(name, str)) or (language is not None and not isinstance(language, str)):
        raise invalid("'template' must name a template (and 'language' a language code)", "template")
    if not isinstance(parameters, list) or len(parameters) > PARAMETERS_MAX or not all(
            isinstance(p, str) for p in parameters):
        raise invalid(f"'parameters' must be a list of at most {PARAMETERS_MAX} strings", "parameters")
    return SendRequest(principal.customer_id, channel, to, state.clock(), default_model(state), text=text,
                       template=name, language=language, parameters=tuple(parameters))


def _wire(message: dict) -> dict:
    """A message as the API answers it: the quoted price as an exact amount."""
    value = dict(message)
    if message.get("direction") == "out":
        value["quoted_price"] = {"currency": message["currency"], "nanos": message["quoted_price_nanos"]}
    return value


def _sender(state: AppState) -> MessageSender:
    if state.message_sender is None:
        state.message_sender = MessageSender(state.engine, state.spawn)
    return state.message_sender


async def send(request: Request) -> Response:
    state = state_of(request)
    principal = await state.keys.authenticate(request.headers)
    send_request = _send_request(await read_json(request, SEND_BODY_BYTES_MAX), principal, state)
    try:
        sent = await _sender(state).send(send_request)
    except (MessagingError, MessageHoldRefused, NotFound) as error:
        raise messaging_error(error) from error
    message = await deliver(state, sent)
    return json_response(_wire(message))


async def conversations(request: Request) -> Response:
    state = state_of(request)
    principal = await state.keys.authenticate(request.headers)
    rows = await asyncio.to_thread(list_conversations, state.engine, principal.customer_id, state.clock())
    return json_response({"object": "list", "data": rows})


async def messages(request: Request) -> Response:
    state = state_of(request)
    principal = await state.keys.authenticate(request.headers)
    conversation = request.query_params.get("conversation")
    if not conversation:
        raise invalid("'conversation' (a conversation id from GET /v1/conversations) is required", "conversation")
    try:
        rows = await asyncio.to_thread(list_messages, state.engine, principal.customer_id, conversation)
    except NotFound as error:
        raise messaging_error(error) from error
    return json_response({"object": "list", "data": [_wire(row) for row in rows]})
