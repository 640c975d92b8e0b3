"""Paid business messaging: the pure core (issue 14). No I/O, no clock, no storage.

* Channels and contacts with opt-in records (``Channel``, ``Contact``, ``OptIn``).
* Windows: 24-hour customer-service window, 72-hour free entry window (``Windows``,
  ``on_inbound``, ``on_outbound``, ``window_at``).
* Templates with review states and category history (``Template``, ``draft_template``).
* Rate cards from CSV, the version in force at an instant, volume tiers
  (``parse_rate_card_csv``, ``RateCard``).
* The price decision before sending (``quote_message``) and the charge at delivery
  (``rate_delivery``), WhatsApp per-message pricing since 1 July 2025.
* Reconciliation as a state machine (``accept_message``, ``apply_status``) and the
  webhook replay guard (``admit_event``).
* Channel adapters behind one interface (``ADAPTERS``: ``webchat``, ``whatsapp``):
  send requests, webhook parsing, ``X-Hub-Signature-256`` checks.
* Log leaves and the settlement tally (``message_leaf``, ``parse_message_leaf``,
  ``tally_messaging``).

Errors derive from ``MessagingError`` (see ``_errors``).
"""

from revstream.messaging._adapters import ChannelAdapter, SendPlan, sign_body, verify_signature
from revstream.messaging._contacts import (
    CHANNEL_KINDS,
    OPT_IN_SCOPES,
    SCOPE_MARKETING,
    SCOPE_MESSAGING,
    Channel,
    Contact,
    OptIn,
    market_for_number,
)
from revstream.messaging._errors import (
    REFUSAL_CODES,
    ChannelSendError,
    LeafError,
    MessagingError,
    MessagingValueError,
    NoRateError,
    RateCardError,
    SendRefused,
    SignatureInvalidError,
    SignatureMissingError,
    TemplateParameterError,
    TransitionError,
    WebhookError,
    WebhookPayloadError,
)
from revstream.messaging._events import (
    STATUSES,
    InboundMessage,
    PlatformPricing,
    Referral,
    StatusUpdate,
    TemplateCategoryUpdate,
    TemplateReviewUpdate,
    WebhookBatch,
)
from revstream.messaging._leaves import (
    LEAF_KIND,
    LEAF_VERSION,
    STREAM_MESSAGING,
    MessageLeaf,
    MessagingTotal,
    attribute_model,
    message_leaf,
    parse_message_leaf,
    tally_messaging,
)
from revstream.messaging._pricing import (
    KIND_TEMPLATE,
    KIND_TEXT,
    PRICING_TYPES,
    Outbound,
    Quote,
    Sender,
    TierKey,
    quote_message,
    rate_delivery,
)
from revstream.messaging._ratecards import (
    BOOK_COST,
    BOOK_PRICE,
    PRICED_CATEGORIES,
    RateCard,
    RateKey,
    RateRow,
    Tier,
    parse_rate_card_csv,
)
from revstream.messaging._reconcile import (
    ADMIT_DUPLICATE,
    ADMIT_FUTURE,
    ADMIT_NEW,
    ADMIT_STALE,
    MessageRecord,
    Transition,
    accept_message,
    admit_event,
    apply_status,
    event_age_max_us,
)
from revstream.messaging._registry import ADAPTERS, adapter_for
from revstream.messaging._templates import (
    REVIEW_STATES,
    TEMPLATE_CATEGORIES,
    Template,
    TemplateChange,
    draft_template,
)
from revstream.messaging._units import ENTRY_WINDOW_US, SERVICE_WINDOW_US, instant_us, json_nanos, month_of_us
from revstream.messaging._windows import Windows, WindowState, on_inbound, on_outbound, window_at, windows_for_send

__all__ = [
    "ADAPTERS",
    "ADMIT_DUPLICATE",
    "ADMIT_FUTURE",
    "ADMIT_NEW",
    "ADMIT_STALE",
    "BOOK_COST",
    "BOOK_PRICE",
    "CHANNEL_KINDS",
    "ENTRY_WINDOW_US",
    "KIND_TEMPLATE",
    "KIND_TEXT",
    "LEAF_KIND",
    "LEAF_VERSION",
    "OPT_IN_SCOPES",
    "PRICED_CATEGORIES",
    "PRICING_TYPES",
    "REFUSAL_CODES",
    "REVIEW_STATES",
    "SCOPE_MARKETING",
    "SCOPE_MESSAGING",
    "SERVICE_WINDOW_US",
    "STATUSES",
    "STREAM_MESSAGING",
    "TEMPLATE_CATEGORIES",
    "Channel",
    "ChannelAdapter",
    "ChannelSendError",
    "Contact",
    "InboundMessage",
    "LeafError",
    "MessageLeaf",
    "MessageRecord",
    "MessagingError",
    "MessagingTotal",
    "MessagingValueError",
    "NoRateError",
    "OptIn",
    "Outbound",
    "PlatformPricing",
    "Quote",
    "RateCard",
    "RateCardError",
    "RateKey",
    "RateRow",
    "Referral",
    "SendPlan",
    "SendRefused",
    "Sender",
    "SignatureInvalidError",
    "SignatureMissingError",
    "StatusUpdate",
    "Template",
    "TemplateCategoryUpdate",
    "TemplateChange",
    "TemplateParameterError",
    "TemplateReviewUpdate",
    "Tier",
    "TierKey",
    "Transition",
    "TransitionError",
    "WebhookBatch",
    "WebhookError",
    "WebhookPayloadError",
    "WindowState",
    "Windows",
    "accept_message",
    "adapter_for",
    "admit_event",
    "apply_status",
    "attribute_model",
    "draft_template",
    "event_age_max_us",
    "instant_us",
    "json_nanos",
    "market_for_number",
    "message_leaf",
    "month_of_us",
    "on_inbound",
    "on_outbound",
    "parse_message_leaf",
    "parse_rate_card_csv",
    "quote_message",
    "rate_delivery",
    "sign_body",
    "tally_messaging",
    "verify_signature",
    "window_at",
    "windows_for_send",
]
