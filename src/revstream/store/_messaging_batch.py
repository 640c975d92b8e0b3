"""Outbound messages in batches (issue 14); their delivery statuses: `_messaging_statuses`.

One message at a time cost ~33 statements in 3 transactions; here a whole batch of sends,
or of delivery statuses, is one transaction with a fixed number of statements, whatever
its size (the usage writer's treatment, `_writer`):

    send_batch          reads every channel, contact, opt-in, conversation, template, rate
                        card row, tier count and funding the batch names (the customers
                        locked first, in id order); the pure core quotes each send in order,
                        each hold checked against what earlier sends of the batch held
                        (``check_reservation``'s extras); then one reserve entry per
                        customer, funding and currency, one bulk insert of the messages, one
                        of new conversations, one bulk update of the windows
    apply_status_batch  (`_messaging_statuses`) each webhook event admitted once, the
                        transitions applied in order in memory, the money summed per
                        customer, funding and currency, one bulk update of the messages

The money is exactly what the one-at-a-time path booked: hold at send, book on the first
delivery (never above the hold), release on failure, each event once, budgets honored;
only the ledger entries are summed per batch (each message keeps its own amounts). A send
the rules or the funds refuse is that send's outcome (an exception object), and leaves
nothing behind; the others of the batch go on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from operator import itemgetter
from types import SimpleNamespace
from typing import Sequence

from sqlalchemy import Connection, Engine, select

from ..billing import check_reservation, window_start_us
from ..keys import new_id
from ..ledger import reserve
from ..messaging import (
    Contact,
    OptIn,
    Template,
    TemplateChange,
    KIND_TEMPLATE,
    KIND_TEXT,
    MessagingError,
    MessagingValueError,
    Outbound,
    RateCard,
    Sender,
    TierKey,
    Windows,
    adapter_for,
    attribute_model,
    quote_message,
)
from ..messaging._units import month_of_us
from ..money import Money
from ..periods import datetime_of_us
from ._engine import writing
from ._errors import NotFound
from ._ledger import post_entries
from ._messaging import (
    MESSAGE_NANOS_MAX,
    _rate_row,
    channel_value,
    conversation_windows,
    message_json,
    normal_address,
)
from ._messaging_schema import (
    msg_channels,
    msg_contacts,
    msg_conversations,
    msg_opt_ins,
    msg_rate_rows,
    msg_template_changes,
    msg_templates,
    msg_tier_counts,
)
from ._messaging_send import (
    MessageHoldRefused,
    SendRequest,
    Sent,
    quote_text,
)
from ._metering import _fundings, _move_windows, _windows
from ._sql import bulk_insert, bulk_update

SEND_BATCH_MAX = 512
"""Sends one batch quotes and holds at most (a caller's longer list is cut into batches)."""

_MESSAGE_COLUMNS = (
    ("message_id", "text"), ("conversation_id", "text"), ("channel_id", "text"), ("customer_id", "text"),
    ("direction", "text"), ("platform_id", "text"), ("kind", "text"), ("template_id", "text"), ("body", "text"),
    ("time_us", "bigint"), ("status", "text"), ("seen", "text"), ("quote", "text"), ("currency", "text"),
    ("category", "text"), ("priced_category", "text"), ("pricing_type", "text"), ("window_state", "text"),
    ("market", "text"), ("quoted_nanos", "bigint"), ("hold_nanos", "bigint"), ("charge_nanos", "bigint"),
    ("cost_nanos", "bigint"), ("ordinal", "int"), ("booked", "boolean"), ("final", "boolean"),
    ("funding_kind", "text"), ("budget_windows", "text"), ("model", "text"), ("attribution", "text"),
    ("usage_request_id", "text"),
)
_MESSAGE_ROW = itemgetter(*(name for name, _ in _MESSAGE_COLUMNS))
_WINDOW_COLUMNS = (
    ("service_until_us", "bigint"), ("entry_inbound_us", "bigint"), ("entry_reply_until_us", "bigint"),
    ("entry_from_us", "bigint"), ("entry_until_us", "bigint"), ("last_model", "text"), ("updated_us", "bigint"),
)
_CONVERSATION_COLUMNS = (
    ("conversation_id", "text"), ("channel_id", "text"), ("contact_id", "text"), ("customer_id", "text"),
    ("created_us", "bigint"), *_WINDOW_COLUMNS,
)
def bulk_insert_binary(connection: Connection, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[tuple]) -> None:
    """`_sql.bulk_insert` with every PostgreSQL array sent in binary: a message row carries
    JSON and free text, which the text form of an array escapes character by character
    (most of the time of the insert)."""
    if not rows or connection.dialect.name != "postgresql":
        bulk_insert(connection, table, [name for name, _ in columns], [kind for _, kind in columns], rows)
        return
    arrays = ", ".join(f"%b::{kind}[]" for _, kind in columns)
    connection.exec_driver_sql(f"INSERT INTO {table} ({', '.join(name for name, _ in columns)}) "
                               f"SELECT * FROM unnest({arrays})", tuple(list(column) for column in zip(*rows)))


def bulk_update_binary(connection: Connection, table: str, key: str, columns: Sequence[tuple[str, str]],
                       rows: Sequence[tuple]) -> None:
    """`_sql.bulk_update` (rows of column values then the key, a text) with every PostgreSQL
    array sent in binary."""
    if not rows or connection.dialect.name != "postgresql":
        bulk_update(connection, table, key, [name for name, _ in columns], [*(kind for _, kind in columns), "text"],
                    rows)
        return
    names = [name for name, _ in columns]
    arrays = ", ".join(f"%b::{kind}[]" for _, kind in (*columns, (key, "text")))
    sql = (f"UPDATE {table} AS t SET {', '.join(f'{name} = v.{name}' for name in names)} "
           f"FROM unnest({arrays}) AS v({', '.join((*names, key))}) "
           f"WHERE t.{key} = v.{key} AND t.{key} = ANY(%b::text[])")
    values = [list(column) for column in zip(*rows)]
    connection.exec_driver_sql(sql, (*values, values[-1]))


def _group(rows, key) -> dict:
    grouped: dict = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    return grouped


# --- what a batch of sends reads --------------------------------------------------------------

class _SendBooks:
    """Everything the sends of one batch need, read in a fixed number of statements."""

    def __init__(self, connection: Connection, requests: Sequence[SendRequest]) -> None:
        self._connection = connection
        named = {r.channel_id for r in requests if r.channel_id}
        unnamed = {r.customer_id for r in requests if not r.channel_id}
        rows = connection.execute(select(msg_channels).where(
            msg_channels.c.channel_id.in_(sorted(named)) | msg_channels.c.customer_id.in_(sorted(unnamed)))).all()
        self.channels = {row.channel_id: row for row in rows}
        self.only_channel = {customer: [r.channel_id for r in rows if r.customer_id == customer] for customer in unnamed}
        addresses = {normal_address(r.to) for r in requests if isinstance(r.to, str)}
        self.contacts = {(row.channel_id, row.address): row for row in connection.execute(select(msg_contacts).where(
            msg_contacts.c.channel_id.in_(sorted(self.channels)), msg_contacts.c.address.in_(sorted(addresses))))}
        contact_ids = sorted(row.contact_id for row in self.contacts.values())
        opt_ins = _group(connection.execute(select(msg_opt_ins).where(msg_opt_ins.c.contact_id.in_(contact_ids))
                                            .order_by(msg_opt_ins.c.opt_in_id)), lambda r: r.contact_id)
        self.contact_values = {
            row.contact_id: Contact(row.contact_id, row.market, tuple(
                OptIn(o.scope, bool(o.granted), o.time_us, o.source) for o in opt_ins.get(row.contact_id, ())))
            for row in self.contacts.values()}
        customer_ids = {row.customer_id for row in self.channels.values()} | {r.customer_id for r in requests}
        self.fundings = _fundings(connection, customer_ids)  # the customers' row locks first
        self.conversations = {(row.channel_id, row.contact_id): row for row in connection.execute(
            select(msg_conversations).where(msg_conversations.c.contact_id.in_(contact_ids)).with_for_update())}
        self._templates = self._read_templates(requests)
        self._cards: dict[tuple[str, str, str], RateCard] = {}
        self._card_rows = _group(connection.execute(select(msg_rate_rows).where(
            msg_rate_rows.c.channel.in_(sorted({row.kind for row in self.channels.values()})))),
            lambda r: (r.channel, r.market, r.currency))
        months = sorted({month_of_us(r.time_us) for r in requests if isinstance(r.time_us, int)})
        self.counts = {TierKey(r.customer_id, r.channel, r.market, r.category, r.month): r.delivered
                       for r in connection.execute(select(msg_tier_counts).where(
                           msg_tier_counts.c.customer_id.in_(sorted(customer_ids)),
                           msg_tier_counts.c.month.in_(months)))}
        self._windows: dict[int, dict] = {}

    def _read_templates(self, requests: Sequence[SendRequest]) -> dict:
        names = sorted({r.template for r in requests if r.template is not None})
        if not names:
            return {}
        rows = self._connection.execute(select(msg_templates).where(
            msg_templates.c.customer_id.in_(sorted({r.customer_id for r in requests})),
            msg_templates.c.name.in_(names))).all()
        changes = _group(self._connection.execute(select(msg_template_changes).where(
            msg_template_changes.c.template_id.in_([row.template_id for row in rows]))
            .order_by(msg_template_changes.c.template_id, msg_template_changes.c.seq)), lambda r: r.template_id)
        return _group(((row, Template(row.name, row.language, row.body, tuple(
            TemplateChange(c.time_us, c.category, c.review_state) for c in changes[row.template_id]), row.template_id))
            for row in rows), lambda pair: (pair[0].customer_id, pair[0].name))

    def template(self, customer_id: str, name: str, language: str | None) -> Template:
        """As `_messaging.find_template` decides it."""
        found = [t for row, t in self._templates.get((customer_id, name), ()) if not language or row.language == language]
        if not found:
            raise NotFound(f"no template {name!r}" + (f" in {language}" if language else "") + " for this business")
        if len(found) > 1:
            raise MessagingValueError(f"template {name!r} exists in several languages: name the language")
        return found[0]

    def card(self, channel: str, market: str, currency: str) -> RateCard:
        key = (channel, market, currency)
        if key not in self._cards:
            self._cards[key] = RateCard(tuple(_rate_row(row) for row in self._card_rows.get(key, ())))
        return self._cards[key]

    def budget_windows(self, customer_id: str, time_us: int) -> tuple:
        """The customer's budget windows (not of an API key) current at ``time_us``."""
        day = window_start_us("day", time_us)  # every budget period starts on a UTC day
        if day not in self._windows:
            self._windows[day] = _windows(self._connection, set(self.fundings), time_us)
        return tuple(w for w in self._windows[day].get(customer_id, ()) if not w.key_id)


# --- sending -------------------------------------------------------------------------------

@dataclass(slots=True)
class _Conversation:
    row: object
    windows: Windows
    last_model: str | None
    new: bool = False
    changed: bool = False
    updated_us: int = 0


class _SendBatch:
    """The sends of one batch, decided in order; `write` then writes what was accepted."""

    def __init__(self, connection: Connection, requests: Sequence[SendRequest]) -> None:
        self.books = _SendBooks(connection, requests)
        self.conversations: dict[tuple[str, str], _Conversation] = {}
        self.held: dict[str, int] = defaultdict(int)
        self.reserved: dict[tuple[str, int], int] = defaultdict(int)
        self.holds: dict[tuple[str, str, str], int] = defaultdict(int)
        self.messages: list[tuple] = []
        self.channel_values: dict = {}
        self.senders: dict[tuple[str, str], Sender] = {}

    def _channel(self, request: SendRequest):
        channel_id = request.channel_id
        if not channel_id:
            found = self.books.only_channel.get(request.customer_id, [])
            if len(found) != 1:
                raise MessagingValueError("name the channel ('channel'): this account has "
                                          + ("no channel" if not found else "several"))
            channel_id = found[0]
        channel = self.books.channels.get(channel_id)
        if channel is None:
            raise NotFound(f"no channel {channel_id!r}")
        if channel.customer_id != request.customer_id:
            raise NotFound(f"no channel {request.channel_id!r} for this account")
        return channel

    def _conversation(self, channel, contact, time_us: int) -> _Conversation:
        key = (channel.channel_id, contact.contact_id)
        if key not in self.conversations:
            row = self.books.conversations.get(key)
            if row is None:
                row = SimpleNamespace(conversation_id=new_id("cnv"), channel_id=channel.channel_id,
                                      contact_id=contact.contact_id, customer_id=channel.customer_id,
                                      created_us=time_us)
                self.conversations[key] = _Conversation(row, Windows(), None, new=True)
            else:
                self.conversations[key] = _Conversation(row, conversation_windows(row), row.last_model)
        return self.conversations[key]

    def _sender(self, customer_id: str, currency: str, channel) -> Sender:
        key = (customer_id, channel.channel_id)
        if key not in self.senders:
            self.senders[key] = Sender(customer_id, currency, channel.country, bool(channel.auth_international))
        return self.senders[key]

    def _outbound(self, request: SendRequest) -> Outbound:
        if (request.text is None) == (request.template is None):
            raise MessagingValueError("send either text or a template (with its parameters), not both")
        if request.text is not None:
            return Outbound(KIND_TEXT, request.time_us, text=request.text)
        template = self.books.template(request.customer_id, request.template, request.language)
        return Outbound(KIND_TEMPLATE, request.time_us, template=template, parameters=tuple(request.parameters))

    def _hold(self, funding, quote) -> str:
        """Check the quoted price against the funding and budgets less what this batch held
        already; count it held. Returns the budget windows text."""
        if not quote.price_nanos:
            return ""
        windows = self.books.budget_windows(funding.customer_id, quote.time_us)
        denial = check_reservation(quote.price_nanos, quote.currency, funding, windows,
                                   held_extra_nanos=self.held[funding.customer_id], reserved_extra_nanos=self.reserved)
        if denial is not None:
            raise MessageHoldRefused(denial.message)
        self.held[funding.customer_id] += quote.price_nanos
        self.holds[(funding.customer_id, funding.funding_kind, quote.currency)] += quote.price_nanos
        keys = [(w.budget_id, w.window_start_us) for w in windows if w.currency == quote.currency]
        for key in keys:
            self.reserved[key] += quote.price_nanos
        return ";".join(f"{budget}@{start}" for budget, start in keys)

    def send(self, request: SendRequest) -> Sent:
        """Quote and accept one send, or raise (then nothing of it is kept)."""
        channel = self._channel(request)
        contact_row = self.books.contacts.get((channel.channel_id, normal_address(request.to)))
        if contact_row is None:
            raise NotFound(f"channel {channel.channel_id} has no contact {request.to!r}: add it (with its opt-ins) "
                           f"with `revstream contacts add`, or wait for the contact to write first")
        funding = self.books.fundings.get(request.customer_id)
        if funding is None:
            raise NotFound(f"no customer {request.customer_id}")
        if funding.currency is None:
            raise MessagingValueError(f"business {funding.customer!r} has no billing currency yet: "
                                      f"add credit or a credit limit first")
        contact = self.books.contact_values[contact_row.contact_id]
        outbound = self._outbound(request)
        conversation = self._conversation(channel, contact_row, request.time_us)
        sender = self._sender(request.customer_id, funding.currency, channel)
        quote, windows_after = quote_message(
            sender=sender, channel=channel.kind, contact=contact, windows=conversation.windows, outbound=outbound,
            card=self.books.card(channel.kind, contact.market, funding.currency), counts=self.books.counts,
            costed=adapter_for(channel.kind).platform_cost)
        if quote.price_nanos > MESSAGE_NANOS_MAX:
            raise MessagingValueError("the quoted price exceeds what one message may cost")
        model, attribution = attribute_model(request.reply_model, conversation.last_model, channel.ai_model,
                                             request.default_model)
        body = request.text if outbound.kind == KIND_TEXT else outbound.template.render(outbound.parameters)
        budget_windows = self._hold(funding, quote)  # the last check: past it, the send is accepted
        message_id = new_id("msg")
        conversation.windows, conversation.changed = windows_after, True
        conversation.updated_us = request.time_us
        if request.reply_model:
            conversation.last_model = request.reply_model
        values = dict(
            message_id=message_id, conversation_id=conversation.row.conversation_id, channel_id=channel.channel_id,
            customer_id=request.customer_id, direction="out",
            platform_id=message_id if channel.kind == "webchat" else None, kind=outbound.kind,
            template_id=outbound.template.template_id if outbound.template else None, body=body,
            time_us=request.time_us, status="accepted", seen="", quote=quote_text(quote), currency=quote.currency,
            category=quote.category, priced_category=quote.priced_category, pricing_type=quote.pricing_type,
            window_state=quote.window, market=quote.market, quoted_nanos=quote.price_nanos,
            hold_nanos=quote.price_nanos, charge_nanos=0, cost_nanos=0, ordinal=0, booked=False, final=False,
            funding_kind=funding.funding_kind, budget_windows=budget_windows, model=model, attribution=attribution,
            usage_request_id=request.usage_request_id)
        self.messages.append(_MESSAGE_ROW(values))
        if channel.channel_id not in self.channel_values:
            self.channel_values[channel.channel_id] = channel_value(channel)
        plan = adapter_for(channel.kind).build_send(channel=self.channel_values[channel.channel_id], to=request.to,
                                                    outbound=outbound,
                                                    message_id=message_id)
        return Sent({**message_json(SimpleNamespace(**values)), "contact": request.to}, plan, channel.access_token_env)

    def write(self, connection: Connection, now_us: int) -> None:
        moment = datetime_of_us(now_us)
        post_entries(connection, [
            reserve(new_id("msh"), moment, customer=customer, amount=Money(nanos, currency), funding=funding)
            for (customer, funding, currency), nanos in sorted(self.holds.items())])
        _move_windows(connection, {key: (nanos, 0) for key, nanos in self.reserved.items()})
        new = [c for c in self.conversations.values() if c.new and c.changed]
        bulk_insert(connection, "msg_conversations", [name for name, _ in _CONVERSATION_COLUMNS],
                    [kind for _, kind in _CONVERSATION_COLUMNS],
                    [(c.row.conversation_id, c.row.channel_id, c.row.contact_id, c.row.customer_id, c.row.created_us,
                      *_window_values(c)) for c in new])
        bulk_update_binary(connection, "msg_conversations", "conversation_id", _WINDOW_COLUMNS,
                           [(*_window_values(c), c.row.conversation_id)
                            for c in self.conversations.values() if c.changed and not c.new])
        bulk_insert_binary(connection, "msg_messages", _MESSAGE_COLUMNS, self.messages)


def _window_values(conversation: _Conversation) -> tuple:
    w = conversation.windows
    return (w.service_until_us, w.entry_inbound_us, w.entry_reply_until_us, w.entry_from_us, w.entry_until_us,
            conversation.last_model, conversation.updated_us)


def send_batch(connection: Connection, requests: Sequence[SendRequest], now_us: int) -> list[Sent | Exception]:
    """Quote and hold every send of the batch, in order, in the caller's transaction. Each
    outcome is the `Sent` or the exception that refused that send (``SendRefused``,
    ``NoRateError``, ``MessagingValueError``, ``MessageHoldRefused``, ``NotFound``)."""
    if len(requests) > SEND_BATCH_MAX:
        raise ValueError(f"a send batch holds at most {SEND_BATCH_MAX} sends")
    if not requests:
        return []
    batch = _SendBatch(connection, requests)
    outcomes: list[Sent | Exception] = []
    for request in requests:
        try:
            outcomes.append(batch.send(request))
        except (MessagingError, NotFound) as error:  # the rules', the funds' or a lookup's refusal
            outcomes.append(error)
    batch.write(connection, now_us)
    return outcomes


def send_messages(engine: Engine, requests: Sequence[SendRequest], now_us: int) -> list[Sent | Exception]:
    """`send_batch` in batches of ``SEND_BATCH_MAX``, each its own transaction."""
    outcomes: list[Sent | Exception] = []
    for start in range(0, len(requests), SEND_BATCH_MAX):
        with writing(engine) as connection:
            outcomes += send_batch(connection, requests[start:start + SEND_BATCH_MAX], now_us)
    return outcomes


def send_message(engine: Engine, request: SendRequest) -> Sent:
    """Quote and accept one outbound message (a batch of one). Raises ``SendRefused``,
    ``NoRateError``, ``MessagingValueError``, ``MessageHoldRefused`` or ``NotFound`` before
    anything is written."""
    with writing(engine) as connection:
        outcome = send_batch(connection, [request], request.time_us)[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def set_platform_ids(engine: Engine, platform_ids: Sequence[tuple[str, str]]) -> None:
    """The ids the platform gave accepted sends, (message id, platform id) each, in one
    statement (their statuses name them)."""
    with writing(engine) as connection:
        bulk_update_binary(connection, "msg_messages", "message_id", [("platform_id", "text")],
                           [(platform_id, message_id) for message_id, platform_id in platform_ids])
