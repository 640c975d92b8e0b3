"""Paid business messaging, stored (issue 14): channels, contacts and opt-ins, templates,
the rate card, and what the business and the host read back (conversations, messages, the
period report). Sending, delivery statuses and inbound messages are in `_messaging_send`.

Storage decides no rule: every value is checked by the pure core (`revstream.messaging`)
before it is written, and every price decision is the core's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, and_, case, false, func, insert, select, true, update

from ..keys import new_id
from ..messaging import (
    Channel,
    Contact,
    MessagingValueError,
    OptIn,
    RateCard,
    RateRow,
    Template,
    TemplateChange,
    Windows,
    draft_template,
    window_at,
)
from ..messaging._contacts import validate_market
from ..periods import Period
from ._amounts import join, sum_request_amounts
from ._engine import writing
from ._errors import Conflict, NotFound
from ._messaging_schema import (
    msg_channels,
    msg_contacts,
    msg_conversations,
    msg_messages,
    msg_opt_ins,
    msg_rate_rows,
    msg_template_changes,
    msg_templates,
)
from ._repo import ensure_customer
from ._schema import customers

MESSAGE_NANOS_MAX = 2**63 - 1
"""The most one message may be priced (a 64-bit column, like a request's charge)."""
MESSAGES_PAGE_MAX = 500
"""Messages or conversations one listing returns at most."""
MARKET_DEFAULT = "OTHER"
"""The market of a webchat visitor when the channel names none."""


# --- channels -----------------------------------------------------------------------------

def channel_value(row) -> Channel:
    return Channel(row.channel_id, row.customer_id, row.kind, row.phone_number_id, row.app_secret_env, row.ai_model,
                   row.access_token_env)


def channel_json(row, customer: str | None = None) -> dict:
    return {"channel_id": row.channel_id, "customer": customer, "kind": row.kind,
            "phone_number_id": row.phone_number_id, "app_secret_env": row.app_secret_env,
            "access_token_env": row.access_token_env, "verify_token_env": row.verify_token_env, "ai_model": row.ai_model, "market": row.market,
            "country": row.country, "auth_international": bool(row.auth_international)}


def add_channel(engine: Engine, customer: str, kind: str, now_us: int, *, phone_number_id: str | None = None,
                app_secret_env: str | None = None, access_token_env: str | None = None, ai_model: str | None = None,
                market: str | None = None, country: str | None = None, auth_international: bool = False,
                verify_token_env: str | None = None) -> dict:
    """A new channel of ``customer`` (created if new). Only the NAMES of the environment
    variables holding its secrets are stored."""
    market = validate_market(market or MARKET_DEFAULT)
    country = validate_market(country or market)
    with writing(engine) as connection:
        customer_id = ensure_customer(connection, customer, now_us)
        channel = Channel(new_id("chn"), customer_id, kind, phone_number_id, app_secret_env, ai_model, access_token_env)
        if verify_token_env is not None and (not verify_token_env.isidentifier() or not verify_token_env.isupper()):
            raise MessagingValueError(f"--verify-token-env must be an environment variable name, got {verify_token_env!r}")
        if phone_number_id and connection.execute(
                select(msg_channels.c.channel_id).where(msg_channels.c.phone_number_id == phone_number_id)).first():
            raise Conflict(f"a channel with phone number id {phone_number_id} exists already")
        connection.execute(insert(msg_channels).values(
            channel_id=channel.channel_id, customer_id=customer_id, kind=kind, phone_number_id=phone_number_id,
            app_secret_env=app_secret_env, access_token_env=access_token_env, verify_token_env=verify_token_env,
            ai_model=ai_model, market=market,
            country=country, auth_international=auth_international, created_us=now_us))
        row = connection.execute(select(msg_channels).where(msg_channels.c.channel_id == channel.channel_id)).one()
        return channel_json(row, customer)


def channel_row(connection: Connection, channel_id: str):
    row = connection.execute(select(msg_channels).where(msg_channels.c.channel_id == channel_id)).first()
    if row is None:
        raise NotFound(f"no channel {channel_id!r}")
    return row


def get_channel(engine: Engine, channel_id: str):
    with engine.connect() as connection:
        return channel_row(connection, channel_id)


def channel_for_phone_number(engine: Engine, phone_number_id: str):
    """The whatsapp channel of a Cloud API phone number id, or None."""
    with engine.connect() as connection:
        return connection.execute(select(msg_channels).where(msg_channels.c.phone_number_id == phone_number_id)).first()


def set_channel_ai(engine: Engine, channel_id: str, model: str | None) -> dict:
    """Turn AI replies on (``model``) or off (None) for a channel."""
    if model is not None and (not isinstance(model, str) or not model or len(model) > 200):
        raise MessagingValueError("--ai-model must be a model name")
    with writing(engine) as connection:
        channel_row(connection, channel_id)
        connection.execute(update(msg_channels).where(msg_channels.c.channel_id == channel_id).values(ai_model=model))
        return channel_json(channel_row(connection, channel_id))


def list_channels(engine: Engine, customer: str | None = None) -> list[dict]:
    with engine.connect() as connection:
        query = (select(msg_channels, customers.c.name)
                 .join(customers, customers.c.customer_id == msg_channels.c.customer_id)
                 .order_by(customers.c.name, msg_channels.c.created_us))
        if customer:
            query = query.where(customers.c.name == customer)
        return [channel_json(row, row.name) for row in connection.execute(query)]


# --- contacts and opt-ins -------------------------------------------------------------------

def normal_address(address: str) -> str:
    """An address as stored: a phone number as its E.164 digits without "+" (as the platform
    names senders), anything else as given."""
    if isinstance(address, str) and address.startswith("+") and address[1:].isascii() and address[1:].isdigit():
        return address[1:]
    return address


def contact_at(connection: Connection, channel_id: str, address: str):
    return connection.execute(select(msg_contacts).where(
        msg_contacts.c.channel_id == channel_id, msg_contacts.c.address == normal_address(address))).first()


def ensure_contact(connection: Connection, channel_id: str, address: str, market: str, now_us: int):
    """The contact at ``address`` on the channel, created with ``market`` if new."""
    row = contact_at(connection, channel_id, address)
    if row is not None:
        return row
    if not isinstance(address, str) or not address or len(address) > 64 or not address.isprintable():
        raise MessagingValueError("a contact address is 1-64 printable characters (a phone number, a chat session)")
    contact = Contact(new_id("con"), validate_market(market))
    connection.execute(insert(msg_contacts).values(contact_id=contact.contact_id, channel_id=channel_id,
                                                   address=normal_address(address), market=contact.market,
                                                   created_us=now_us))
    return contact_at(connection, channel_id, address)


def add_contact(engine: Engine, channel_id: str, address: str, market: str, now_us: int) -> dict:
    with writing(engine) as connection:
        channel_row(connection, channel_id)
        if contact_at(connection, channel_id, address) is not None:
            raise Conflict(f"channel {channel_id} has that contact already")
        row = ensure_contact(connection, channel_id, address, market, now_us)
        return {"contact_id": row.contact_id, "channel_id": channel_id, "market": row.market}


def record_opt_in(engine: Engine, channel_id: str, address: str, scope: str, granted: bool, time_us: int,
                  source: str = "") -> dict:
    """One more consent record of a contact (records are never edited or removed)."""
    record = OptIn(scope, granted, time_us, source)
    with writing(engine) as connection:
        contact = contact_at(connection, channel_id, address)
        if contact is None:
            raise NotFound(f"channel {channel_id} has no such contact: add it with `revstream contacts add`")
        connection.execute(insert(msg_opt_ins).values(contact_id=contact.contact_id, scope=record.scope,
                                                      granted=record.granted, time_us=time_us, source=record.source))
        return {"contact_id": contact.contact_id, "scope": scope, "granted": granted, "time_us": time_us}


def contact_value(connection: Connection, row) -> Contact:
    opt_ins = tuple(OptIn(r.scope, bool(r.granted), r.time_us, r.source) for r in connection.execute(
        select(msg_opt_ins).where(msg_opt_ins.c.contact_id == row.contact_id).order_by(msg_opt_ins.c.opt_in_id)))
    return Contact(row.contact_id, row.market, opt_ins)


# --- templates ------------------------------------------------------------------------------

def _template_row(connection: Connection, customer_id: str, name: str, language: str | None):
    query = select(msg_templates).where(msg_templates.c.customer_id == customer_id, msg_templates.c.name == name)
    if language:
        query = query.where(msg_templates.c.language == language)
    rows = connection.execute(query).all()
    if not rows:
        raise NotFound(f"no template {name!r}" + (f" in {language}" if language else "") + " for this business")
    if len(rows) > 1:
        raise MessagingValueError(f"template {name!r} exists in several languages: name the language")
    return rows[0]


def template_value(connection: Connection, row) -> Template:
    changes = tuple(TemplateChange(r.time_us, r.category, r.review_state) for r in connection.execute(
        select(msg_template_changes).where(msg_template_changes.c.template_id == row.template_id)
        .order_by(msg_template_changes.c.seq)))
    return Template(row.name, row.language, row.body, changes, row.template_id)


def find_template(connection: Connection, customer_id: str, name: str, language: str | None) -> Template:
    return template_value(connection, _template_row(connection, customer_id, name, language))


def _customer_id(connection: Connection, customer: str) -> str:
    found = connection.execute(select(customers.c.customer_id).where(customers.c.name == customer)).scalar()
    if found is None:
        raise NotFound(f"no customer named {customer!r}")
    return found


def _template_json(template: Template) -> dict:
    return {"template_id": template.template_id, "name": template.name, "language": template.language,
            "parameters": template.parameters,
            "history": [{"time_us": c.time_us, "category": c.category, "review_state": c.review_state}
                        for c in template.changes]}


def add_template(engine: Engine, customer: str, name: str, language: str, category: str, body: str, time_us: int,
                 review_state: str | None = None) -> dict:
    """A template submitted at ``time_us`` (``pending``), or recorded with its review outcome."""
    template = draft_template(name, language, category, body, time_us, new_id("tpl"))
    if review_state is not None:
        template = template.with_change(TemplateChange(time_us, review_state=review_state))
    with writing(engine) as connection:
        customer_id = _customer_id(connection, customer)
        if connection.execute(select(msg_templates.c.template_id).where(
                msg_templates.c.customer_id == customer_id, msg_templates.c.name == name,
                msg_templates.c.language == language)).first():
            raise Conflict(f"template {name!r} in {language} exists already: change it with `templates set`")
        connection.execute(insert(msg_templates).values(template_id=template.template_id, customer_id=customer_id,
                                                        name=name, language=language, body=body, created_us=time_us))
        write_template_changes(connection, template.template_id, template.changes, 0)
        return _template_json(template)


def write_template_changes(connection: Connection, template_id: str, changes: Sequence[TemplateChange], first_seq: int) -> None:
    connection.execute(insert(msg_template_changes), [
        {"template_id": template_id, "seq": first_seq + index, "time_us": change.time_us,
         "category": change.category, "review_state": change.review_state}
        for index, change in enumerate(changes)])


def change_template(engine: Engine, customer_id: str, name: str, language: str | None, time_us: int,
                    category: str | None = None, review_state: str | None = None) -> dict:
    """Record a review outcome or a re-categorization from ``time_us`` on."""
    change = TemplateChange(time_us, category, review_state)
    with writing(engine) as connection:
        template = find_template(connection, customer_id, name, language)
        changed = template.with_change(change)
        write_template_changes(connection, template.template_id, (change,), len(template.changes))
        return _template_json(changed)


def set_template(engine: Engine, customer: str, name: str, language: str | None, time_us: int,
                 category: str | None = None, review_state: str | None = None) -> dict:
    with engine.connect() as connection:
        customer_id = _customer_id(connection, customer)
    return change_template(engine, customer_id, name, language, time_us, category, review_state)


def list_templates(engine: Engine, customer: str) -> list[dict]:
    with engine.connect() as connection:
        customer_id = _customer_id(connection, customer)
        rows = connection.execute(select(msg_templates).where(msg_templates.c.customer_id == customer_id)
                                  .order_by(msg_templates.c.name, msg_templates.c.language)).all()
        return [_template_json(template_value(connection, row)) for row in rows]


# --- rate cards -------------------------------------------------------------------------------

def _rate_key(row) -> tuple:
    return (row.channel, row.market, row.category, row.currency, row.book, row.effective_from_us, row.tier_from)


def import_rate_card(engine: Engine, rows: Sequence[RateRow], now_us: int) -> dict:
    """Add the rows of a parsed card. A version already imported with the same prices is
    skipped; one with other prices is a conflict (a version is never edited: import a later
    ``effective_from``). The whole stored card with the new rows must stay consistent."""
    for row in rows:
        if row.price_nanos > MESSAGE_NANOS_MAX:
            raise MessagingValueError(f"a price per message above {MESSAGE_NANOS_MAX} nanos is refused")
    with writing(engine) as connection:
        stored = {_rate_key(r): r for r in connection.execute(select(msg_rate_rows))}
        new = []
        for row in rows:
            existing = stored.get(_rate_key(row))
            if existing is None:
                new.append(row)
            elif (existing.price_nanos, existing.tier_to) != (row.price_nanos, row.tier_to):
                raise Conflict(f"the rate of {'/'.join(map(str, _rate_key(row)[:5]))} from {row.effective_from_us} "
                               f"was imported with another price; import a later effective_from instead")
        RateCard(tuple(_rate_row(r) for r in stored.values()) + tuple(new))  # tiers of every version still hold
        if new:
            connection.execute(insert(msg_rate_rows), [
                {"channel": r.channel, "market": r.market, "category": r.category, "currency": r.currency,
                 "book": r.book, "effective_from_us": r.effective_from_us, "tier_from": r.tier_from,
                 "tier_to": r.tier_to, "price_nanos": r.price_nanos, "imported_us": now_us} for r in new])
        return {"rows": len(rows), "added": len(new), "skipped": len(rows) - len(new)}


def _rate_row(row) -> RateRow:
    return RateRow(row.market, row.category, row.currency, row.price_nanos, row.effective_from_us, row.tier_from,
                   row.tier_to, row.channel, row.book)


def rate_card_for(connection: Connection, channel: str, market: str, currency: str) -> RateCard:
    """The stored rows of one channel kind, market and currency: all a quote can use."""
    return RateCard(tuple(_rate_row(r) for r in connection.execute(select(msg_rate_rows).where(
        msg_rate_rows.c.channel == channel, msg_rate_rows.c.market == market, msg_rate_rows.c.currency == currency))))


# --- reading back -------------------------------------------------------------------------------

def conversation_windows(row) -> Windows:
    return Windows(row.service_until_us, row.entry_inbound_us, row.entry_reply_until_us, row.entry_from_us,
                   row.entry_until_us)


def list_conversations(engine: Engine, customer_id: str, now_us: int) -> list[dict]:
    """A business's conversations, latest first, with the window open now."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(msg_conversations, msg_contacts.c.address, msg_contacts.c.market, msg_channels.c.kind)
            .join(msg_contacts, msg_contacts.c.contact_id == msg_conversations.c.contact_id)
            .join(msg_channels, msg_channels.c.channel_id == msg_conversations.c.channel_id)
            .where(msg_conversations.c.customer_id == customer_id)
            .order_by(msg_conversations.c.updated_us.desc()).limit(MESSAGES_PAGE_MAX)).all()
    return [{"id": row.conversation_id, "object": "conversation", "channel": row.channel_id, "channel_kind": row.kind,
             "contact": row.address, "market": row.market, "window": window_at(conversation_windows(row), now_us).name,
             "service_window_until_us": row.service_until_us, "entry_window_until_us": row.entry_until_us,
             "created_us": row.created_us, "updated_us": row.updated_us} for row in rows]


def conversation_of_address(engine: Engine, channel_id: str, address: str) -> str | None:
    """The conversation of the contact at ``address`` on the channel, if any."""
    with engine.connect() as connection:
        return connection.execute(
            select(msg_conversations.c.conversation_id)
            .join(msg_contacts, msg_contacts.c.contact_id == msg_conversations.c.contact_id)
            .where(msg_contacts.c.channel_id == channel_id, msg_contacts.c.address == normal_address(address))).scalar()


def message_json(row) -> dict:
    value = {"id": row.message_id, "object": "message", "conversation": row.conversation_id,
             "direction": row.direction, "type": row.kind, "text": row.body, "status": row.status,
             "time_us": row.time_us}
    if row.direction == "out":
        value.update(category=row.category, priced_category=row.priced_category, pricing_type=row.pricing_type,
                     window=row.window_state, market=row.market, currency=row.currency,
                     quoted_price_nanos=row.quoted_nanos, price_nanos=row.charge_nanos, cost_nanos=row.cost_nanos,
                     model=row.model, attribution=row.attribution, usage_request_id=row.usage_request_id)
    return value


def list_messages(engine: Engine, customer_id: str, conversation_id: str) -> list[dict]:
    """The messages of one of the business's conversations, oldest first (NotFound for
    another business's conversation, as for one that never existed)."""
    with engine.connect() as connection:
        owner = connection.execute(select(msg_conversations.c.customer_id).where(
            msg_conversations.c.conversation_id == conversation_id)).scalar()
        if owner != customer_id:
            raise NotFound(f"no conversation {conversation_id!r} for this account")
        rows = connection.execute(select(msg_messages).where(msg_messages.c.conversation_id == conversation_id)
                                  .order_by(msg_messages.c.time_us, msg_messages.c.direction, msg_messages.c.message_id)
                                  .limit(MESSAGES_PAGE_MAX)).all()
    return [message_json(row) for row in rows]


CONVERSATIONS_SHOWN_MAX = 100
"""Conversations the report lists, largest fees first."""


def _sums(*columns) -> list:
    return [part for column in columns for part in sum_request_amounts(column)]


def messages_report(engine: Engine, period: str) -> dict:
    """The period's outbound messages (by send time) per channel kind, category and market:
    sent, delivered, failed, fees, platform costs and margin, per currency; and the
    conversations with the largest fees. Aggregated in SQL (sums split so they cannot
    overflow), so a month of millions of messages reads as a few rows."""
    bounds = Period.parse(period)
    out = and_(msg_messages.c.direction == "out", msg_messages.c.time_us >= bounds.start_us,
               msg_messages.c.time_us < bounds.end_us)
    booked = case((msg_messages.c.booked == true(), 1), else_=0)
    failed = case((and_(msg_messages.c.booked == false(), msg_messages.c.status == "failed"), 1), else_=0)
    money = _sums(msg_messages.c.charge_nanos, msg_messages.c.cost_nanos)
    keys = (msg_channels.c.kind, msg_messages.c.priced_category, msg_messages.c.market, msg_messages.c.currency)
    with engine.connect() as connection:
        groups = connection.execute(
            select(*keys, func.count(), func.sum(booked), func.sum(failed), *money)
            .join(msg_channels, msg_channels.c.channel_id == msg_messages.c.channel_id).where(out)
            .group_by(*keys).order_by(*keys)).all()
        fees = func.sum(msg_messages.c.charge_nanos)
        conversations = connection.execute(
            select(msg_messages.c.conversation_id, msg_messages.c.currency, func.count(), *money).where(out)
            .group_by(msg_messages.c.conversation_id, msg_messages.c.currency)
            .order_by(fees.desc(), msg_messages.c.conversation_id).limit(CONVERSATIONS_SHOWN_MAX)).all()
    lines = []
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for kind, category, market, currency, count, delivered, failed_count, *parts in groups:
        fee, cost = join(parts[0], parts[1]), join(parts[2], parts[3])
        lines.append({"channel": kind, "category": category, "market": market, "currency": currency,
                      "messages": count, "delivered": int(delivered or 0), "failed": int(failed_count or 0),
                      "fees_nanos": fee, "costs_nanos": cost, "margin_nanos": fee - cost})
        total = totals[currency]
        total[0], total[1], total[2] = total[0] + count, total[1] + fee, total[2] + cost
    return {"period": str(bounds), "lines": lines,
            "totals": [{"currency": currency, "messages": t[0], "fees_nanos": t[1], "costs_nanos": t[2],
                        "margin_nanos": t[1] - t[2]} for currency, t in sorted(totals.items())],
            "conversations": [_conversation_line(row) for row in conversations]}


def _conversation_line(row) -> dict:
    conversation_id, currency, count, *parts = row
    fee, cost = join(parts[0], parts[1]), join(parts[2], parts[3])
    return {"conversation": conversation_id, "currency": currency, "messages": count, "fees_nanos": fee,
            "costs_nanos": cost, "margin_nanos": fee - cost}
