"""Money: prices, the ledger, derived balances, budgets, reservations, idempotency;
billing settings on customers, rate limits on keys, charges on usage records.

Revision ID: 0002
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(64)


def upgrade() -> None:
    op.add_column("customers", sa.Column("billing_mode", sa.String(16), nullable=False, server_default="prepaid"))
    op.add_column("customers", sa.Column("currency", sa.String(3), nullable=True))
    op.add_column("customers", sa.Column("credit_limit_nanos", sa.BigInteger, nullable=True))
    op.add_column("api_keys", sa.Column("requests_per_minute", sa.Integer, nullable=True))
    op.add_column("api_keys", sa.Column("tokens_per_minute", sa.Integer, nullable=True))
    for column in (
        sa.Column("max_tokens", sa.Integer, nullable=True),
        sa.Column("charge_nanos", sa.BigInteger, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("reserved_nanos", sa.BigInteger, nullable=True),
    ):
        op.add_column("usage_records", column)
    op.create_table(
        "prices",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("effective_from_us", sa.BigInteger, primary_key=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("input_nanos_per_mtok", sa.BigInteger, nullable=False),
        sa.Column("output_nanos_per_mtok", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("entry_id", ID, primary_key=True),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("request_id", ID, nullable=True),
        sa.Column("reverses_entry_id", ID, nullable=True),
    )
    op.create_table(
        "ledger_postings",
        sa.Column("posting_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("entry_id", ID, nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("nanos", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_ledger_postings_entry", "ledger_postings", ["entry_id"])
    op.create_index("ix_ledger_postings_account", "ledger_postings", ["owner", "kind", "currency"])
    op.create_table(
        "account_balances",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("nanos", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "budgets",
        sa.Column("budget_id", sa.String(40), primary_key=True),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=False, server_default=""),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("limit_nanos", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("customer_id", "key_id", "period", name="uq_budgets_scope_period"),
    )
    op.create_table(
        "budget_windows",
        sa.Column("budget_id", sa.String(40), primary_key=True),
        sa.Column("window_start_us", sa.BigInteger, primary_key=True),
        sa.Column("spent_nanos", sa.BigInteger, nullable=False),
        sa.Column("reserved_nanos", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "reservations",
        sa.Column("request_id", ID, primary_key=True),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_nanos", sa.BigInteger, nullable=False),
        sa.Column("funding_kind", sa.String(32), nullable=False),
        sa.Column("budget_windows", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("customer_id", sa.String(40), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), primary_key=True),
        sa.Column("request_id", ID, nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("content_type", sa.String(100), nullable=True),
        sa.Column("body", sa.LargeBinary, nullable=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("idempotency_keys", "reservations", "budget_windows", "budgets", "account_balances",
                  "ledger_postings", "ledger_entries", "prices"):
        op.drop_table(table)
    with op.batch_alter_table("usage_records") as batch:
        for name in ("reserved_nanos", "currency", "charge_nanos", "max_tokens"):
            batch.drop_column(name)
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("tokens_per_minute")
        batch.drop_column("requests_per_minute")
    with op.batch_alter_table("customers") as batch:
        for name in ("credit_limit_nanos", "currency", "billing_mode"):
            batch.drop_column(name)
