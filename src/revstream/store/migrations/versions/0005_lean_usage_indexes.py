"""Leaner indexes on usage records: every index is rewritten by each finalization, and
the metering benchmark showed the writes are what limits throughput.

- the covering settle index becomes an index on time_us alone (settle reads a month by
  time; 1M records settle in 0.8 s on SQLite and 0.4 s on PostgreSQL without covering);
- the status index becomes a partial index over pending records only (by customer: the
  holds a reservation sums), which stays as small as the requests in flight;
- the ledger_entry_id index goes: only `ledger check` groups by it, scanning anyway.

Revision ID: 0005
"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.drop_index("ix_usage_records_settle", "usage_records")
    op.create_index("ix_usage_records_time", "usage_records", ["time_us"])
    op.drop_index("ix_usage_records_status", "usage_records")
    op.create_index(
        "ix_usage_records_pending", "usage_records", ["customer_id"], sqlite_where=PENDING, postgresql_where=PENDING
    )
    op.drop_index("ix_usage_records_ledger_entry", "usage_records")


def downgrade() -> None:
    op.create_index("ix_usage_records_ledger_entry", "usage_records", ["ledger_entry_id"])
    op.drop_index("ix_usage_records_pending", "usage_records")
    op.create_index("ix_usage_records_status", "usage_records", ["status"])
    op.drop_index("ix_usage_records_time", "usage_records")
    op.create_index(
        "ix_usage_records_settle", "usage_records",
        ["time_us", "model", "status", "late_period", "tokens_prompt", "tokens_completion"],
    )
