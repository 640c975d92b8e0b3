"""Handing an accepted message to its channel (issue 14): a whatsapp message is POSTed to the
Cloud API (its base replaceable by `REVSTREAM_WHATSAPP_API_BASE`: a recorded-response server in
tests, a proxy) with the token read from the variable the channel names; a webchat message
waits for the page to fetch it. A platform that refuses the message, or cannot be reached,
fails it: its hold is released and the caller gets a 502."""

from __future__ import annotations

import asyncio
import os
from typing import Final

import httpx

from ..messaging import ChannelSendError, adapter_for
from ..messaging._whatsapp import GRAPH_API_BASE
from ..store import Sent, fail_send, set_platform_id
from ._errors import ApiError
from ._state import AppState

PLATFORM_TIMEOUT_S: Final = 10.0
WHATSAPP_API_BASE_ENV: Final = "REVSTREAM_WHATSAPP_API_BASE"


async def deliver(state: AppState, sent: Sent) -> dict:
    """Hand the message to its platform (webchat messages wait for the page to fetch them).
    A platform that refuses it, or cannot be reached, fails the message: its hold is released."""
    message, plan = sent.message, sent.plan
    if plan.url is None:
        return message
    url = plan.url.replace(GRAPH_API_BASE, os.environ.get(WHATSAPP_API_BASE_ENV, GRAPH_API_BASE), 1)
    headers = dict(plan.headers)
    token = os.environ.get(sent.access_token_env) if sent.access_token_env else None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        async with httpx.AsyncClient(timeout=PLATFORM_TIMEOUT_S) as client:
            answer = await client.post(url, content=plan.body, headers=headers)
        platform_id = adapter_for(plan.channel).parse_send_response(answer.status_code, answer.content)
    except (ChannelSendError, httpx.HTTPError) as error:
        await asyncio.to_thread(fail_send, state.engine, message["id"], state.clock())
        raise ApiError(502, f"the {plan.channel} platform did not take message {message['id']}: {error}; its hold "
                       f"was released", "server_error", "channel_send_failed") from error
    await asyncio.to_thread(set_platform_id, state.engine, message["id"], platform_id)
    return message
