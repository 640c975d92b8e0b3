"""Send, quote, reconcile: one outbound message as a pure state machine.

``accept_message`` turns a quote into a record holding the quoted price (the caller
places that hold on the business's funds). Each delivery status then moves it with
``apply_status``, which returns the money effects for the caller to book:

* the first ``delivered`` (or ``read``, which implies delivered: the platform sends no
  ``delivered`` when a message is read at once) books the charge at the message's place
  in the month and releases the hold (the charge never exceeds it); the tier counter of
  a billable message goes up by one;
* ``failed`` before any delivery releases the hold, charging nothing;
* a ``failed`` after a delivery changes nothing (the platform bills delivered messages;
  a second device can report a failure late); a ``delivered`` after a ``failed`` books
  the charge then (its hold was already released, so the charge is booked directly);
* a status already seen for the message is a duplicate: no effect at all. Platforms
  retry webhooks, so this is how a message is charged at most once.

The platform's own per-message cost is booked with the charge, as a separate amount, so
the margin of each message is ``charge_nanos - cost_nanos``. When the platform's status
carries its pricing verdict and it disagrees with ours (another category, or free where
we charge), the record keeps the first ``mismatch`` for review; the business's charge is
still ours (the rate card and the rules above), never silently re-priced.

``admit_event`` is the replay guard for webhook events: a key seen before is a
duplicate; an event older than the platform's retry horizon or from the future is
refused, so the store only needs to remember keys for ``event_age_max_us``.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, replace
from typing import Final

from revstream.messaging._contacts import validate_id
from revstream.messaging._errors import TransitionError
from revstream.messaging._events import (
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_READ,
    STATUS_SENT,
    PlatformPricing,
    StatusUpdate,
)
from revstream.messaging._pricing import PRICING_FREE_ENTRY_POINT, Quote, rate_delivery
from revstream.messaging._units import DAY_US, HOUR_US, SECOND_US, require_int

STATUS_ACCEPTED: Final = "accepted"
MESSAGE_STATUSES: Final = (STATUS_ACCEPTED, STATUS_SENT, STATUS_DELIVERED, STATUS_READ, STATUS_FAILED)
event_age_max_us: Final = 7 * DAY_US + HOUR_US
"""The platform retries a webhook for up to 7 days; an hour of margin beyond that."""
clock_skew_max_us: Final = 5 * 60 * SECOND_US
"""How far in the future an event's own timestamp may lie (clocks differ)."""
ADMIT_NEW: Final = "new"
ADMIT_DUPLICATE: Final = "duplicate"
ADMIT_STALE: Final = "stale"
ADMIT_FUTURE: Final = "future"
_DELIVERED_LIKE: Final = frozenset((STATUS_DELIVERED, STATUS_READ))
_PLATFORM_CATEGORY: Final = {"authentication-international": "authentication_international",
                             "marketing_lite": "marketing"}


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One outbound message and where its money stands. ``hold_nanos`` is the part of the
    hold not yet released; ``charge_nanos``/``cost_nanos`` are booked once (``booked``)."""

    message_id: str
    quote: Quote
    hold_nanos: int
    status: str = STATUS_ACCEPTED
    seen: frozenset[str] = frozenset()
    platform_id: str = ""
    booked: bool = False
    charge_nanos: int = 0
    cost_nanos: int = 0
    ordinal: int = 0
    sent_us: int | None = None
    delivered_us: int | None = None
    failed_us: int | None = None
    verdict: PlatformPricing | None = None
    mismatch: str | None = None

    @property
    def margin_nanos(self) -> int:
        return self.charge_nanos - self.cost_nanos

    @property
    def final(self) -> bool:
        """Delivered (charged or free) or failed: its leaf can be written."""
        return self.booked or self.status == STATUS_FAILED


@dataclass(frozen=True, slots=True)
class Transition:
    """What one status did: the new record and the money to book now."""

    record: MessageRecord
    duplicate: bool = False
    charge_nanos: int = 0
    cost_nanos: int = 0
    release_nanos: int = 0
    counted: bool = False


def accept_message(message_id: str, quote: Quote, platform_id: str = "") -> MessageRecord:
    """The record of a quoted message handed to its channel; it holds the quoted price."""
    validate_id(message_id, "message_id")
    return MessageRecord(message_id=message_id, quote=quote, hold_nanos=quote.price_nanos, platform_id=platform_id)


def _display_status(seen: frozenset[str], booked: bool) -> str:
    if STATUS_READ in seen:
        return STATUS_READ
    if booked:
        return STATUS_DELIVERED
    if STATUS_FAILED in seen:
        return STATUS_FAILED
    return STATUS_SENT if STATUS_SENT in seen else STATUS_ACCEPTED


def _mismatch(quote: Quote, verdict: PlatformPricing) -> str | None:
    """How the platform's verdict disagrees with the quote, or None."""
    if verdict.pricing_type is not None and verdict.pricing_type != quote.pricing_type:
        return f"pricing type: ours {quote.pricing_type}, platform {verdict.pricing_type}"
    category = _PLATFORM_CATEGORY.get(verdict.category, verdict.category)
    if category == "referral_conversion":
        return None if quote.pricing_type == PRICING_FREE_ENTRY_POINT else "platform says free entry point, ours not"
    if category != quote.priced_category:
        return f"category: ours {quote.priced_category}, platform {category}"
    if verdict.pricing_type is None and verdict.billable is not None and verdict.billable != quote.billable:
        return f"billable: ours {quote.billable}, platform {verdict.billable}"
    return None


def apply_status(record: MessageRecord, update: StatusUpdate, delivered_before: int) -> Transition:
    """Apply one delivery status. ``delivered_before``: the charged deliveries of the
    quote's tier key so far this month (read by the caller, raised by one when
    ``counted``). Raises ``TransitionError`` for a status of another message."""
    if record.platform_id and update.platform_id != record.platform_id:
        raise TransitionError(f"status for platform message {update.platform_id!r} applied to message {record.message_id}")
    require_int(delivered_before, "delivered_before", minimum=0)
    if update.status in record.seen:
        return Transition(record, duplicate=True)
    seen = record.seen | {update.status}
    changes: dict = {"seen": seen}
    if update.pricing is not None and record.verdict is None:
        changes["verdict"] = update.pricing
        changes["mismatch"] = record.mismatch or _mismatch(record.quote, update.pricing)
    charge = cost = release = 0
    counted = False
    booked = record.booked
    if update.status in _DELIVERED_LIKE and not booked:
        ordinal, charge, cost = rate_delivery(record.quote, delivered_before)
        booked, release, counted = True, record.hold_nanos, record.quote.billable
        changes.update(booked=True, charge_nanos=charge, cost_nanos=cost, ordinal=ordinal, hold_nanos=0,
                       delivered_us=update.time_us)
    elif update.status == STATUS_FAILED and not booked:
        release = record.hold_nanos
        changes.update(hold_nanos=0, failed_us=update.time_us)
    elif update.status == STATUS_SENT:
        changes["sent_us"] = update.time_us
    changes["status"] = _display_status(seen, booked)
    return Transition(replace(record, **changes), charge_nanos=charge, cost_nanos=cost, release_nanos=release,
                      counted=counted)


def admit_event(event_key: str, event_time_us: int, now_us: int, seen: Container[str]) -> str:
    """Whether a webhook event may be processed: ``new``; ``duplicate`` (its key was seen:
    acknowledge, do nothing); ``stale`` (older than ``event_age_max_us``: a replay beyond
    what the store remembers) or ``future`` (beyond ``clock_skew_max_us``): refuse."""
    require_int(event_time_us, "event time_us")
    require_int(now_us, "now_us")
    if event_key in seen:
        return ADMIT_DUPLICATE
    if event_time_us < now_us - event_age_max_us:
        return ADMIT_STALE
    if event_time_us > now_us + clock_skew_max_us:
        return ADMIT_FUTURE
    return ADMIT_NEW
