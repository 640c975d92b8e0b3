"""The WhatsApp Cloud API adapter: send requests, send responses, webhooks, signatures.

Formats (documented by the platform; see /work/notes/whatsapp-digest.md):

* send: ``POST https://graph.facebook.com/<version>/<phone-number-id>/messages`` with
  ``{"messaging_product": "whatsapp", "recipient_type": "individual", "to": ...,
  "type": "text", "text": {"preview_url": false, "body": ...}}`` or ``"type":
  "template", "template": {"name", "language": {"code"}, "components": [{"type":
  "body", "parameters": [{"type": "text", "text": ...}]}]}``. We also set
  ``biz_opaque_callback_data`` to our message id: the platform echoes it in statuses.
* response: ``{"messages": [{"id": "wamid..."}]}``; an error is ``{"error": {"message",
  "type", "code", ...}}`` with an HTTP error status.
* webhook: ``{"object": "whatsapp_business_account", "entry": [{"id", "changes":
  [{"field", "value"}]}]}``; field ``messages`` carries ``value.messages`` (inbound,
  ``referral`` when it came from an ad) and ``value.statuses`` (``sent``,
  ``delivered``, ``read``, ``failed``, with ``pricing`` {``billable``,
  ``pricing_model``, ``category``, ``type``}); fields ``template_category_update`` and
  ``message_template_status_update`` carry template changes. Timestamps are strings of
  Unix seconds. Other fields are listed in ``ignored_fields``.
* signature: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed by
  the app secret>``.
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
from revstream.messaging._contacts import CHANNEL_WHATSAPP, Channel
from revstream.messaging._errors import ChannelSendError, MessagingValueError, WebhookPayloadError
from revstream.messaging._events import (
    ENTRY_AD,
    ENTRY_PAGE,
    STATUSES,
    InboundMessage,
    PlatformPricing,
    Referral,
    StatusUpdate,
    TemplateCategoryUpdate,
    TemplateReviewUpdate,
    WebhookBatch,
)
from revstream.messaging._pricing import KIND_TEXT, Outbound
from revstream.messaging._templates import REVIEW_STATES, TEMPLATE_CATEGORIES
from revstream.messaging._units import SECOND_US

GRAPH_API_VERSION: Final = "v23.0"
GRAPH_API_BASE: Final = "https://graph.facebook.com"
SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
_REVIEW_EVENTS: Final = {state.upper(): state for state in REVIEW_STATES} | {"REINSTATED": "approved"}
_TO_DIGITS_MAX: Final = 15


def _fail(what: str) -> WebhookPayloadError:
    return WebhookPayloadError(f"webhook payload: {what}")


def _object(value: object, what: str) -> dict:
    if not isinstance(value, dict):
        raise _fail(f"{what} must be an object")
    return value


def _list(value: object, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(f"{what} must be an array")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(f"{what} must be a non-empty string")
    return value


def _seconds_us(value: object, what: str) -> int:
    """A Unix-seconds timestamp (a digit string, as the platform sends, or an int)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return int(value) * SECOND_US
    if type(value) is int and 0 <= value < 10**12:
        return value * SECOND_US
    raise _fail(f"{what} must be Unix seconds")


def _referral(message: dict) -> Referral | None:
    referral = message.get("referral")
    if referral is None:
        return None
    referral = _object(referral, "messages[].referral")
    source_type = referral.get("source_type")
    entry_point = ENTRY_AD if source_type == "ad" else ENTRY_PAGE
    return Referral(entry_point, str(referral.get("source_id", "")), str(referral.get("ctwa_clid", "")))


def _inbound(message: object, address: str) -> InboundMessage:
    message = _object(message, "messages[]")
    kind = _text(message.get("type"), "messages[].type")
    text = None
    if kind == "text":
        text = _text(_object(message.get("text"), "messages[].text").get("body"), "messages[].text.body")
    return InboundMessage(platform_id=_text(message.get("id"), "messages[].id"), channel_address=address,
                          sender=_text(message.get("from"), "messages[].from"),
                          time_us=_seconds_us(message.get("timestamp"), "messages[].timestamp"),
                          message_type=kind, text=text, referral=_referral(message))


def _pricing(value: object) -> PlatformPricing | None:
    if value is None:
        return None
    pricing = _object(value, "statuses[].pricing")
    billable = pricing.get("billable")
    if billable is not None and type(billable) is not bool:
        raise _fail("statuses[].pricing.billable must be a boolean")
    kind, model = pricing.get("type"), pricing.get("pricing_model")
    return PlatformPricing(category=_text(pricing.get("category"), "statuses[].pricing.category"),
                           pricing_type=kind if isinstance(kind, str) else None, billable=billable,
                           pricing_model=model if isinstance(model, str) else None)


def _status(status: object, address: str) -> StatusUpdate:
    status = _object(status, "statuses[]")
    name = _text(status.get("status"), "statuses[].status")
    if name not in STATUSES:
        raise _fail(f"statuses[].status {name!r} is not one of {', '.join(STATUSES)}")
    codes = tuple(error["code"] for error in _list(status.get("errors"), "statuses[].errors")
                  if isinstance(error, dict) and type(error.get("code")) is int)
    callback = status.get("biz_opaque_callback_data")
    return StatusUpdate(platform_id=_text(status.get("id"), "statuses[].id"), channel_address=address, status=name,
                        time_us=_seconds_us(status.get("timestamp"), "statuses[].timestamp"),
                        recipient=str(status.get("recipient_id", "")), pricing=_pricing(status.get("pricing")),
                        error_codes=codes, callback_data=callback if isinstance(callback, str) else "")


def _category(value: object, what: str) -> str:
    category = _text(value, what).lower()
    if category not in TEMPLATE_CATEGORIES:
        raise _fail(f"{what} {value!r} is not one of {', '.join(TEMPLATE_CATEGORIES)}")
    return category


def _template_category(value: dict, time_us: int) -> TemplateCategoryUpdate:
    impending = "correct_category" in value or "category_update_timestamp" in value
    if impending and value.get("category_update_timestamp") is not None:
        time_us = _seconds_us(value["category_update_timestamp"], "category_update_timestamp")
    # An impending change names the category to come "correct_category" and the current
    # one "new_category"; a completed change names them "new_category" and "previous_category".
    previous = value.get("new_category") if impending else value.get("previous_category")
    return TemplateCategoryUpdate(
        template_id=str(value.get("message_template_id", "")), name=_text(value.get("message_template_name"), "name"),
        language=_text(value.get("message_template_language"), "language"),
        new_category=_category(value.get("correct_category") if impending else value.get("new_category"), "category"),
        time_us=time_us, previous_category=_category(previous, "previous_category") if previous else None,
        impending=impending)


def _template_review(value: dict, time_us: int) -> TemplateReviewUpdate | None:
    state = _REVIEW_EVENTS.get(str(value.get("event", "")))
    if state is None:
        return None  # FLAGGED, IN_APPEAL, ...: no change of the state that decides sending
    return TemplateReviewUpdate(template_id=str(value.get("message_template_id", "")),
                                name=_text(value.get("message_template_name"), "name"),
                                language=_text(value.get("message_template_language"), "language"),
                                review_state=state, time_us=time_us)


@dataclass
class _Batch:
    inbound: list
    statuses: list
    categories: list
    reviews: list
    ignored: list

    def add(self, items: list, item: object) -> None:
        if len(self.inbound) + len(self.statuses) + len(self.categories) + len(self.reviews) >= webhook_events_max:
            raise _fail(f"more than {webhook_events_max} events in one request")
        if item is not None:
            items.append(item)


def _change(batch: _Batch, change: object, entry_time_us: int) -> None:
    change = _object(change, "changes[]")
    field, value = change.get("field"), _object(change.get("value"), "changes[].value")
    if field == "messages":
        address = _text(_object(value.get("metadata"), "value.metadata").get("phone_number_id"), "phone_number_id")
        for message in _list(value.get("messages"), "value.messages"):
            batch.add(batch.inbound, _inbound(message, address))
        for status in _list(value.get("statuses"), "value.statuses"):
            batch.add(batch.statuses, _status(status, address))
    elif field == "template_category_update":
        batch.add(batch.categories, _template_category(value, entry_time_us))
    elif field == "message_template_status_update":
        batch.add(batch.reviews, _template_review(value, entry_time_us))
    else:
        batch.ignored.append(str(field))


def parse_whatsapp_webhook(raw_body: bytes) -> WebhookBatch:
    """The events of one WhatsApp webhook request (parse only after ``verify``)."""
    if not isinstance(raw_body, bytes) or len(raw_body) > webhook_body_bytes_max:
        raise _fail(f"the body must be at most {webhook_body_bytes_max} bytes")
    try:
        payload = _object(orjson.loads(raw_body), "the body")
    except orjson.JSONDecodeError:
        raise _fail("the body is not JSON") from None
    if payload.get("object") != "whatsapp_business_account":
        raise _fail("object must be whatsapp_business_account")
    batch = _Batch([], [], [], [], [])
    try:
        for entry in _list(payload.get("entry"), "entry"):
            entry = _object(entry, "entry[]")
            entry_time = entry.get("time")
            entry_time_us = _seconds_us(entry_time, "entry[].time") if entry_time is not None else 0
            for change in _list(entry.get("changes"), "entry[].changes"):
                _change(batch, change, entry_time_us)
    except MessagingValueError as error:
        raise _fail(str(error)) from None
    return WebhookBatch(tuple(batch.inbound), tuple(batch.statuses), tuple(batch.categories), tuple(batch.reviews),
                        tuple(batch.ignored))


def whatsapp_send_body(*, to: str, outbound: Outbound, message_id: str) -> dict:
    """The Cloud API message object for ``outbound`` to the number ``to`` (digits)."""
    digits = to[1:] if to.startswith("+") else to
    if not digits.isascii() or not digits.isdigit() or len(digits) > _TO_DIGITS_MAX:
        raise MessagingValueError("a WhatsApp recipient is a phone number of up to 15 digits")
    body: dict = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": digits,
                  "biz_opaque_callback_data": message_id}
    if outbound.kind == KIND_TEXT:
        body.update(type="text", text={"preview_url": False, "body": outbound.text})
        return body
    template = outbound.template
    components = []
    if outbound.parameters:
        components.append({"type": "body",
                           "parameters": [{"type": "text", "text": value} for value in outbound.parameters]})
    body.update(type="template", template={"name": template.name, "language": {"code": template.language},
                                           "components": components})
    return body


def parse_whatsapp_send_response(status_code: int, body: bytes) -> str:
    """The ``wamid`` of an accepted send, or ``ChannelSendError`` with the platform's code."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if 200 <= status_code < 300 and isinstance(payload, dict):
        messages = payload.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            if isinstance(messages[0].get("id"), str) and messages[0]["id"]:
                return messages[0]["id"]
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        code = error.get("code") if type(error.get("code")) is int else status_code
        raise ChannelSendError(code, f"WhatsApp refused the message: {error.get('message', 'no message')} (code {code})")
    raise ChannelSendError(status_code, f"WhatsApp answered HTTP {status_code} without a message id")


@dataclass(frozen=True, slots=True)
class WhatsAppAdapter:
    """The ``whatsapp`` channel (Cloud API ``api_version``)."""

    api_version: str = GRAPH_API_VERSION
    kind: str = CHANNEL_WHATSAPP
    platform_cost: bool = True
    signature_header: str | None = SIGNATURE_HEADER

    def build_send(self, *, channel: Channel, to: str, outbound: Outbound, message_id: str) -> SendPlan:
        if channel.kind != CHANNEL_WHATSAPP:
            raise MessagingValueError(f"channel {channel.channel_id} is {channel.kind}, not whatsapp")
        url = f"{GRAPH_API_BASE}/{self.api_version}/{channel.phone_number_id}/messages"
        body = whatsapp_send_body(to=to, outbound=outbound, message_id=message_id)
        return SendPlan(CHANNEL_WHATSAPP, url, orjson.dumps(body))

    def parse_send_response(self, status_code: int, body: bytes) -> str:
        return parse_whatsapp_send_response(status_code, body)

    def verify(self, raw_body: bytes, headers: Mapping[str, str], secret: bytes | None) -> None:
        verify_signature(raw_body, header_value(headers, SIGNATURE_HEADER), secret or b"")

    def parse_webhook(self, raw_body: bytes) -> WebhookBatch:
        return parse_whatsapp_webhook(raw_body)
