"""Shared values for the messaging tests: the scenario rate card, a business, contacts,
templates, and a tiny in-memory book that drives the pure core the way the store will
(quote -> accept -> statuses -> counters), so tests exercise the real functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from revstream.messaging import (
    Contact,
    OptIn,
    Outbound,
    RateCard,
    Sender,
    StatusUpdate,
    TemplateChange,
    Windows,
    accept_message,
    apply_status,
    draft_template,
    instant_us,
    parse_rate_card_csv,
    quote_message,
)
from revstream.messaging._units import HOUR_US

FIXTURES = Path(__file__).parent / "fixtures"
CARD = RateCard(parse_rate_card_csv((FIXTURES / "ratecard_scenarios.csv").read_text()))
T0 = instant_us("2025-07-10T09:00:00Z")
H = HOUR_US
BUSINESS = Sender("acme", "USD", "GB")
BUSINESS_ELIGIBLE = Sender("acme", "USD", "GB", auth_international_eligible=True)
EARLY = instant_us("2025-01-01")


def contact(market: str = "IN", *, messaging: bool = True, marketing: bool = True, contact_id: str = "c1") -> Contact:
    records = []
    if messaging:
        records.append(OptIn("messaging", True, EARLY, "signup form"))
    if marketing:
        records.append(OptIn("marketing", True, EARLY, "signup form"))
    return Contact(contact_id, market, tuple(records))


def approved(name: str, category: str, body: str = "Hello {{1}}", at_us: int = EARLY):
    return draft_template(name, "en_US", category, body, at_us).with_change(TemplateChange(at_us, review_state="approved"))


UTILITY = approved("order_update", "utility", "Your order {{1}} has shipped")
MARKETING = approved("summer_sale", "marketing", "Hi {{1}}, 20% off this week")
AUTH = approved("login_code", "authentication", "{{1}} is your code")


def template(tpl, time_us: int, *params: str) -> Outbound:
    return Outbound("template", time_us, template=tpl, parameters=params or ("x",) * tpl.parameters)


def text(time_us: int, body: str = "Thanks, looking into it") -> Outbound:
    return Outbound("text", time_us, text=body)


@dataclass
class Book:
    """An in-memory stand-in for the store: windows, counters, records and money totals."""

    sender: Sender = BUSINESS
    channel: str = "whatsapp"
    card: RateCard = CARD
    windows: Windows = field(default_factory=Windows)
    counts: dict = field(default_factory=dict)
    records: dict = field(default_factory=dict)
    held: int = 0
    charged: int = 0
    cost: int = 0
    released: int = 0
    bookings: dict = field(default_factory=dict)

    def quote(self, who: Contact, outbound: Outbound):
        quote, _ = quote_message(sender=self.sender, channel=self.channel, contact=who, windows=self.windows,
                                 outbound=outbound, card=self.card, counts=self.counts,
                                 costed=self.channel == "whatsapp")
        return quote

    def send(self, who: Contact, outbound: Outbound, message_id: str):
        quote, windows = quote_message(sender=self.sender, channel=self.channel, contact=who, windows=self.windows,
                                       outbound=outbound, card=self.card, counts=self.counts,
                                       costed=self.channel == "whatsapp")
        self.windows = windows
        record = accept_message(message_id, quote, platform_id=f"wamid.{message_id}")
        self.records[message_id] = record
        self.held += record.hold_nanos
        return record

    def status(self, message_id: str, status: str, time_us: int, pricing=None):
        record = self.records[message_id]
        key = record.quote.tier_key
        update = StatusUpdate(record.platform_id, "106540352242922", status, time_us, pricing=pricing)
        transition = apply_status(record, update, self.counts.get(key, 0))
        self.records[message_id] = transition.record
        self.charged += transition.charge_nanos
        self.cost += transition.cost_nanos
        self.released += transition.release_nanos
        if transition.charge_nanos or transition.counted:
            self.bookings[message_id] = self.bookings.get(message_id, 0) + 1
        if transition.counted:
            self.counts[key] = self.counts.get(key, 0) + 1
        return transition

    @property
    def outstanding_hold(self) -> int:
        return sum(record.hold_nanos for record in self.records.values())
