"""Tables of paid business messaging (issue 14). Created by migration 0015.

A business is a customer; its channels, their contacts (address, market, opt-in records),
its templates (category and review history), the imported rate card, one conversation per
(channel, contact) with its windows, and every message in and out. An outbound message holds
its quoted price until the channel reports it `delivered` (booked) or `failed` (released);
once final it waits (`log_index` NULL) to become a `message` leaf, and a period's close
settles it by position (`settled_period`). Webhook events are remembered by key, so a retried
delivery changes nothing. Phone numbers live in `msg_contacts.address` only: never in a leaf.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint, text

from ._schema import metadata

msg_channels = Table(
    "msg_channels",
    metadata,
    Column("channel_id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("phone_number_id", String(32), nullable=True, unique=True),
    # The NAME of the environment variable holding the app secret, never the secret.
    Column("app_secret_env", String(128), nullable=True),
    Column("access_token_env", String(128), nullable=True),
    Column("verify_token_env", String(128), nullable=True),  # the webhook subscription's verify token
    Column("ai_model", String(200), nullable=True),
    # Market given to a webchat visitor; the business's own country (authentication-international).
    Column("market", String(32), nullable=False),
    Column("country", String(32), nullable=False),
    Column("auth_international", Boolean, nullable=False, server_default=text("false")),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_msg_channels_customer", "customer_id"),
)

msg_contacts = Table(
    "msg_contacts",
    metadata,
    Column("contact_id", String(40), primary_key=True),
    Column("channel_id", String(40), nullable=False),
    Column("address", String(64), nullable=False),
    Column("market", String(32), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("channel_id", "address", name="uq_msg_contacts_address"),
)

msg_opt_ins = Table(
    "msg_opt_ins",
    metadata,
    Column("opt_in_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("contact_id", String(40), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("time_us", BigInteger, nullable=False),
    Column("source", String(200), nullable=False),
    Index("ix_msg_opt_ins_contact", "contact_id"),
)

msg_templates = Table(
    "msg_templates",
    metadata,
    Column("template_id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False),
    Column("name", String(512), nullable=False),
    Column("language", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("customer_id", "name", "language", name="uq_msg_templates_name"),
)

# A template's history: the first change sets category and review state; later ones a
# review outcome or a re-categorization, each from its time on.
msg_template_changes = Table(
    "msg_template_changes",
    metadata,
    Column("template_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("time_us", BigInteger, nullable=False),
    Column("category", String(32), nullable=True),
    Column("review_state", String(16), nullable=True),
)

msg_rate_rows = Table(
    "msg_rate_rows",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("market", String(32), primary_key=True),
    Column("category", String(32), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("book", String(8), primary_key=True),
    Column("effective_from_us", BigInteger, primary_key=True, autoincrement=False),
    Column("tier_from", BigInteger, primary_key=True, autoincrement=False),
    Column("tier_to", BigInteger, nullable=True),
    Column("price_nanos", BigInteger, nullable=False),
    Column("imported_us", BigInteger, nullable=False),
)

msg_conversations = Table(
    "msg_conversations",
    metadata,
    Column("conversation_id", String(40), primary_key=True),
    Column("channel_id", String(40), nullable=False),
    Column("contact_id", String(40), nullable=False),
    Column("customer_id", String(40), nullable=False),
    Column("service_until_us", BigInteger, nullable=True),
    Column("entry_inbound_us", BigInteger, nullable=True),
    Column("entry_reply_until_us", BigInteger, nullable=True),
    Column("entry_from_us", BigInteger, nullable=True),
    Column("entry_until_us", BigInteger, nullable=True),
    # The model that last answered here (attribution of later template fees).
    Column("last_model", String(200), nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    UniqueConstraint("channel_id", "contact_id", name="uq_msg_conversations_contact"),
    Index("ix_msg_conversations_customer", "customer_id", "updated_us"),
)

msg_messages = Table(
    "msg_messages",
    metadata,
    Column("message_id", String(40), primary_key=True),
    Column("conversation_id", String(40), nullable=False),
    Column("channel_id", String(40), nullable=False),
    Column("customer_id", String(40), nullable=False),
    Column("direction", String(3), nullable=False),  # "in" or "out"
    Column("platform_id", String(200), nullable=True),
    Column("kind", String(16), nullable=False),  # text, template
    Column("template_id", String(40), nullable=True),
    Column("body", Text, nullable=True),  # what the business and its contact see; never in a leaf
    Column("time_us", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("seen", Text, nullable=False, server_default=""),  # statuses seen, ";"-joined
    # The quote (JSON: category, window, tiers in force at the send time) and the money.
    Column("quote", Text, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("category", String(32), nullable=True),
    Column("priced_category", String(32), nullable=True),
    Column("pricing_type", String(32), nullable=True),
    Column("window_state", String(32), nullable=True),
    Column("market", String(32), nullable=True),
    Column("quoted_nanos", BigInteger, nullable=False, server_default="0"),
    Column("hold_nanos", BigInteger, nullable=False, server_default="0"),
    Column("charge_nanos", BigInteger, nullable=False, server_default="0"),
    Column("cost_nanos", BigInteger, nullable=False, server_default="0"),
    Column("ordinal", Integer, nullable=False, server_default="0"),
    Column("booked", Boolean, nullable=False, server_default=text("false")),
    Column("final", Boolean, nullable=False, server_default=text("false")),
    Column("funding_kind", String(32), nullable=True),
    Column("budget_windows", Text, nullable=True),
    Column("sent_us", BigInteger, nullable=True),
    Column("delivered_us", BigInteger, nullable=True),
    Column("failed_us", BigInteger, nullable=True),
    Column("mismatch", Text, nullable=True),
    Column("model", String(200), nullable=True),
    Column("attribution", String(16), nullable=True),
    Column("usage_request_id", String(64), nullable=True),
    Column("log_index", BigInteger, nullable=True),
    Column("settled_period", String(7), nullable=True),
    Column("invoice_number", BigInteger, nullable=True),  # the invoice that billed its fee (migration 0017)
    UniqueConstraint("channel_id", "platform_id", name="uq_msg_messages_platform"),
    Index("ix_msg_messages_conversation", "conversation_id", "time_us"),
    Index("ix_msg_messages_time", "time_us"),
    Index("ix_msg_messages_ready", "final", "log_index"),
    Index("ix_msg_messages_invoice", "customer_id", "invoice_number"),
)

# Charged deliveries per tier key (business, channel kind, market, priced category, month).
msg_tier_counts = Table(
    "msg_tier_counts",
    metadata,
    Column("customer_id", String(40), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("market", String(32), primary_key=True),
    Column("category", String(32), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("delivered", BigInteger, nullable=False),
)

msg_webhook_events = Table(
    "msg_webhook_events",
    metadata,
    Column("channel_id", String(40), primary_key=True),
    Column("event_key", String(300), primary_key=True),
    Column("received_us", BigInteger, nullable=False),
)
