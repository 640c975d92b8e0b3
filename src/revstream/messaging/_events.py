"""What channels report back, as channel-neutral values: inbound messages, delivery
statuses (with the platform's own pricing verdict when it gives one) and template
category changes. Adapters parse their platform's webhook JSON into these.

Addresses (phone numbers, webchat sessions) appear here because the edge needs them to
find the contact; they never go further than the store's contact table, and never into
a log leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from revstream.messaging._errors import MessagingValueError
from revstream.messaging._units import require_int

STATUS_SENT: Final = "sent"
STATUS_DELIVERED: Final = "delivered"
STATUS_READ: Final = "read"
STATUS_FAILED: Final = "failed"
STATUSES: Final = (STATUS_SENT, STATUS_DELIVERED, STATUS_READ, STATUS_FAILED)
ENTRY_AD: Final = "ad"
ENTRY_PAGE: Final = "page"
ENTRY_POINTS: Final = (ENTRY_AD, ENTRY_PAGE)


@dataclass(frozen=True, slots=True)
class Referral:
    """How an inbound message entered: an ``ad`` click (click-to-WhatsApp, or an ad of the
    ads feature on webchat) or a ``page`` button; ``click_id`` ties it to the ad click."""

    entry_point: str
    source_id: str = ""
    click_id: str = ""

    def __post_init__(self) -> None:
        if self.entry_point not in ENTRY_POINTS:
            raise MessagingValueError(f"entry point must be one of {', '.join(ENTRY_POINTS)}, got {self.entry_point!r}")


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message from a contact. ``channel_address``: the business side (the WhatsApp phone
    number id; the webchat channel id); ``sender``: the contact's address."""

    platform_id: str
    channel_address: str
    sender: str
    time_us: int
    message_type: str
    text: str | None = None
    referral: Referral | None = None

    def __post_init__(self) -> None:
        require_int(self.time_us, "inbound time_us")

    @property
    def event_key(self) -> str:
        """What a retried delivery of the same inbound message repeats."""
        return f"in:{self.platform_id}"


@dataclass(frozen=True, slots=True)
class PlatformPricing:
    """The platform's own pricing verdict on a message (a status webhook's ``pricing``):
    ``category`` as the platform priced it, ``pricing_type`` (``regular``,
    ``free_customer_service``, ``free_entry_point``) and the deprecated ``billable``."""

    category: str
    pricing_type: str | None = None
    billable: bool | None = None
    pricing_model: str | None = None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery status of a message the business sent (``platform_id`` is the id the
    send returned)."""

    platform_id: str
    channel_address: str
    status: str
    time_us: int
    recipient: str = ""
    pricing: PlatformPricing | None = None
    error_codes: tuple[int, ...] = ()
    callback_data: str = ""

    def __post_init__(self) -> None:
        require_int(self.time_us, "status time_us")
        if self.status not in STATUSES:
            raise MessagingValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")

    @property
    def event_key(self) -> str:
        """What a retried delivery of the same status repeats: the message and the status.
        (``callback_data`` carries our message id when the send set it.)"""
        return f"st:{self.platform_id}:{self.status}"


@dataclass(frozen=True, slots=True)
class TemplateCategoryUpdate:
    """The platform changed (or, ``impending``, will change) a template's category."""

    template_id: str
    name: str
    language: str
    new_category: str
    time_us: int
    previous_category: str | None = None
    impending: bool = False

    @property
    def event_key(self) -> str:
        return f"tc:{self.template_id}:{self.new_category}:{self.time_us}:{int(self.impending)}"


@dataclass(frozen=True, slots=True)
class TemplateReviewUpdate:
    """The platform's review outcome for a template (a review state of ``_templates``)."""

    template_id: str
    name: str
    language: str
    review_state: str
    time_us: int

    @property
    def event_key(self) -> str:
        return f"tr:{self.template_id}:{self.review_state}:{self.time_us}"


@dataclass(frozen=True, slots=True)
class WebhookBatch:
    """Everything one webhook request carried, in the order it carried it."""

    inbound: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    template_updates: tuple[TemplateCategoryUpdate, ...] = ()
    template_reviews: tuple[TemplateReviewUpdate, ...] = ()
    ignored_fields: tuple[str, ...] = ()
