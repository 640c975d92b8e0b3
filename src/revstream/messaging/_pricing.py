"""The price decision: what one outbound message costs the business, decided before it is
sent, and what it is charged once delivered.

The rules (WhatsApp Business Platform per-message pricing, in force since 1 July 2025;
sources and the choices made where the public record is unclear are in
/work/notes/whatsapp-digest.md):

1. A free-form (service) message needs an open customer-service window; outside it the
   send is refused (``SendRefused('window_closed')``) before anything is held or charged.
   Inside it, it is free.
2. A template needs review state ``approved`` at the send time; its category is the one
   in force at the send time (a re-categorization applies from its time on).
3. A marketing template needs the contact's marketing opt-in; any template outside an
   open service window needs the contact's messaging opt-in. Else refused.
4. Every message sent inside an open free entry window is free.
5. A utility template inside an open customer-service window is free.
6. Everything else is charged per delivered message: marketing, utility outside the
   window, authentication (``authentication_international`` when the business is
   eligible, is based in another market than the contact's, and the card has an
   authentication-international rate for that market).
7. The rate is the card version in force at the send time for (channel, market, priced
   category, the business's currency). Utility and authentication rates may have volume
   tiers: the month's n-th charged message of that business, market and priced category
   (calendar month of the send time, UTC) is priced at the tier holding n.

A quote knows the tiers but not yet the message's place in the month (other messages may
be delivered first), so it prices the message as the next one to be delivered; the
charge at delivery uses its actual place. Tiers never get dearer with volume (the card
refuses it), so the charge never exceeds the quote and a hold of the quoted price always
covers it. Amounts are exact integer nanos; nothing is rounded here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

from revstream.money import MoneyError, validate_currency
from revstream.messaging._contacts import SCOPE_MARKETING, SCOPE_MESSAGING, Contact, validate_id, validate_market
from revstream.messaging._errors import (
    REFUSED_NO_MARKETING_OPT_IN,
    REFUSED_NO_OPT_IN,
    REFUSED_TEMPLATE_NOT_APPROVED,
    REFUSED_WINDOW_CLOSED,
    MessagingValueError,
    NoRateError,
    SendRefused,
)
from revstream.messaging._ratecards import (
    BOOK_COST,
    BOOK_PRICE,
    PRICED_AUTHENTICATION_INTERNATIONAL,
    PRICED_SERVICE,
    RateCard,
    RateKey,
    RateVersion,
    Tier,
    tier_price,
)
from revstream.messaging._templates import (
    CATEGORY_AUTHENTICATION,
    CATEGORY_MARKETING,
    CATEGORY_UTILITY,
    REVIEW_APPROVED,
    Template,
    check_parameters,
)
from revstream.messaging._units import month_of_us, require_int, rfc3339_us
from revstream.messaging._windows import Windows, WindowState, windows_for_send

KIND_TEXT: Final = "text"
KIND_TEMPLATE: Final = "template"
MESSAGE_KINDS: Final = (KIND_TEXT, KIND_TEMPLATE)
PRICING_REGULAR: Final = "regular"
PRICING_FREE_CUSTOMER_SERVICE: Final = "free_customer_service"
PRICING_FREE_ENTRY_POINT: Final = "free_entry_point"
PRICING_TYPES: Final = (PRICING_REGULAR, PRICING_FREE_CUSTOMER_SERVICE, PRICING_FREE_ENTRY_POINT)
"""Named as the platform's ``pricing.type`` of a status webhook, so the two compare directly."""
text_chars_max: Final = 4_096
"""The platform's limit for a text message body."""


@dataclass(frozen=True, slots=True)
class Sender:
    """The business as a sender: billing ``currency``, ``country`` (its primary business
    location, as a rate-card market) and whether the platform made it eligible for
    authentication-international rates."""

    business_id: str
    currency: str
    country: str
    auth_international_eligible: bool = False

    def __post_init__(self) -> None:
        validate_id(self.business_id, "business_id")
        try:
            validate_currency(self.currency)
        except MoneyError as error:
            raise MessagingValueError(str(error)) from None
        validate_market(self.country)
        if type(self.auth_international_eligible) is not bool:
            raise MessagingValueError("auth_international_eligible must be a bool")


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message the business asks to send at ``time_us``: free-form ``text``, or an
    approved ``template`` with its ``parameters``."""

    kind: str
    time_us: int
    text: str | None = None
    template: Template | None = None
    parameters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        require_int(self.time_us, "time_us")
        if isinstance(self.parameters, list):
            object.__setattr__(self, "parameters", tuple(self.parameters))
        if self.kind == KIND_TEXT:
            if not isinstance(self.text, str) or not self.text.strip() or len(self.text) > text_chars_max:
                raise MessagingValueError(f"a text message needs 1-{text_chars_max} characters of text")
            if self.template is not None or self.parameters:
                raise MessagingValueError("a text message takes no template or parameters")
        elif self.kind == KIND_TEMPLATE:
            if not isinstance(self.template, Template):
                raise MessagingValueError("a template message needs a template")
            if self.text is not None:
                raise MessagingValueError("a template message takes parameters, not text")
            check_parameters(self.template, self.parameters)
        else:
            raise MessagingValueError(f"message kind must be one of {', '.join(MESSAGE_KINDS)}, got {self.kind!r}")


class TierKey(NamedTuple):
    """What volume tiers count: a business's charged messages of one channel kind, market
    and priced category in one calendar month (UTC)."""

    business_id: str
    channel: str
    market: str
    category: str
    month: str


@dataclass(frozen=True, slots=True)
class Quote:
    """The price decision for one message, before delivery.

    ``category``: the message's category (a template's category at the send time, or
    ``service`` for free-form); ``priced_category`` adds ``authentication_international``.
    ``pricing_type`` and ``window`` say why it is free or charged. ``price_nanos`` and
    ``cost_nanos`` are the quoted charge and platform cost (the ceiling of what delivery
    books); ``price_tiers``/``cost_tiers`` keep the rates in force at the send time so
    the charge at delivery needs no second look-up. ``ordinal`` is the place in the month
    the quote assumed (0 when free)."""

    business_id: str
    channel: str
    market: str
    currency: str
    time_us: int
    category: str
    priced_category: str
    pricing_type: str
    window: str
    price_nanos: int
    cost_nanos: int
    ordinal: int = 0
    price_tiers: tuple[Tier, ...] = ()
    cost_tiers: tuple[Tier, ...] = ()
    rate_from_us: int | None = None

    @property
    def billable(self) -> bool:
        return self.pricing_type == PRICING_REGULAR

    @property
    def tier_key(self) -> TierKey:
        return TierKey(self.business_id, self.channel, self.market, self.priced_category, month_of_us(self.time_us))


def _refuse_if_not_allowed(outbound: Outbound, contact: Contact, state: WindowState) -> str:
    """The message's category, or ``SendRefused`` if the rules forbid the send."""
    time_us = outbound.time_us
    if outbound.kind == KIND_TEXT:
        if not state.service_open:
            raise SendRefused(REFUSED_WINDOW_CLOSED,
                              f"free-form messages need an open 24-hour customer-service window, and none is open at "
                              f"{rfc3339_us(time_us)}; send an approved template instead")
        return PRICED_SERVICE
    template = outbound.template
    if template.review_state_at(time_us) != REVIEW_APPROVED:
        raise SendRefused(REFUSED_TEMPLATE_NOT_APPROVED, f"template {template.name!r} is "
                          f"{template.review_state_at(time_us)}, not approved, at {rfc3339_us(time_us)}")
    category = template.category_at(time_us)
    if category == CATEGORY_MARKETING and not contact.consents(SCOPE_MARKETING, time_us):
        raise SendRefused(REFUSED_NO_MARKETING_OPT_IN,
                          f"marketing template {template.name!r} refused: the contact has no marketing opt-in")
    if not state.service_open and not contact.consents(SCOPE_MESSAGING, time_us):
        raise SendRefused(REFUSED_NO_OPT_IN, f"template {template.name!r} refused: no customer-service window is open "
                          f"and the contact has no messaging opt-in")
    return category


def _pricing_type(category: str, state: WindowState) -> str:
    if state.entry_open:
        return PRICING_FREE_ENTRY_POINT
    if category == PRICED_SERVICE or (category == CATEGORY_UTILITY and state.service_open):
        return PRICING_FREE_CUSTOMER_SERVICE
    return PRICING_REGULAR


def _version(card: RateCard, key: RateKey, time_us: int, what: str) -> RateVersion:
    version = card.version_at(key, time_us)
    if version is None:
        raise NoRateError(f"no {what} in force at {rfc3339_us(time_us)} for channel {key.channel}, market {key.market}, "
                          f"category {key.category}, currency {key.currency}: import a rate card with one")
    return version


def _priced_category(category: str, sender: Sender, contact: Contact, card: RateCard, key: RateKey,
                     time_us: int) -> str:
    """``authentication_international`` where the card says so for an eligible business
    based outside the contact's market; the category itself otherwise."""
    if category != CATEGORY_AUTHENTICATION or not sender.auth_international_eligible or sender.country == contact.market:
        return category
    international = key._replace(category=PRICED_AUTHENTICATION_INTERNATIONAL)
    return PRICED_AUTHENTICATION_INTERNATIONAL if card.version_at(international, time_us) is not None else category


def quote_message(*, sender: Sender, channel: str, contact: Contact, windows: Windows, outbound: Outbound,
                  card: RateCard, counts: Mapping[TierKey, int], costed: bool) -> tuple[Quote, Windows]:
    """Decide the price of ``outbound`` and the windows to keep if it is accepted.

    ``counts``: the month's charged deliveries so far per tier key (missing = 0).
    ``costed``: the channel has a platform cost (WhatsApp); then a billable message needs
    a ``cost`` rate too. Raises ``SendRefused`` or ``NoRateError`` before any effect."""
    time_us = outbound.time_us
    state, windows_after = windows_for_send(windows, time_us)
    category = _refuse_if_not_allowed(outbound, contact, state)
    pricing_type = _pricing_type(category, state)
    market, currency = contact.market, sender.currency
    if pricing_type != PRICING_REGULAR:
        return Quote(sender.business_id, channel, market, currency, time_us, category, category, pricing_type,
                     state.name, 0, 0), windows_after
    key = RateKey(channel, market, category, currency, BOOK_PRICE)
    priced = _priced_category(category, sender, contact, card, key, time_us)
    price = _version(card, RateKey(channel, market, priced, currency, BOOK_PRICE), time_us, "rate")
    cost_tiers: tuple[Tier, ...] = ()
    if costed:
        cost_tiers = _version(card, RateKey(channel, market, priced, currency, BOOK_COST), time_us,
                              "platform cost rate").tiers
    ordinal = counts.get(TierKey(sender.business_id, channel, market, priced, month_of_us(time_us)), 0) + 1
    return Quote(sender.business_id, channel, market, currency, time_us, category, priced, pricing_type, state.name,
                 price_nanos=tier_price(price.tiers, ordinal),
                 cost_nanos=tier_price(cost_tiers, ordinal) if cost_tiers else 0, ordinal=ordinal,
                 price_tiers=price.tiers, cost_tiers=cost_tiers, rate_from_us=price.effective_from_us), windows_after


def rate_delivery(quote: Quote, delivered_before: int) -> tuple[int, int, int]:
    """``(ordinal, price_nanos, cost_nanos)`` of a delivered message whose tier key already
    had ``delivered_before`` charged deliveries this month; ``(0, 0, 0)`` when free."""
    require_int(delivered_before, "delivered_before", minimum=0)
    if not quote.billable:
        return 0, 0, 0
    ordinal = delivered_before + 1
    cost = tier_price(quote.cost_tiers, ordinal) if quote.cost_tiers else 0
    return ordinal, tier_price(quote.price_tiers, ordinal), cost
