"""Typed, versioned log leaves: the bytes of every leaf are stored at append, and fees
become leaves of their own.

An existing log keeps its leaves: each one is written into `log_leaves` as the version-1
projection of its usage record, in the shape whose hash is the leaf's stored hash (the
shape of the code that appended it). A record changed since matches no shape: its newest
projection is kept, and `log check` reports it by the stored hash, as before.

Revision ID: 0010
"""

from alembic import op
import sqlalchemy as sa

from revstream.leaves import LEGACY_SHAPES, LEGACY_USAGE_VERSION, UsageRecordFields, usage_leaf
from revstream.transparency import leaf_hash

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BATCH = 10_000
_UNLOGGED_FEES = sa.text("log_index IS NULL")
_FIELDS = ("request_id", "time_us", "customer_id", "model", "endpoint", "status", "tokens_prompt",
           "tokens_completion", "usage_source", "charge_nanos", "currency", "late_period", "stream", "plan_id",
           "tokens_included")


def upgrade() -> None:
    op.create_table(
        "log_leaves",
        sa.Column("leaf_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "fees",
        sa.Column("fee_id", sa.String(40), primary_key=True),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("plan_id", sa.String(40), nullable=False),
        sa.Column("fee_kind", sa.String(16), nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_exact", sa.Text, nullable=False),
        sa.Column("from_us", sa.BigInteger, nullable=False),
        sa.Column("to_us", sa.BigInteger, nullable=False),
        sa.Column("models", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_fees_period", "fees", ["period"])
    op.create_index("ix_fees_unlogged", "fees", ["created_us", "fee_id"],
                    sqlite_where=_UNLOGGED_FEES, postgresql_where=_UNLOGGED_FEES)
    _store_existing_leaves()


def _store_existing_leaves() -> None:
    """Write the version-1 bytes of every leaf already appended, in bounded batches."""
    import hmac

    bind = op.get_bind()
    secret_hex = bind.execute(sa.text("SELECT value FROM meta WHERE key = 'log_pseudonym_secret'")).scalar()
    if secret_hex is None:
        return  # no log has ever been appended: nothing to keep
    secret = bytes.fromhex(secret_hex)
    leaves = sa.table("log_leaves", sa.column("leaf_index"), sa.column("kind"), sa.column("version"),
                      sa.column("source_id"), sa.column("data"))
    after = -1
    while True:
        rows = bind.execute(sa.text(
            f"SELECT u.log_index, s.hash, {', '.join('u.' + name for name in _FIELDS)} FROM usage_records u "
            f"LEFT JOIN log_subtrees s ON s.level = 0 AND s.subtree_index = u.log_index "
            f"WHERE u.log_index > :after ORDER BY u.log_index LIMIT {_BATCH}"), {"after": after}).all()
        if not rows:
            return
        values = []
        for row in rows:
            fields = dict(zip(_FIELDS, row[2:]))
            fields["customer"] = hmac.digest(secret, fields.pop("customer_id").encode("utf-8"), "sha256").hex()
            fields["plan"] = fields.pop("plan_id")
            record = UsageRecordFields(**fields)
            shapes = [usage_leaf(record, LEGACY_USAGE_VERSION, shape) for shape in LEGACY_SHAPES]
            data = next((leaf for leaf in shapes if row[1] is not None and leaf_hash(leaf) == bytes(row[1])), shapes[0])
            values.append({"leaf_index": row[0], "kind": "usage", "version": LEGACY_USAGE_VERSION,
                           "source_id": fields["request_id"], "data": data})
        bind.execute(leaves.insert(), values)
        after = rows[-1][0]
