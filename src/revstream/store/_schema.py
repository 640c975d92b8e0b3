"""Tables, as SQLAlchemy Core metadata. Alembic migrations create them; this module
is the single description the repositories query against.

Times are integer microseconds since the Unix epoch, UTC (`*_us`): exact, sortable,
the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_us", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(40), primary_key=True),
    Column("customer_id", String(40), ForeignKey("customers.customer_id"), nullable=False),
    Column("key_sha256", String(64), nullable=False, unique=True),
    Column("key_hint", String(16), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger, nullable=True),
)

usage_records = Table(
    "usage_records",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("time_us", BigInteger, nullable=False),
    Column("finalized_us", BigInteger, nullable=True),
    Column("customer_id", String(40), nullable=False),
    Column("key_id", String(40), nullable=False),
    Column("model", String(200), nullable=False),
    Column("backend", String(32), nullable=False),
    Column("endpoint", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("tokens_prompt", Integer, nullable=False),
    Column("tokens_completion", Integer, nullable=False),
    Column("usage_source", String(16), nullable=False),
    Column("ttft_ms", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("worker_id", String(40), nullable=False),
    Index("ix_usage_records_customer_time", "customer_id", "time_us"),
    Index("ix_usage_records_status", "status"),
)

workers = Table(
    "workers",
    metadata,
    Column("worker_id", String(40), primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("hostname", String(255), nullable=False),
    Column("started_us", BigInteger, nullable=False),
    Column("heartbeat_us", BigInteger, nullable=False),
)
