"""Pins the public face of revstream.messaging, and keeps the core pure."""

from __future__ import annotations

import subprocess
import sys

import revstream.messaging as messaging

PUBLIC = {
    "ADAPTERS", "ADMIT_DUPLICATE", "ADMIT_FUTURE", "ADMIT_NEW", "ADMIT_STALE", "BOOK_COST", "BOOK_PRICE",
    "CHANNEL_KINDS", "ENTRY_WINDOW_US", "KIND_TEMPLATE", "KIND_TEXT", "LEAF_KIND", "LEAF_VERSION", "OPT_IN_SCOPES",
    "PRICED_CATEGORIES", "PRICING_TYPES", "REFUSAL_CODES", "REVIEW_STATES", "SCOPE_MARKETING", "SCOPE_MESSAGING",
    "SERVICE_WINDOW_US", "STATUSES", "STREAM_MESSAGING", "TEMPLATE_CATEGORIES",
    "Channel", "ChannelAdapter", "ChannelSendError", "Contact", "InboundMessage", "LeafError", "MessageLeaf",
    "MessageRecord", "MessagingError", "MessagingTotal", "MessagingValueError", "NoRateError", "OptIn", "Outbound",
    "PlatformPricing", "Quote", "RateCard", "RateCardError", "RateKey", "RateRow", "Referral", "SendPlan",
    "SendRefused", "Sender", "SignatureInvalidError", "SignatureMissingError", "StatusUpdate", "Template",
    "TemplateCategoryUpdate", "TemplateChange", "TemplateParameterError", "TemplateReviewUpdate", "Tier", "TierKey",
    "Transition", "TransitionError", "WebhookBatch", "WebhookError", "WebhookPayloadError", "WindowState", "Windows",
    "accept_message", "adapter_for", "admit_event", "apply_status", "attribute_model", "draft_template",
    "event_age_max_us", "instant_us", "json_nanos", "market_for_number", "message_leaf", "month_of_us", "on_inbound",
    "on_outbound", "parse_message_leaf", "parse_rate_card_csv", "quote_message", "rate_delivery", "sign_body",
    "tally_messaging", "verify_signature", "window_at", "windows_for_send",
}


def test_public_api_is_pinned():
    assert set(messaging.__all__) == PUBLIC and len(messaging.__all__) == len(PUBLIC)
    for name in messaging.__all__:
        assert hasattr(messaging, name), name


def test_core_imports_no_store_sqlalchemy_or_web_framework():
    code = ("import sys, revstream.messaging; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'starlette', 'uvicorn', 'aiohttp')"
            " or m.startswith(('revstream.store', 'revstream.gateway', 'revstream.settlement'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_errors_form_one_hierarchy():
    for name in messaging.__all__:
        value = getattr(messaging, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, messaging.MessagingError), name
