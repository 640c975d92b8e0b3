"""Licence compliance (issue 15): monthly active users (keyed hashes while exact, a
HyperLogLog sketch above the bound), acceptable-use counts per month, the MAU alerts fired
(one row per month and percent), and the `licence` leaves of closed months.

Revision ID: 0012
"""

from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "licence_mau",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("users", sa.BigInteger, nullable=False),
        sa.Column("registers", sa.LargeBinary, nullable=True),
        sa.Column("threshold_users", sa.BigInteger, nullable=True),
        sa.Column("threshold_licence", sa.String(64), nullable=True),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "licence_mau_users",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("user_hash", sa.BigInteger, primary_key=True, autoincrement=False),
    )
    op.create_table(
        "licence_use_counts",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("counter", sa.String(16), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "licence_mau_alerts",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("percent", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("threshold_users", sa.BigInteger, nullable=False),
        sa.Column("users", sa.BigInteger, nullable=False),
        sa.Column("fired_us", sa.BigInteger, nullable=False),
        sa.Column("webhook_status", sa.String(64), nullable=True),
    )
    op.create_table(
        "licence_leaves",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("users", sa.BigInteger, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("error_ppm", sa.Integer, nullable=False),
        sa.Column("sketch_sha256", sa.String(64), nullable=False),
        sa.Column("threshold_users", sa.BigInteger, nullable=True),
        sa.Column("threshold_licence", sa.String(64), nullable=True),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=True),
        sa.Column("settled_period", sa.String(7), nullable=True),
    )


def downgrade() -> None:
    for table in ("licence_leaves", "licence_mau_alerts", "licence_use_counts", "licence_mau_users", "licence_mau"):
        op.drop_table(table)
