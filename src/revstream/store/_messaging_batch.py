"""Outbound messages and their delivery statuses in batches (issue 14).

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
    apply_status_batch  each webhook event admitted once (one read of the seen keys, one
                        bulk insert), the messages read and locked at once, the core's
                        transition applied in order (a message may be sent, delivered and
                        read in one batch), then one settle/release entry per customer,
                        funding and currency, one platform-cost entry per currency, the
                        budget windows and tier counts moved, one bulk update of the messages

The money is exactly what the one-at-a-time path booked: hold at send, book on the first
delivery (never above the hold), release on failure, each event once, budgets honored;
only the ledger entries are summed per batch (each message keeps its own amounts). A send
the rules or the funds refuse is that send's outcome (an exception object), and leaves
nothing behind; the others of the batch go on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Sequence

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from ..billing import check_reservation, window_start_us
from ..keys import new_id
from ..ledger import Account, JournalEntry, Posting, release, reserve, settle_reservation, settle_usage
from ..messaging import (
    ADMIT_NEW,
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
    StatusUpdate,
    TierKey,
    Windows,
    adapter_for,
    admit_event,
    apply_status,
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
    msg_messages,
    msg_opt_ins,
    msg_rate_rows,
    msg_template_changes,
    msg_templates,
    msg_tier_counts,
    msg_webhook_events,
)
from ._messaging_send import (
    COST_KIND,
    HOST_OWNER,
    PLATFORM_PAYABLE_KIND,
    MessageHoldRefused,
    SendRequest,
    Sent,
    quote_text,
    record_of,
)
from ._metering import _fundings, _hold_windows, _move_windows, _windows
from ._sql import bulk_insert, bulk_update

SEND_BATCH_MAX = 512
"""Sends one batch quotes and holds at most (a caller's longer list is cut into batches)."""
STATUS_BATCH_MAX = 1024
"""Delivery statuses one batch applies at most."""

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
_WINDOW_COLUMNS = (
    ("service_until_us", "bigint"), ("entry_inbound_us", "bigint"), ("entry_reply_until_us", "bigint"),
    ("entry_from_us", "bigint"), ("entry_until_us", "bigint"), ("last_model", "text"), ("updated_us", "bigint"),
)
_CONVERSATION_COLUMNS = (
    ("conversation_id", "text"), ("channel_id", "text"), ("contact_id", "text"), ("customer_id", "text"),
    ("created_us", "bigint"), *_WINDOW_COLUMNS,
)
_STATUS_COLUMNS = (
    ("status", "text"), ("seen", "text"), ("hold_nanos", "bigint"), ("charge_nanos", "bigint"),
    ("cost_nanos", "bigint"), ("ordinal", "int"), ("booked", "boolean"), ("final", "boolean"), ("sent_us", "bigint"),
    ("delivered_us", "bigint"), ("failed_us", "bigint"), ("mismatch", "text"),
)
_ADD_DELIVERED = (
    update(msg_tier_counts).where(
        msg_tier_counts.c.customer_id == bindparam("k_customer"), msg_tier_counts.c.channel == bindparam("k_channel"),
        msg_tier_counts.c.market == bindparam("k_market"), msg_tier_counts.c.category == bindparam("k_category"),
        msg_tier_counts.c.month == bindparam("k_month"))
    .values(delivered=msg_tier_counts.c.delivered + bindparam("k_added"))
)


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
        sender = Sender(request.customer_id, funding.currency, channel.country, bool(channel.auth_international))
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
        self.messages.append(tuple(values[name] for name, _ in _MESSAGE_COLUMNS))
        plan = adapter_for(channel.kind).build_send(channel=channel_value(channel), to=request.to, outbound=outbound,
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
        bulk_update(connection, "msg_conversations", "conversation_id", [name for name, _ in _WINDOW_COLUMNS],
                    [*(kind for _, kind in _WINDOW_COLUMNS), "text"],
                    [(*_window_values(c), c.row.conversation_id)
                     for c in self.conversations.values() if c.changed and not c.new])
        bulk_insert(connection, "msg_messages", [name for name, _ in _MESSAGE_COLUMNS],
                    [kind for _, kind in _MESSAGE_COLUMNS], self.messages)


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


# --- delivery statuses -----------------------------------------------------------------------

_STATUS_NAMES = tuple(name for name, _ in _STATUS_COLUMNS)


class _StatusBatch:
    """The statuses of one batch applied in order to the messages' records held in memory;
    the money each moves is summed for `write`."""

    def __init__(self, connection: Connection, rows: Sequence) -> None:
        self.rows = {row.message_id: row for row in rows}
        self.records = {row.message_id: record_of(row) for row in rows}
        self.changed: set[str] = set()
        keys = sorted({r.quote.tier_key for r in self.records.values() if r.quote.billable})
        self.counts = _tier_counts_locked(connection, keys)
        self.added: dict[TierKey, int] = defaultdict(int)
        # Per (customer, funding, currency): [released, charged out of a hold, charged without one].
        self.money: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        self.costs: dict[str, int] = defaultdict(int)
        self.windows: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])

    def apply(self, message_id: str, status: StatusUpdate) -> dict:
        row, record = self.rows[message_id], self.records[message_id]
        key = record.quote.tier_key
        transition = apply_status(record, status, self.counts.get(key, 0) if record.quote.billable else 0)
        if transition.duplicate:
            return {"message": message_id, "status": status.status, "effect": "duplicate"}
        self.changed.add(message_id)
        if row.log_index is not None and (transition.charge_nanos or transition.cost_nanos):
            # A delivery reported after the message's failure was logged: the leaf (and the
            # statement that settles it) say failed, so the ledger must too. Kept for review.
            note = f"{status.status} reported after the failure was logged; not charged"
            self.records[message_id] = replace(record, seen=record.seen | {status.status},
                                               mismatch=record.mismatch or note)
            return {"message": message_id, "status": status.status, "effect": "after_log"}
        self.records[message_id] = transition.record
        money = self.money[(row.customer_id, row.funding_kind, row.currency)]
        money[0] += transition.release_nanos
        money[1 if transition.release_nanos else 2] += transition.charge_nanos
        self.costs[row.currency] += transition.cost_nanos
        if transition.release_nanos or transition.charge_nanos:
            for window in _hold_windows(row.budget_windows):
                self.windows[window][0] -= transition.release_nanos
                self.windows[window][1] += transition.charge_nanos
        if transition.counted:
            self.counts[key] = self.counts.get(key, 0) + 1
            self.added[key] += 1
        return {"message": message_id, "status": status.status, "effect": "applied",
                "charge_nanos": transition.charge_nanos, "released_nanos": transition.release_nanos}

    def _entries(self, now_us: int) -> list[JournalEntry]:
        moment = datetime_of_us(now_us)
        entries: list[JournalEntry] = []
        for (customer, funding, currency), (released, charged, charged_unheld) in sorted(self.money.items()):
            if released:
                entries.append(settle_reservation(
                    new_id("msb"), moment, customer=customer, host=HOST_OWNER, reserved=Money(released, currency),
                    charge=Money(charged, currency), funding=funding) if charged else
                    release(new_id("msr"), moment, customer=customer, amount=Money(released, currency), funding=funding))
            if charged_unheld:
                entries.append(settle_usage(new_id("msb"), moment, customer=customer, host=HOST_OWNER,
                                            charge=Money(charged_unheld, currency), source=funding))
        for currency, cost in sorted(self.costs.items()):
            if cost:
                entries.append(JournalEntry(new_id("msc"), moment, "platform cost of delivered messages", (
                    Posting(Account(HOST_OWNER, COST_KIND), cost, currency),
                    Posting(Account(HOST_OWNER, PLATFORM_PAYABLE_KIND), -cost, currency))))
        return entries

    def write(self, connection: Connection, now_us: int) -> None:
        post_entries(connection, self._entries(now_us))
        _move_windows(connection, {key: (r, s) for key, (r, s) in self.windows.items() if r or s})
        if self.added:
            connection.execute(_ADD_DELIVERED, [
                {"k_customer": k.business_id, "k_channel": k.channel, "k_market": k.market, "k_category": k.category,
                 "k_month": k.month, "k_added": added} for k, added in sorted(self.added.items())])
        rows = []
        for message_id in sorted(self.changed):
            record = self.records[message_id]
            values = {"status": record.status, "seen": ";".join(sorted(record.seen)), "final": record.final}
            values.update({name: getattr(record, name) for name in _STATUS_NAMES if name not in values})
            rows.append((*(values[name] for name in _STATUS_NAMES), message_id))
        bulk_update(connection, "msg_messages", "message_id", _STATUS_NAMES,
                    [*(kind for _, kind in _STATUS_COLUMNS), "text"], rows)


def _tier_counts_locked(connection: Connection, keys: Sequence[TierKey]) -> dict[TierKey, int]:
    """The tier counts of ``keys`` (rows created at 0 where missing), locked."""
    if not keys:
        return {}
    query = select(msg_tier_counts).where(
        msg_tier_counts.c.customer_id.in_(sorted({k.business_id for k in keys})),
        msg_tier_counts.c.month.in_(sorted({k.month for k in keys}))).with_for_update()
    found = {TierKey(r.customer_id, r.channel, r.market, r.category, r.month): r.delivered
             for r in connection.execute(query)}
    missing = [k for k in keys if k not in found]
    if missing:
        connection.execute(insert(msg_tier_counts), [
            {"customer_id": k.business_id, "channel": k.channel, "market": k.market, "category": k.category,
             "month": k.month, "delivered": 0} for k in missing])
    return {k: found.get(k, 0) for k in keys}


def _admit_events(connection: Connection, events: Sequence[tuple[str, str, int]], now_us: int) -> list[str]:
    """The admission verdict of each (channel, event key, event time); the new keys are
    remembered (a key twice in one batch: the second is a duplicate)."""
    seen = {(r.channel_id, r.event_key) for r in connection.execute(select(msg_webhook_events).where(
        msg_webhook_events.c.channel_id.in_(sorted({e[0] for e in events})),
        msg_webhook_events.c.event_key.in_(sorted({e[1] for e in events}))))}
    verdicts, new = [], []
    for channel_id, key, time_us in events:
        verdict = admit_event(key, time_us, now_us, {key} if (channel_id, key) in seen else set())
        if verdict == ADMIT_NEW:
            seen.add((channel_id, key))
            new.append((channel_id, key, now_us))
        verdicts.append(verdict)
    bulk_insert(connection, "msg_webhook_events", ["channel_id", "event_key", "received_us"],
                ["text", "text", "bigint"], new)
    return verdicts


def apply_status_batch(connection: Connection, statuses: Sequence[tuple[str, StatusUpdate]],
                       now_us: int) -> list[dict]:
    """Apply each (channel, delivery status) once, in order, in the caller's transaction; a
    status seen before, one too old to be told from a replay, or one of a message this host
    never sent changes nothing."""
    if len(statuses) > STATUS_BATCH_MAX:
        raise ValueError(f"a status batch holds at most {STATUS_BATCH_MAX} statuses")
    if not statuses:
        return []
    verdicts = _admit_events(connection, [(c, s.event_key, s.time_us) for c, s in statuses], now_us)
    admitted = [(c, s) for (c, s), verdict in zip(statuses, verdicts) if verdict == ADMIT_NEW]
    rows = connection.execute(select(msg_messages).where(
        msg_messages.c.channel_id.in_(sorted({c for c, _ in admitted})),
        msg_messages.c.platform_id.in_(sorted({s.platform_id for _, s in admitted})),
        msg_messages.c.direction == "out").order_by(msg_messages.c.message_id).with_for_update()).all() if admitted else []
    by_platform = {(row.channel_id, row.platform_id): row.message_id for row in rows}
    batch = _StatusBatch(connection, rows)
    results = []
    for (channel_id, status), verdict in zip(statuses, verdicts):
        message_id = by_platform.get((channel_id, status.platform_id))
        if verdict != ADMIT_NEW:
            results.append({"status": status.status, "effect": verdict})
        elif message_id is None:
            results.append({"status": status.status, "effect": "unknown_message"})
        else:
            results.append(batch.apply(message_id, status))
    batch.write(connection, now_us)
    return results


def apply_statuses(engine: Engine, channel_id: str, statuses: tuple[StatusUpdate, ...], now_us: int) -> list[dict]:
    """Apply each delivery status of one channel once (one transaction per
    ``STATUS_BATCH_MAX``)."""
    results: list[dict] = []
    for start in range(0, len(statuses), STATUS_BATCH_MAX):
        with writing(engine) as connection:
            results += apply_status_batch(
                connection, [(channel_id, s) for s in statuses[start:start + STATUS_BATCH_MAX]], now_us)
    return results


def fail_send(engine: Engine, message_id: str, now_us: int) -> None:
    """The channel refused the send: the message failed, its hold is released."""
    with writing(engine) as connection:
        row = connection.execute(select(msg_messages).where(msg_messages.c.message_id == message_id)
                                 .with_for_update()).one()
        batch = _StatusBatch(connection, [row])
        batch.apply(message_id, StatusUpdate(row.platform_id or message_id, row.channel_id, "failed", now_us))
        batch.write(connection, now_us)


def set_platform_ids(engine: Engine, platform_ids: Sequence[tuple[str, str]]) -> None:
    """The ids the platform gave accepted sends, (message id, platform id) each, in one
    statement (their statuses name them)."""
    with writing(engine) as connection:
        bulk_update(connection, "msg_messages", "message_id", ["platform_id"], ["text", "text"],
                    [(platform_id, message_id) for message_id, platform_id in platform_ids])
