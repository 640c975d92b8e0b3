"""The built-in ``webchat`` channel: the pure parts (its page and endpoints come with the
HTTP integration).

The host delivers webchat messages itself: ``build_send`` returns a ``SendPlan`` without
URL whose body is the JSON the page shows::

    {"id": "<message id>", "type": "text" | "template", "text": "<rendered text>",
     "template": "<name>" | null}

Reports come from the host's page endpoints as one JSON shape (times in epoch
microseconds; ``entry_point`` ``ad``/``page`` and ``click_id`` when the chat was opened
from an ad of the ads feature)::

    {"channel": "<channel id>",
     "messages": [{"id", "from", "time_us", "text", "entry_point"?, "click_id"?}],
     "statuses": [{"id", "status", "time_us"}]}

When the channel has a secret, that body is signed like the platform's webhooks, in
``X-Revstream-Signature-256``; the page's own endpoints authenticate the visitor's
session instead and pass ``secret=None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import orjson

from revstream.messaging._adapters import (
    SendPlan,
    header_value,
    verify_signature,
    webhook_body_bytes_max,
    webhook_events_max,
)
from revstream.messaging._contacts import CHANNEL_WEBCHAT, Channel
from revstream.messaging._errors import ChannelSendError, MessagingValueError, WebhookPayloadError
from revstream.messaging._events import InboundMessage, Referral, StatusUpdate, WebhookBatch
from revstream.messaging._pricing import KIND_TEXT, Outbound

WEBCHAT_SIGNATURE_HEADER: Final = "X-Revstream-Signature-256"


def _fail(what: str) -> WebhookPayloadError:
    return WebhookPayloadError(f"webchat event: {what}")


def _time_us(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise _fail(f"{what} must be epoch microseconds (an int)")
    return value


def _str(item: dict, name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise _fail(f"{name} must be a non-empty string")
    return value


def _inbound(item: object, channel_id: str) -> InboundMessage:
    if not isinstance(item, dict):
        raise _fail("messages[] must be objects")
    entry_point = item.get("entry_point")
    referral = Referral(entry_point, "", str(item.get("click_id", ""))) if entry_point is not None else None
    return InboundMessage(platform_id=_str(item, "id"), channel_address=channel_id, sender=_str(item, "from"),
                          time_us=_time_us(item.get("time_us"), "time_us"), message_type="text",
                          text=_str(item, "text"), referral=referral)


def _status(item: object, channel_id: str) -> StatusUpdate:
    if not isinstance(item, dict):
        raise _fail("statuses[] must be objects")
    return StatusUpdate(platform_id=_str(item, "id"), channel_address=channel_id, status=_str(item, "status"),
                        time_us=_time_us(item.get("time_us"), "time_us"))


def parse_webchat_events(raw_body: bytes) -> WebhookBatch:
    """The inbound messages and statuses of one webchat report."""
    if not isinstance(raw_body, bytes) or len(raw_body) > webhook_body_bytes_max:
        raise _fail(f"the body must be at most {webhook_body_bytes_max} bytes")
    try:
        payload = orjson.loads(raw_body)
    except orjson.JSONDecodeError:
        raise _fail("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise _fail("the body must be an object")
    channel_id = _str(payload, "channel")
    messages, statuses = payload.get("messages") or [], payload.get("statuses") or []
    if not isinstance(messages, list) or not isinstance(statuses, list):
        raise _fail("messages and statuses must be arrays")
    if len(messages) + len(statuses) > webhook_events_max:
        raise _fail(f"more than {webhook_events_max} events in one report")
    try:
        return WebhookBatch(tuple(_inbound(item, channel_id) for item in messages),
                            tuple(_status(item, channel_id) for item in statuses))
    except MessagingValueError as error:
        raise _fail(str(error)) from None


@dataclass(frozen=True, slots=True)
class WebchatAdapter:
    """The ``webchat`` channel: no platform, no platform cost."""

    kind: str = CHANNEL_WEBCHAT
    platform_cost: bool = False
    signature_header: str | None = WEBCHAT_SIGNATURE_HEADER

    def build_send(self, *, channel: Channel, to: str, outbound: Outbound, message_id: str) -> SendPlan:
        if channel.kind != CHANNEL_WEBCHAT:
            raise MessagingValueError(f"channel {channel.channel_id} is {channel.kind}, not webchat")
        if outbound.kind == KIND_TEXT:
            body = {"id": message_id, "type": "text", "text": outbound.text, "template": None}
        else:
            body = {"id": message_id, "type": "template", "text": outbound.template.render(outbound.parameters),
                    "template": outbound.template.name}
        return SendPlan(CHANNEL_WEBCHAT, None, orjson.dumps(body))

    def parse_send_response(self, status_code: int, body: bytes) -> str:
        """The host delivered the plan's body itself: its id is the platform id."""
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if 200 <= status_code < 300 and isinstance(payload, dict) and isinstance(payload.get("id"), str):
            return payload["id"]
        raise ChannelSendError(status_code, f"the webchat page did not take the message (HTTP {status_code})")

    def verify(self, raw_body: bytes, headers: Mapping[str, str], secret: bytes | None) -> None:
        if secret is None:
            return  # the page's endpoints authenticate the visitor's session instead
        verify_signature(raw_body, header_value(headers, WEBCHAT_SIGNATURE_HEADER), secret)

    def parse_webhook(self, raw_body: bytes) -> WebhookBatch:
        return parse_webchat_events(raw_body)
