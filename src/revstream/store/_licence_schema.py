"""Tables of licence compliance (issue 15): monthly active users, acceptable-use counts, the
alerts fired and the `licence` leaves of closed months. Created by migration 0013.

No end user is stored: `licence_mau_users` holds keyed hashes (the first 64 bits of
`revstream.licence.end_user_hash`: BLAKE2b-64 keyed with the host's licence secret, stored as
signed BIGINT: hash - 2^63), and only
while a month's count is exact; above `mau_exact_users_max` the month keeps a HyperLogLog
sketch in `licence_mau.registers` and the hashes are deleted.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, String, Table, Text

from ._schema import metadata

# One row per calendar month (UTC): how its count is kept, the count as of the last merge,
# the sketch once it is one, and the licence threshold the gateway reckoned in force.
licence_mau = Table(
    "licence_mau",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("method", String(8), nullable=False),
    Column("users", BigInteger, nullable=False),
    Column("registers", LargeBinary, nullable=True),
    Column("threshold_users", BigInteger, nullable=True),
    Column("threshold_licence", String(64), nullable=True),
    Column("updated_us", BigInteger, nullable=False),
)

# The distinct end-user hashes of a month while its count is exact.
licence_mau_users = Table(
    "licence_mau_users",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("user_hash", BigInteger, primary_key=True, autoincrement=False),
)

# Acceptable-use counters per month: `counter` is a hazard category (S1..S14) or one of
# classified, flagged, refused, unavailable. Counts only, never content.
licence_use_counts = Table(
    "licence_use_counts",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("counter", String(16), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# One row per (month, percent) alert fired: the row is what makes it fire once, across
# workers, replicas and restarts.
licence_mau_alerts = Table(
    "licence_mau_alerts",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("percent", Integer, primary_key=True, autoincrement=False),
    Column("threshold_users", BigInteger, nullable=False),
    Column("users", BigInteger, nullable=False),
    Column("fired_us", BigInteger, nullable=False),
    Column("webhook_status", String(64), nullable=True),
)

# A closed month's figures, frozen by its period's close and appended as a `licence` leaf (a
# source settled by position: `log_index`, `settled_period`). `counts` is the JSON object of
# the acceptable-use counters.
licence_leaves = Table(
    "licence_leaves",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("users", BigInteger, nullable=False),
    Column("method", String(8), nullable=False),
    Column("error_ppm", Integer, nullable=False),
    Column("sketch_sha256", String(64), nullable=False),
    Column("threshold_users", BigInteger, nullable=True),
    Column("threshold_licence", String(64), nullable=True),
    Column("counts", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("log_index", BigInteger, nullable=True),
    Column("settled_period", String(7), nullable=True),
)
