"""A final outbound message as its `message` leaf (issue 14): the core's public projection
(`revstream.messaging.message_leaf`: category, market, window, pricing type, price, cost, the
model its fee is attributed to; no content, no address, no platform id), with the business
and the conversation as keyed pseudonyms."""

from __future__ import annotations

from typing import Callable, Final

from sqlalchemy import and_, true

from ..leaves import LeafKind, encode_leaf
from ..messaging import LEAF_VERSION, message_leaf
from ._messaging_schema import msg_messages
from ._messaging_send import record_of

MESSAGE_VERSION: Final = LEAF_VERSION
MESSAGE_READY: Final = and_(msg_messages.c.direction == "out", msg_messages.c.final == true())
"""Outbound messages delivered or failed: their money is final, their leaf can be written."""

__all__ = ["MESSAGE_READY", "MESSAGE_VERSION", "message_leaf_bytes"]


def message_leaf_bytes(row, secret: bytes, pseudonym: Callable[[str, bytes], str]) -> bytes:
    fields = message_leaf(record_of(row), business=pseudonym(row.customer_id, secret),
                          conversation=pseudonym(row.conversation_id, secret), model=row.model,
                          attribution=row.attribution, usage_request_id=row.usage_request_id)
    return encode_leaf(LeafKind.MESSAGE, MESSAGE_VERSION, fields)
