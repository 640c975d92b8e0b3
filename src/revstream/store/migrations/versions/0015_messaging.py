"""Paid business messaging (issue 14): channels, contacts and their opt-in records,
templates with their category and review history, the rate card, conversations with their
windows, messages with their held, booked and released money (and their place in the log),
the month's charged deliveries per volume tier key, and the webhook events already seen.
New tables only: nothing is rewritten.

Revision ID: 0015
"""

from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "msg_channels",
        sa.Column("channel_id", sa.String(40), primary_key=True),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("phone_number_id", sa.String(32), nullable=True, unique=True),
        sa.Column("app_secret_env", sa.String(128), nullable=True),
        sa.Column("access_token_env", sa.String(128), nullable=True),
        sa.Column("verify_token_env", sa.String(128), nullable=True),
        sa.Column("ai_model", sa.String(200), nullable=True),
        sa.Column("market", sa.String(32), nullable=False),
        sa.Column("country", sa.String(32), nullable=False),
        sa.Column("auth_international", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "msg_contacts",
        sa.Column("contact_id", sa.String(40), primary_key=True),
        sa.Column("channel_id", sa.String(40), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("market", sa.String(32), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("channel_id", "address", name="uq_msg_contacts_address"),
    )
    op.create_table(
        "msg_opt_ins",
        sa.Column("opt_in_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("contact_id", sa.String(40), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
    )
    op.create_table(
        "msg_templates",
        sa.Column("template_id", sa.String(40), primary_key=True),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("customer_id", "name", "language", name="uq_msg_templates_name"),
    )
    op.create_table(
        "msg_template_changes",
        sa.Column("template_id", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("review_state", sa.String(16), nullable=True),
    )
    op.create_table(
        "msg_rate_rows",
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("market", sa.String(32), primary_key=True),
        sa.Column("category", sa.String(32), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("book", sa.String(8), primary_key=True),
        sa.Column("effective_from_us", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("tier_from", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("tier_to", sa.BigInteger, nullable=True),
        sa.Column("price_nanos", sa.BigInteger, nullable=False),
        sa.Column("imported_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "msg_conversations",
        sa.Column("conversation_id", sa.String(40), primary_key=True),
        sa.Column("channel_id", sa.String(40), nullable=False),
        sa.Column("contact_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("service_until_us", sa.BigInteger, nullable=True),
        sa.Column("entry_inbound_us", sa.BigInteger, nullable=True),
        sa.Column("entry_reply_until_us", sa.BigInteger, nullable=True),
        sa.Column("entry_from_us", sa.BigInteger, nullable=True),
        sa.Column("entry_until_us", sa.BigInteger, nullable=True),
        sa.Column("last_model", sa.String(200), nullable=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("channel_id", "contact_id", name="uq_msg_conversations_contact"),
    )
    op.create_table(
        "msg_messages",
        sa.Column("message_id", sa.String(40), primary_key=True),
        sa.Column("conversation_id", sa.String(40), nullable=False),
        sa.Column("channel_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),  # "in" or "out"
        sa.Column("platform_id", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),  # sa.text, template
        sa.Column("template_id", sa.String(40), nullable=True),
        sa.Column("body", sa.Text, nullable=True),  # what the business and its contact see; never in a leaf
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("seen", sa.Text, nullable=False, server_default=""),  # statuses seen, ";"-joined
        sa.Column("quote", sa.Text, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("priced_category", sa.String(32), nullable=True),
        sa.Column("pricing_type", sa.String(32), nullable=True),
        sa.Column("window_state", sa.String(32), nullable=True),
        sa.Column("market", sa.String(32), nullable=True),
        sa.Column("quoted_nanos", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("hold_nanos", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("charge_nanos", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cost_nanos", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("ordinal", sa.Integer, nullable=False, server_default="0"),
        sa.Column("booked", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("final", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("funding_kind", sa.String(32), nullable=True),
        sa.Column("budget_windows", sa.Text, nullable=True),
        sa.Column("sent_us", sa.BigInteger, nullable=True),
        sa.Column("delivered_us", sa.BigInteger, nullable=True),
        sa.Column("failed_us", sa.BigInteger, nullable=True),
        sa.Column("mismatch", sa.Text, nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("attribution", sa.String(16), nullable=True),
        sa.Column("usage_request_id", sa.String(64), nullable=True),
        sa.Column("log_index", sa.BigInteger, nullable=True),
        sa.Column("settled_period", sa.String(7), nullable=True),
        sa.UniqueConstraint("channel_id", "platform_id", name="uq_msg_messages_platform"),
    )
    op.create_table(
        "msg_tier_counts",
        sa.Column("customer_id", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("market", sa.String(32), primary_key=True),
        sa.Column("category", sa.String(32), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("delivered", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "msg_webhook_events",
        sa.Column("channel_id", sa.String(40), primary_key=True),
        sa.Column("event_key", sa.String(300), primary_key=True),
        sa.Column("received_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_msg_channels_customer", "msg_channels", ["customer_id"])
    op.create_index("ix_msg_opt_ins_contact", "msg_opt_ins", ["contact_id"])
    op.create_index("ix_msg_conversations_customer", "msg_conversations", ["customer_id", "updated_us"])
    op.create_index("ix_msg_messages_conversation", "msg_messages", ["conversation_id", "time_us"])
    op.create_index("ix_msg_messages_time", "msg_messages", ["time_us"])
    op.create_index("ix_msg_messages_ready", "msg_messages", ["final", "log_index"])


def downgrade() -> None:
    for table in ('msg_webhook_events', 'msg_tier_counts', 'msg_messages', 'msg_conversations', 'msg_rate_rows', 'msg_template_changes', 'msg_templates', 'msg_opt_ins', 'msg_contacts', 'msg_channels'):
        op.drop_table(table)
