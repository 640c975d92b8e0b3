"""A leaner log append: usage records lose the unique index on `log_index`, and the log's
head keeps where the appender's look for waiting records starts (`outbox_floor_us`).

Leaves are stored in `log_leaves` (primary key: the index) and read from there; nothing
reads usage records by their log index any more, and every index a row update touches is
paid for on every leaf appended (an update of `log_index` is never a PostgreSQL HOT update).
The index's guarantee (one record per position) is kept by `log_leaves`' primary key and the
appender's `log_index IS NULL` condition.

Revision ID: 0011
"""

from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ux_usage_records_log_index", table_name="usage_records")
    op.add_column("log_state", sa.Column("outbox_floor_us", sa.BigInteger, nullable=False, server_default="0"))
