"""Revenue share: licensors, model licensors, agreements, statements, period closes;
late and settled periods on usage records, and the index the settle aggregation reads.

Revision ID: 0004
"""

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LATE_UNSETTLED = sa.text("late_period IS NOT NULL AND settled_period IS NULL")


def upgrade() -> None:
    op.add_column("usage_records", sa.Column("late_period", sa.String(7), nullable=True))
    op.add_column("usage_records", sa.Column("settled_period", sa.String(7), nullable=True))
    op.create_index(
        "ix_usage_records_settle", "usage_records",
        ["time_us", "model", "status", "late_period", "tokens_prompt", "tokens_completion"],
    )
    op.create_index(
        "ix_usage_records_late", "usage_records", ["late_period"],
        sqlite_where=LATE_UNSETTLED, postgresql_where=LATE_UNSETTLED,
    )
    op.create_table(
        "licensors",
        sa.Column("licensor_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "model_licensors",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("licensor_id", sa.String(40), sa.ForeignKey("licensors.licensor_id"), nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "agreements",
        sa.Column("agreement_id", sa.String(40), primary_key=True),
        sa.Column("licensor_id", sa.String(40), sa.ForeignKey("licensors.licensor_id"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("effective_from", sa.String(10), nullable=False),
        sa.Column("effective_to", sa.String(10), nullable=True),
        sa.Column("terms_json", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "statements",
        sa.Column("statement_id", sa.String(64), primary_key=True),
        sa.Column("agreement_id", sa.String(40), sa.ForeignKey("agreements.agreement_id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("licensor_id", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("share_total_minor", sa.BigInteger, nullable=False),
        sa.Column("residue_nanos", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("agreement_id", "period", name="uq_statements_agreement_period"),
    )
    op.create_table(
        "period_closes",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_us", sa.BigInteger, nullable=False),
        sa.Column("closed_us", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    for table in ("period_closes", "statements", "agreements", "model_licensors", "licensors"):
        op.drop_table(table)
    op.drop_index("ix_usage_records_late", "usage_records")
    op.drop_index("ix_usage_records_settle", "usage_records")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("settled_period")
        batch.drop_column("late_period")
