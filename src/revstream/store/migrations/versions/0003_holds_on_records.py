"""Holds live on the pending usage record; usage charges are booked per batch.

A request's hold (reserved_nanos, its funding account and budget windows) is kept
on its usage record while it is pending, so the reserved amount is derived from the
pending records and no separate hold rows or hold postings are written. Finalized
records point at the ledger entry that booked their charge (one per customer,
funding account and currency per batch).

Revision ID: 0003
"""

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("usage_records", sa.Column("funding_kind", sa.String(32), nullable=True))
    op.add_column("usage_records", sa.Column("budget_windows", sa.Text, nullable=True))
    op.add_column("usage_records", sa.Column("ledger_entry_id", sa.String(64), nullable=True))
    op.create_index("ix_usage_records_ledger_entry", "usage_records", ["ledger_entry_id"])
    op.drop_table("reservations")


def downgrade() -> None:
    op.create_table(
        "reservations",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_nanos", sa.BigInteger, nullable=False),
        sa.Column("funding_kind", sa.String(32), nullable=False),
        sa.Column("budget_windows", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.drop_index("ix_usage_records_ledger_entry", "usage_records")
    with op.batch_alter_table("usage_records") as batch:
        for name in ("ledger_entry_id", "budget_windows", "funding_kind"):
            batch.drop_column(name)
