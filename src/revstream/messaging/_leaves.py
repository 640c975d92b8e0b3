"""Message leaves for the transparency log, their parser, and the settlement tally.

A message becomes a leaf once final: delivered (charged or free) or failed. The leaf is
the public projection of the price decision: category, market, window, pricing type,
price, cost, currency, time, the tier place, and the model the fee is attributed to.
Never content, never a phone number, never the platform's message id (a WhatsApp
``wamid`` encodes the recipient's number): the business and the conversation appear as
keyed pseudonyms (64 hex characters, HMAC-SHA256 as the store's ``pseudonym``).

Attribution (stream ``messaging``): every fee goes to exactly one model, so no fee is
unattributed. ``attribute_model`` takes the first of

1. ``reply``: the model that wrote this message (an AI reply);
2. ``conversation``: the model that last answered in this conversation before the
   message (a template the business sends into an AI-answered conversation);
3. ``channel``: the model configured for AI replies on the channel;
4. ``default``: the host's messaging default model (configuration), for fees of
   channels without AI replies: the messaging stream is the licensor's product, sold
   around its model, so its fees are shared under the default model's agreement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Final

from revstream.leaves import LeafKind, register
from revstream.messaging._errors import LeafError, MessagingValueError
from revstream.messaging._events import STATUS_DELIVERED, STATUS_FAILED
from revstream.messaging._reconcile import MessageRecord
from revstream.messaging._units import json_nanos, parse_json_nanos

LEAF_KIND: Final = "message"
LEAF_VERSION: Final = 1
register(LeafKind.MESSAGE, LEAF_VERSION)  # the versions of `message` leaves this code reads and writes
STREAM_MESSAGING: Final = "messaging"
ATTRIBUTION_REPLY: Final = "reply"
ATTRIBUTION_CONVERSATION: Final = "conversation"
ATTRIBUTION_CHANNEL: Final = "channel"
ATTRIBUTION_DEFAULT: Final = "default"
ATTRIBUTIONS: Final = (ATTRIBUTION_REPLY, ATTRIBUTION_CONVERSATION, ATTRIBUTION_CHANNEL, ATTRIBUTION_DEFAULT)
_PSEUDONYM: Final = re.compile(r"[0-9a-f]{64}", re.ASCII)


@dataclass(frozen=True, slots=True)
class MessageLeaf:
    """A parsed message leaf (version 1). Amounts are nanos of ``currency``."""

    message_id: str
    time_us: int
    business: str
    conversation: str
    channel: str
    market: str
    category: str
    priced_category: str
    pricing_type: str
    window: str
    status: str
    price_nanos: int
    cost_nanos: int
    currency: str
    tier_ordinal: int
    rate_from_us: int | None
    model: str
    attribution: str
    usage_request_id: str | None
    stream: str

    @property
    def ai_reply(self) -> bool:
        return self.attribution == ATTRIBUTION_REPLY


_AMOUNTS: Final = ("price_nanos", "cost_nanos")
_INTS: Final = ("time_us", "tier_ordinal")
_OPTIONAL_INTS: Final = ("rate_from_us",)
_OPTIONAL_STRS: Final = ("usage_request_id",)
_FIELDS: Final = tuple(f.name for f in fields(MessageLeaf))


def attribute_model(reply_model: str | None, conversation_model: str | None, channel_model: str | None,
                    default_model: str) -> tuple[str, str]:
    """``(model, attribution)``: the first model of reply, conversation, channel, default."""
    if not isinstance(default_model, str) or not default_model:
        raise MessagingValueError("a default messaging model is required so that no fee is unattributed")
    for model, attribution in ((reply_model, ATTRIBUTION_REPLY), (conversation_model, ATTRIBUTION_CONVERSATION),
                               (channel_model, ATTRIBUTION_CHANNEL)):
        if model:
            return model, attribution
    return default_model, ATTRIBUTION_DEFAULT


def _check_pseudonym(value: object, what: str) -> str:
    if not isinstance(value, str) or _PSEUDONYM.fullmatch(value) is None:
        raise LeafError(f"{what} must be a keyed pseudonym (64 lower-case hex characters), never an id or address")
    return value


def message_leaf(record: MessageRecord, *, business: str, conversation: str, model: str, attribution: str,
                 usage_request_id: str | None = None) -> dict:
    """The leaf of a final message: a dict ready for canonical JSON (RFC 8785).

    ``business``/``conversation``: keyed pseudonyms; ``model``/``attribution``: from
    ``attribute_model``; ``usage_request_id``: the usage record of an AI reply."""
    if not record.final:
        raise LeafError(f"message {record.message_id} is not final (status {record.status}); leaves are written on "
                        f"delivery or failure")
    if attribution not in ATTRIBUTIONS or not isinstance(model, str) or not model:
        raise LeafError(f"attribution must be one of {', '.join(ATTRIBUTIONS)} with a model")
    quote = record.quote
    return {
        "kind": LEAF_KIND,
        "version": LEAF_VERSION,
        "message_id": record.message_id,
        "time_us": quote.time_us,
        "business": _check_pseudonym(business, "business"),
        "conversation": _check_pseudonym(conversation, "conversation"),
        "channel": quote.channel,
        "market": quote.market,
        "category": quote.category,
        "priced_category": quote.priced_category,
        "pricing_type": quote.pricing_type,
        "window": quote.window,
        "status": STATUS_DELIVERED if record.booked else STATUS_FAILED,
        "price_nanos": json_nanos(record.charge_nanos),
        "cost_nanos": json_nanos(record.cost_nanos),
        "currency": quote.currency,
        "tier_ordinal": record.ordinal,
        "rate_from_us": quote.rate_from_us,
        "model": model,
        "attribution": attribution,
        "usage_request_id": usage_request_id,
        "stream": STREAM_MESSAGING,
    }


def _field(value: Mapping, name: str) -> object:
    if name in _AMOUNTS:
        try:
            return parse_json_nanos(value[name], name)
        except MessagingValueError as error:
            raise LeafError(str(error)) from None
    item = value[name]
    if name in _INTS or (name in _OPTIONAL_INTS and item is not None):
        if type(item) is not int:
            raise LeafError(f"message leaf field {name} must be an int, got {item!r}")
    elif name in _OPTIONAL_STRS or name in _OPTIONAL_INTS:
        if item is not None and not isinstance(item, str):
            raise LeafError(f"message leaf field {name} must be a string or null, got {item!r}")
    elif not isinstance(item, str) or not item:
        raise LeafError(f"message leaf field {name} must be a non-empty string, got {item!r}")
    return item


def parse_message_leaf(value: object) -> MessageLeaf:
    """The message leaf in ``value`` (a decoded JSON object). Raises ``LeafError`` for
    another kind, an unknown version, a missing or extra field, or a wrong type."""
    if not isinstance(value, Mapping):
        raise LeafError("a message leaf is a JSON object")
    if value.get("kind") != LEAF_KIND:
        raise LeafError(f"not a message leaf: kind {value.get('kind')!r}")
    if type(value.get("version")) is not int or value["version"] != LEAF_VERSION:
        raise LeafError(f"unknown message leaf version {value.get('version')!r} (this verifier knows {LEAF_VERSION})")
    expected = set(_FIELDS) | {"kind", "version"}
    if set(value) != expected:
        missing, extra = sorted(expected - set(value)), sorted(set(value) - expected)
        raise LeafError(f"message leaf fields: missing {missing or 'none'}, unexpected {extra or 'none'}")
    leaf = MessageLeaf(**{name: _field(value, name) for name in _FIELDS})
    _check_pseudonym(leaf.business, "business")
    _check_pseudonym(leaf.conversation, "conversation")
    if leaf.status not in (STATUS_DELIVERED, STATUS_FAILED) or leaf.attribution not in ATTRIBUTIONS:
        raise LeafError(f"message leaf status/attribution out of range: {leaf.status}/{leaf.attribution}")
    if leaf.status == STATUS_FAILED and (leaf.price_nanos or leaf.cost_nanos):
        raise LeafError("a failed message carries no charge")
    if leaf.stream != STREAM_MESSAGING or leaf.price_nanos < 0 or leaf.cost_nanos < 0 or leaf.tier_ordinal < 0:
        raise LeafError("message leaf stream, amounts or tier place out of range")
    return leaf


@dataclass(frozen=True, slots=True)
class MessagingTotal:
    """One (model, stream) line of the tally: exact gross and platform cost, message count."""

    gross_nanos: Fraction
    cost_nanos: Fraction
    messages: int


def tally_messaging(leaves: Iterable[MessageLeaf], currency: str) -> dict[tuple[str, str], MessagingTotal]:
    """Exact messaging revenue per (model, ``messaging``): the sum of delivered messages'
    charges (and platform costs) with their count; failed messages count nothing. Raises
    ``MessagingValueError`` for a leaf with an amount in another currency."""
    totals: dict[tuple[str, str], list] = {}
    for leaf in leaves:
        if leaf.status != STATUS_DELIVERED:
            continue
        if leaf.currency != currency and (leaf.price_nanos or leaf.cost_nanos):
            raise MessagingValueError(f"message {leaf.message_id} is priced in {leaf.currency}, the tally in {currency}")
        total = totals.setdefault((leaf.model, leaf.stream), [0, 0, 0])
        total[0] += leaf.price_nanos
        total[1] += leaf.cost_nanos
        total[2] += 1
    return {key: MessagingTotal(Fraction(gross), Fraction(cost), count)
            for key, (gross, cost, count) in sorted(totals.items())}
