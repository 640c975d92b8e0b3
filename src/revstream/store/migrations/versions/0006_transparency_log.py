"""Transparency log: the log position of each usage record, the log head, the hashes of
complete subtrees, signed checkpoints, and licensor tokens.

Final records without a log position are the log's outbox: a partial index keeps
picking them cheap, and it is empty once the appender has caught up. The unique index
on the position is partial too, so finalizing a record (log_index still NULL) writes
nothing into it.

Revision ID: 0006
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UNLOGGED = sa.text("status != 'pending' AND log_index IS NULL")
LOGGED = sa.text("log_index IS NOT NULL")


def upgrade() -> None:
    op.add_column("usage_records", sa.Column("log_index", sa.BigInteger, nullable=True))
    op.create_index(
        "ix_usage_records_unlogged", "usage_records", ["finalized_us", "request_id"],
        sqlite_where=UNLOGGED, postgresql_where=UNLOGGED,
    )
    op.create_index(
        "ux_usage_records_log_index", "usage_records", ["log_index"], unique=True,
        sqlite_where=LOGGED, postgresql_where=LOGGED,
    )
    log_state = op.create_table(
        "log_state",
        sa.Column("log_id", sa.Integer, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(log_state, [{"log_id": 1, "size": 0, "updated_us": 0}])
    op.create_table(
        "log_subtrees",
        sa.Column("level", sa.Integer, primary_key=True),
        sa.Column("subtree_index", sa.BigInteger, primary_key=True),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "licensor_tokens",
        sa.Column("token_id", sa.String(40), primary_key=True),
        sa.Column("licensor_id", sa.String(40), sa.ForeignKey("licensors.licensor_id"), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("licensor_tokens")
    op.drop_table("log_checkpoints")
    op.drop_table("log_subtrees")
    op.drop_table("log_state")
    op.drop_index("ux_usage_records_log_index", "usage_records")
    op.drop_index("ix_usage_records_unlogged", "usage_records")
    op.drop_column("usage_records", "log_index")
