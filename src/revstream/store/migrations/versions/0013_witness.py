"""Witnessed checkpoints and the licensor console (issue 17).

Host side: the cosignatures witnesses return for the log's checkpoints
(`log_cosignatures`) and each witness's work state (`log_witnesses`). Licensor side: the
hosts a licensor's console follows (`licensor_hosts`), every statement it fetched with the
verification outcome and its figures (`licensor_statements`, money as unit/nanos pairs),
and one row per sync of a host (`licensor_syncs`). New tables only: nothing is rewritten.

Revision ID: 0013
"""

from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _pair(name: str) -> list[sa.Column]:
    return [sa.Column(f"{name}_units", sa.BigInteger, nullable=True),
            sa.Column(f"{name}_nanos", sa.BigInteger, nullable=True)]


def upgrade() -> None:
    op.create_table(
        "log_cosignatures",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("witness_vkey", sa.String(512), primary_key=True),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("timestamp_s", sa.BigInteger, nullable=False),
        sa.Column("received_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_log_cosignatures_witness", "log_cosignatures", ["witness_vkey", "size"])
    op.create_table(
        "log_witnesses",
        sa.Column("witness_vkey", sa.String(512), primary_key=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until_us", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_us", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_attempt_us", sa.BigInteger, nullable=True),
        sa.Column("last_cosigned_us", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_table(
        "licensor_hosts",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("vkey", sa.Text, nullable=False),
        sa.Column("token_env", sa.String(100), nullable=False),
        sa.Column("witnesses", sa.Text, nullable=False),
        sa.Column("quorum", sa.Integer, nullable=False),
        sa.Column("tiles_url", sa.Text, nullable=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "licensor_statements",
        sa.Column("host", sa.String(100), sa.ForeignKey("licensor_hosts.name"), primary_key=True),
        sa.Column("statement_id", sa.String(100), primary_key=True),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("agreement_id", sa.String(64), nullable=True),
        sa.Column("licensor", sa.String(255), nullable=True),
        sa.Column("origin", sa.Text, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("effective_from", sa.String(10), nullable=True),
        sa.Column("effective_to", sa.String(10), nullable=True),
        *_pair("gross_total"),
        *_pair("share_total"),
        *_pair("minimum_top_up"),
        *_pair("cap_reduction"),
        sa.Column("share_total_minor", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("evidence", sa.Text, nullable=True),
        sa.Column("checked_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_licensor_statements_period", "licensor_statements", ["period"])
    op.create_table(
        "licensor_syncs",
        sa.Column("sync_id", sa.String(40), primary_key=True),
        sa.Column("host", sa.String(100), nullable=False),
        sa.Column("period", sa.String(7), nullable=True),
        sa.Column("started_us", sa.BigInteger, nullable=False),
        sa.Column("finished_us", sa.BigInteger, nullable=False),
        sa.Column("listed", sa.Integer, nullable=False),
        sa.Column("verified", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("unchecked", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_licensor_syncs_host", "licensor_syncs", ["host", "started_us"])


def downgrade() -> None:
    for table in ("licensor_syncs", "licensor_statements", "licensor_hosts", "log_witnesses", "log_cosignatures"):
        op.drop_table(table)
