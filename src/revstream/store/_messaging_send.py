"""Sending, delivery statuses and inbound messages, stored (issue 14): what they share.

Sends and delivery statuses are applied in batches by `_messaging_batch` (``send_batch``,
``apply_status_batch``; ``send_message`` and ``apply_statuses`` are batches of one channel):

    sending           quote (the core decides, or refuses before any effect) → hold the
                      quoted price (ledger: funding → customer_reserved; budget windows) →
                      the message row, the conversation's windows
    statuses          each delivery status once (webhook events remembered by key): the core's
                      transition → book the charge on `delivered` (customer_reserved →
                      host_revenue, the rest back), release the hold on `failed`, book the
                      platform's cost (messaging_cost → platform_payable), count the tier

Here: the quote as stored, the record read back, and inbound messages (`record_inbound`:
an inbound message opens or renews the conversation's windows) and platform template
changes. Each runs in one write transaction: a refusal leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, Engine, insert, select, update

from ..keys import new_id
from ..messaging import (
    ADMIT_NEW,
    InboundMessage,
    MessageRecord,
    MessagingError,
    MessagingValueError,
    Quote,
    TemplateChange,
    Tier,
    SendPlan,
    admit_event,
    on_inbound,
    window_at,
)
from ._engine import writing
from ._errors import NotFound
from ._messaging import (
    channel_row,
    conversation_windows,
    ensure_contact,
    find_template,
    write_template_changes,
)
from ._messaging_schema import (
    msg_conversations,
    msg_messages,
    msg_webhook_events,
)
from ._schema import customers

HOST_OWNER = "host"
COST_KIND = "messaging_cost"
"""The host's expense account for what the platform charges per delivered message."""
PLATFORM_PAYABLE_KIND = "platform_payable"
"""What the host owes the messaging platform."""
HISTORY_MESSAGES_MAX = 20
"""Earlier messages of a conversation given to the model that answers it."""


class MessageHoldRefused(MessagingError):
    """The business's credit or a budget cannot hold the quoted price (nothing was written)."""


# --- the quote as stored --------------------------------------------------------------------

def _tiers_json(tiers: tuple[Tier, ...]) -> list:
    return [[t.from_ordinal, t.to_ordinal, t.price_nanos] for t in tiers]


def quote_text(quote: Quote) -> str:
    return orjson.dumps({
        "business_id": quote.business_id, "channel": quote.channel, "market": quote.market,
        "currency": quote.currency, "time_us": quote.time_us, "category": quote.category,
        "priced_category": quote.priced_category, "pricing_type": quote.pricing_type, "window": quote.window,
        "price_nanos": quote.price_nanos, "cost_nanos": quote.cost_nanos, "ordinal": quote.ordinal,
        "price_tiers": _tiers_json(quote.price_tiers), "cost_tiers": _tiers_json(quote.cost_tiers),
        "rate_from_us": quote.rate_from_us}).decode()


def quote_of(text: str) -> Quote:
    value = orjson.loads(text)
    for name in ("price_tiers", "cost_tiers"):
        value[name] = tuple(Tier(*tier) for tier in value[name])
    return Quote(**value)


def record_of(row) -> MessageRecord:
    """The core's record of a stored outbound message."""
    return MessageRecord(
        row.message_id, quote_of(row.quote), row.hold_nanos, status=row.status,
        seen=frozenset((row.seen or "").split(";")) - {""}, platform_id=row.platform_id or "",
        booked=bool(row.booked), charge_nanos=row.charge_nanos, cost_nanos=row.cost_nanos, ordinal=row.ordinal,
        sent_us=row.sent_us, delivered_us=row.delivered_us, failed_us=row.failed_us, mismatch=row.mismatch)


# --- conversations --------------------------------------------------------------------------

def _conversation(connection: Connection, channel, contact, now_us: int):
    """The (locked) conversation of a contact on a channel, created if new."""
    query = select(msg_conversations).where(msg_conversations.c.channel_id == channel.channel_id,
                                            msg_conversations.c.contact_id == contact.contact_id)
    row = connection.execute(query.with_for_update()).first()
    if row is not None:
        return row
    connection.execute(insert(msg_conversations).values(
        conversation_id=new_id("cnv"), channel_id=channel.channel_id, contact_id=contact.contact_id,
        customer_id=channel.customer_id, created_us=now_us, updated_us=now_us))
    return connection.execute(query).one()


def _save_windows(connection: Connection, conversation_id: str, windows, now_us: int, **extra) -> None:
    connection.execute(update(msg_conversations).where(msg_conversations.c.conversation_id == conversation_id).values(
        service_until_us=windows.service_until_us, entry_inbound_us=windows.entry_inbound_us,
        entry_reply_until_us=windows.entry_reply_until_us, entry_from_us=windows.entry_from_us,
        entry_until_us=windows.entry_until_us, updated_us=now_us, **extra))


# --- sending --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SendRequest:
    """A business's send: free-form ``text`` or ``template`` (name, optional language) with
    ``parameters``, to the contact at address ``to`` on the channel, at ``time_us``.
    ``reply_model``/``usage_request_id``: an AI reply, its model and usage record."""

    customer_id: str
    channel_id: str | None  # None: the business's only channel
    to: str
    time_us: int
    default_model: str
    text: str | None = None
    template: str | None = None
    language: str | None = None
    parameters: tuple[str, ...] = ()
    reply_model: str | None = None
    usage_request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    """An accepted message (its JSON) and how to hand it to its channel: ``plan.url`` None
    means the host delivers it itself (webchat); ``access_token_env`` names the variable
    holding the platform's token."""

    message: dict
    plan: SendPlan
    access_token_env: str | None


def set_platform_id(engine: Engine, message_id: str, platform_id: str) -> None:
    """The id the platform gave an accepted send (its statuses name it)."""
    with writing(engine) as connection:
        connection.execute(update(msg_messages).where(msg_messages.c.message_id == message_id)
                           .values(platform_id=platform_id))


# --- delivery statuses -------------------------------------------------------------------------

def _admit(connection: Connection, channel_id: str, key: str, event_time_us: int, now_us: int) -> str:
    seen = connection.execute(select(msg_webhook_events.c.event_key).where(
        msg_webhook_events.c.channel_id == channel_id, msg_webhook_events.c.event_key == key)).first()
    verdict = admit_event(key, event_time_us, now_us, {key} if seen else set())
    if verdict == ADMIT_NEW:
        connection.execute(insert(msg_webhook_events).values(channel_id=channel_id, event_key=key, received_us=now_us))
    return verdict


# --- inbound messages ----------------------------------------------------------------------------

def _history(connection: Connection, conversation_id: str) -> list[dict]:
    rows = connection.execute(select(msg_messages.c.direction, msg_messages.c.body).where(
        msg_messages.c.conversation_id == conversation_id, msg_messages.c.body.is_not(None))
        .order_by(msg_messages.c.time_us.desc(), msg_messages.c.direction.desc(), msg_messages.c.message_id.desc()).limit(HISTORY_MESSAGES_MAX)).all()
    return [{"role": "user" if row.direction == "in" else "assistant", "content": row.body} for row in reversed(rows)]


def record_inbound(engine: Engine, channel_id: str, inbound: InboundMessage, now_us: int) -> dict:
    """Store an inbound message once (by its platform id) and open or renew the windows.
    Returns what the gateway needs to answer it (``effect`` is ``new`` when stored)."""
    with writing(engine) as connection:
        channel = channel_row(connection, channel_id)
        verdict = _admit(connection, channel_id, inbound.event_key, inbound.time_us, now_us)
        if verdict != ADMIT_NEW:
            return {"effect": verdict}
        contact = ensure_contact(connection, channel_id, inbound.sender, channel.market, now_us)
        conversation = _conversation(connection, channel, contact, now_us)
        windows = on_inbound(conversation_windows(conversation), inbound.time_us,
                             entry_point=inbound.referral is not None)
        _save_windows(connection, conversation.conversation_id, windows, now_us)
        message_id = new_id("msg")
        connection.execute(insert(msg_messages).values(
            message_id=message_id, conversation_id=conversation.conversation_id, channel_id=channel_id,
            customer_id=channel.customer_id, direction="in", platform_id=inbound.platform_id,
            kind=inbound.message_type[:16], body=inbound.text, time_us=inbound.time_us, status="received", seen=""))
        customer = connection.execute(select(customers.c.name).where(
            customers.c.customer_id == channel.customer_id)).scalar()
        return {"effect": ADMIT_NEW, "message_id": message_id, "conversation_id": conversation.conversation_id,
                "customer_id": channel.customer_id, "customer": customer, "channel_id": channel_id,
                "ai_model": channel.ai_model, "address": inbound.sender,
                "service_open": window_at(windows, now_us).service_open,
                "history": _history(connection, conversation.conversation_id)}


# --- template changes the platform reports ---------------------------------------------------

def apply_template_update(engine: Engine, channel_id: str, customer_id: str, update, now_us: int) -> str:
    """A platform's re-categorization (``TemplateCategoryUpdate``) or review outcome
    (``TemplateReviewUpdate``) of one of the business's templates, recorded once from its
    time on. Returns ``applied``, the admission verdict (``duplicate``, ``stale``, ...), or
    ``ignored`` for a template this host does not know or a change older than its history."""
    change = TemplateChange(update.time_us, getattr(update, "new_category", None), getattr(update, "review_state", None))
    with writing(engine) as connection:
        verdict = _admit(connection, channel_id, update.event_key, update.time_us, now_us)
        if verdict != ADMIT_NEW:
            return verdict
        try:
            template = find_template(connection, customer_id, update.name, update.language)
            template.with_change(change)
        except (NotFound, MessagingValueError):
            return "ignored"
        write_template_changes(connection, template.template_id, (change,), len(template.changes))
        return "applied"
