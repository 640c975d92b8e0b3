"""The model answers (issue 14): an inbound message inside the window, on a channel with AI
replies on, is answered by the channel's model through the gateway's own request path —
admission (rate limits, credit and budget hold, the pending usage record), the backend, the
one finalizer — so the reply is metered and billed per token like any chat completion, under
the business's plan. The reply is then sent as a message (priced by the messaging rules: a
free-form reply inside the service window is free), linked to its usage record."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Final

from ..messaging import MessagingError
from ..metering import UsageStatus
from ..store import MessageHoldRefused, NotFound, SendRequest, send_message
from ._auth import Principal
from ._call import Outcome
from ._errors import ApiError
from ._messaging_delivery import deliver
from ._pipeline import FAILED, _collect, admit
from ._schema import parse_chat
from ._state import AppState

log = logging.getLogger("revstream.gateway")
AI_REPLY_TOKENS_MAX: Final = 256
"""The longest reply the model writes to one inbound message."""
SYSTEM_PROMPT: Final = ("You answer a business's customers in a chat. Reply briefly, helpfully and politely, "
                        "in the customer's language.")
_ids = random.Random()


def default_model(state: AppState) -> str:
    """The model a fee is attributed to when nothing else names one: the first served model."""
    return state.config.models[0].name if state.config.models else "unattributed"


async def answer_inbound(state: AppState, inbound: dict) -> dict | None:
    """The AI reply to a stored inbound message (``record_inbound``'s result), sent; None when
    the channel has no AI replies, the window is closed or the model could not answer."""
    model = inbound.get("ai_model")
    if inbound.get("effect") != "new" or not model or not inbound.get("service_open"):
        return None
    parsed = parse_chat({"model": model, "max_tokens": AI_REPLY_TOKENS_MAX,
                         "messages": [{"role": "system", "content": SYSTEM_PROMPT}, *inbound["history"]]},
                        state.config.limits)
    principal = Principal(inbound["channel_id"], inbound["customer_id"], inbound["customer"])
    request_id = f"req_{_ids.getrandbits(96):024x}"
    try:
        call = await admit(state, parsed, principal, request_id, "chat")
    except ApiError as error:
        log.warning("AI reply in conversation %s not admitted: %s", inbound["conversation_id"], error.message)
        return None
    try:
        text, finish = await _collect(call)
    except Exception as error:  # the backend failed: the usage record says so; no reply is sent
        await call.finish(FAILED)
        log.warning("AI reply in conversation %s failed: %s", inbound["conversation_id"], error)
        return None
    await call.finish(Outcome(UsageStatus.OK, finish))
    reply = text.strip() or "…"
    request = SendRequest(inbound["customer_id"], inbound["channel_id"], inbound["address"], state.clock(),
                          default_model(state), text=reply[:4096], reply_model=call.served.config.name,
                          usage_request_id=request_id)
    try:
        sent = await asyncio.to_thread(send_message, state.engine, request)
    except (MessagingError, MessageHoldRefused, NotFound) as error:
        log.warning("AI reply in conversation %s not sent: %s", inbound["conversation_id"], error)
        return None
    try:
        return await deliver(state, sent)
    except ApiError as error:  # the platform refused it: the message failed, its hold was released
        log.warning("AI reply %s not delivered: %s", sent.message["id"], error.message)
        return None
