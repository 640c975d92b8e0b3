"""The rights registry (issue 16): rights holders (a token hash, never the token), their
registered works (title, mode, limit, window count: never the text, whose hashes live in the
host's index files) and the recitation events the guard recorded, settled by position like
the other leaves of kinds beside usage and fees.

Revision ID: 0014
"""

from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recitation_holders",
        sa.Column("holder_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("token_sha256", sa.String(64), nullable=True, unique=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "recitation_works",
        sa.Column("work_id", sa.String(40), primary_key=True),
        sa.Column("number", sa.BigInteger, nullable=False, unique=True),
        sa.Column("holder_id", sa.String(40), sa.ForeignKey("recitation_holders.holder_id"), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("limit_words", sa.Integer, nullable=True),
        sa.Column("windows", sa.BigInteger, nullable=False),
        sa.Column("words", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("removed_us", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "recitation_events",
        sa.Column("event_id", sa.String(40), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("work_id", sa.String(40), nullable=False),
        sa.Column("holder_id", sa.String(40), nullable=False),
        sa.Column("window_hash", sa.String(16), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=True),
        sa.Column("settled_period", sa.String(7), nullable=True),
    )
    op.create_index("ix_recitation_events_holder", "recitation_events", ["holder_id", "time_us"])
    op.create_index("ix_recitation_events_waiting", "recitation_events", ["log_index", "time_us"])


def downgrade() -> None:
    for table in ("recitation_events", "recitation_works", "recitation_holders"):
        op.drop_table(table)
