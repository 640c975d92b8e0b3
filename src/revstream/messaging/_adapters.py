"""The channel adapter interface, and the signature check channels share.

An adapter turns the core's values into what its channel speaks and back, with no I/O:

* ``build_send`` -> ``SendPlan``: the HTTP request to make (``url`` set), or, for a
  channel the host delivers itself (webchat), the JSON to hand to the page;
* ``parse_send_response``: the platform's id of the accepted message, or
  ``ChannelSendError`` (the caller releases the hold);
* ``verify``: the webhook's signature over the raw body, before any parsing;
* ``parse_webhook``: the request's inbound messages, statuses and template changes.

Another channel (SMS, RCS, Messenger) is one more class with these members and one more
entry in ``ADAPTERS`` (``_registry``); the price rules do not change with the channel.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from revstream.messaging._contacts import Channel
from revstream.messaging._errors import SignatureInvalidError, SignatureMissingError
from revstream.messaging._events import WebhookBatch
from revstream.messaging._pricing import Outbound

SIGNATURE_PREFIX: Final = "sha256="
webhook_body_bytes_max: Final = 4 * 1024 * 1024
"""Largest webhook body parsed (the platform documents payloads up to 3 MB)."""
webhook_events_max: Final = 10_000
"""Most inbound messages, statuses and template changes taken from one request."""


@dataclass(frozen=True, slots=True)
class SendPlan:
    """How to send one message: POST ``body`` (JSON) to ``url`` with ``headers``; ``url``
    None means the host delivers ``body`` itself (webchat). Credentials (an access token)
    are added by the edge from the environment, never kept here."""

    channel: str
    url: str | None
    body: bytes
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


class ChannelAdapter(Protocol):
    """What every channel provides (see the module text)."""

    kind: str
    platform_cost: bool
    signature_header: str | None

    def build_send(self, *, channel: Channel, to: str, outbound: Outbound, message_id: str) -> SendPlan: ...

    def parse_send_response(self, status_code: int, body: bytes) -> str: ...

    def verify(self, raw_body: bytes, headers: Mapping[str, str], secret: bytes | None) -> None: ...

    def parse_webhook(self, raw_body: bytes) -> WebhookBatch: ...


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` in any letter case (None if absent)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def sign_body(raw_body: bytes, secret: bytes) -> str:
    """The ``sha256=<hex>`` signature of ``raw_body``: HMAC-SHA256 keyed by the app secret,
    lower-case hex, as the platform sends in ``X-Hub-Signature-256`` (for tests and for
    replaying captured deliveries against a local host)."""
    return SIGNATURE_PREFIX + hmac.new(secret, raw_body, hashlib.sha256).hexdigest()


def verify_signature(raw_body: bytes, signature: str | None, secret: bytes) -> None:
    """Check ``signature`` (``sha256=<64 hex>``) against the raw body as received, in
    constant time. The platform signs the bytes it sends (non-ASCII characters escaped as
    ``\\u00e9``), so a body parsed and serialized again no longer matches: verify first,
    on the exact bytes, then parse. Raises ``SignatureMissingError`` or
    ``SignatureInvalidError``."""
    if not isinstance(secret, bytes) or not secret:
        raise SignatureInvalidError("no app secret is configured for this channel")
    if signature is None or not signature.strip():
        raise SignatureMissingError("the request has no signature header")
    if not signature.startswith(SIGNATURE_PREFIX):
        raise SignatureInvalidError("the signature header does not start with sha256=")
    try:
        received = bytes.fromhex(signature[len(SIGNATURE_PREFIX):])
    except ValueError:
        raise SignatureInvalidError("the signature is not hexadecimal") from None
    expected = hmac.new(secret, raw_body, hashlib.sha256).digest()
    if len(received) != len(expected) or not hmac.compare_digest(received, expected):
        raise SignatureInvalidError("the signature does not match the body")
