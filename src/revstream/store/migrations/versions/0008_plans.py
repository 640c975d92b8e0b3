"""Plans, subscriptions, quota windows, tax rates and invoices; the stream, plan,
subscription, included tokens and invoice of each usage record; a customer's country.

Revision ID: 0008
"""

from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INVOICED = sa.text("invoice_number IS NOT NULL")


def upgrade() -> None:
    op.add_column("customers", sa.Column("country", sa.String(2), nullable=True))
    op.add_column("usage_records", sa.Column("stream", sa.String(16), nullable=False, server_default="api"))
    op.add_column("usage_records", sa.Column("plan_id", sa.String(40), nullable=True))
    op.add_column("usage_records", sa.Column("subscription_id", sa.String(40), nullable=True))
    op.add_column("usage_records", sa.Column("tokens_included", sa.Integer, nullable=True))
    op.add_column("usage_records", sa.Column("invoice_number", sa.BigInteger, nullable=True))
    op.create_index("ix_usage_records_invoice", "usage_records", ["invoice_number"],
                    sqlite_where=INVOICED, postgresql_where=INVOICED)
    op.create_table(
        "plans",
        sa.Column("plan_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("fee_nanos", sa.BigInteger, nullable=False),
        sa.Column("tokens_included", sa.BigInteger, nullable=False),
        sa.Column("overage_nanos_per_mtok", sa.BigInteger, nullable=True),
        sa.Column("tokens_per_day", sa.BigInteger, nullable=False),
        sa.Column("models", sa.Text, nullable=False),
        sa.Column("minimum_nanos", sa.BigInteger, nullable=False),
        sa.Column("discount_bps", sa.Integer, nullable=False),
        sa.Column("requests_per_minute", sa.Integer, nullable=True),
        sa.Column("tokens_per_minute", sa.Integer, nullable=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.String(40), primary_key=True),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.customer_id"), nullable=False),
        sa.Column("plan_id", sa.String(40), sa.ForeignKey("plans.plan_id"), nullable=False),
        sa.Column("started_us", sa.BigInteger, nullable=False),
        sa.Column("ended_us", sa.BigInteger, nullable=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_subscriptions_customer", "subscriptions", ["customer_id", "started_us"])
    op.create_table(
        "plan_windows",
        sa.Column("subscription_id", sa.String(40), primary_key=True),
        sa.Column("window_start_us", sa.BigInteger, primary_key=True),
        sa.Column("tokens_used", sa.BigInteger, nullable=False),
        sa.Column("tokens_reserved", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "tax_rates",
        sa.Column("country", sa.String(2), primary_key=True),
        sa.Column("rate_bps", sa.Integer, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )
    counter = op.create_table(
        "invoice_counter",
        sa.Column("counter_id", sa.Integer, primary_key=True),
        sa.Column("next_number", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(counter, [{"counter_id": 1, "next_number": 1}])
    op.create_table(
        "invoices",
        sa.Column("number", sa.BigInteger, primary_key=True),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.customer_id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("total_minor", sa.BigInteger, nullable=False),
        sa.Column("ledger_entry_id", sa.String(64), nullable=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("customer_id", "period", name="uq_invoices_customer_period"),
    )


def downgrade() -> None:
    for table in ("invoices", "invoice_counter", "tax_rates", "plan_windows"):
        op.drop_table(table)
    op.drop_index("ix_subscriptions_customer", "subscriptions")
    op.drop_table("subscriptions")
    op.drop_table("plans")
    op.drop_index("ix_usage_records_invoice", "usage_records")
    with op.batch_alter_table("usage_records") as batch:
        for column in ("invoice_number", "tokens_included", "subscription_id", "plan_id", "stream"):
            batch.drop_column(column)
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("country")
