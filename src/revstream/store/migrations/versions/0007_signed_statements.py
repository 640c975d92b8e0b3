"""Signed statements: the checkpoint sizes each period close was bound to, the signed
note of each statement, and the statements a verifier checked.

Revision ID: 0007
"""

from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("period_closes", sa.Column("log_size", sa.BigInteger, nullable=True))
    op.add_column("period_closes", sa.Column("log_previous_size", sa.BigInteger, nullable=True))
    op.add_column("statements", sa.Column("signed_note", sa.Text, nullable=True))
    op.create_table(
        "audited_statements",
        sa.Column("origin", sa.String(255), primary_key=True),
        sa.Column("statement_id", sa.String(64), primary_key=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("licensor", sa.String(255), nullable=False),
        sa.Column("agreement_id", sa.String(40), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("share_total_minor", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("checked_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audited_statements")
    with op.batch_alter_table("statements") as batch:
        batch.drop_column("signed_note")
    with op.batch_alter_table("period_closes") as batch:
        batch.drop_column("log_previous_size")
        batch.drop_column("log_size")
