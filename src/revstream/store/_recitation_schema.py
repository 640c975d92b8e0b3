"""Tables of the rights registry (issue 16): rights holders, their registered works and the
recitation events the gateway's guard recorded. Created by migration 0014.

No text of a work is stored anywhere in the database: a work is a title, a mode and a
limit here, and its window hashes live in the host's index files (`revstream.recitation.
IndexDirectory`). An event names the window hash the guard found, never the words.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table

from ._schema import metadata

# A rights holder; `token_sha256` is the SHA-256 of its bearer token (shown once), or null
# until `holders token` gives it one.
recitation_holders = Table(
    "recitation_holders",
    metadata,
    Column("holder_id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("token_sha256", String(64), nullable=True, unique=True),
    Column("created_us", BigInteger, nullable=False),
)

# A registered work: `number` is its number in the index files (never reused), `windows` and
# `words` what its fingerprint held; `limit_words` null: the host's `[recitation] limit_words`. A removed work keeps its row (old events name it) with
# `removed_us` set; its hashes have left the index.
recitation_works = Table(
    "recitation_works",
    metadata,
    Column("work_id", String(40), primary_key=True),
    Column("number", BigInteger, nullable=False, unique=True),
    Column("holder_id", String(40), ForeignKey("recitation_holders.holder_id"), nullable=False),
    Column("title", String(300), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("limit_words", Integer, nullable=True),
    Column("windows", BigInteger, nullable=False),
    Column("words", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("removed_us", BigInteger, nullable=True),
)

# One registered work found in one response (blocked or cited), written in the same
# transaction as the response's final usage record; a `recitation` leaf once appended (a
# source settled by position: `log_index`, `settled_period`).
recitation_events = Table(
    "recitation_events",
    metadata,
    Column("event_id", String(40), primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("time_us", BigInteger, nullable=False),
    Column("model", String(200), nullable=False),
    Column("work_id", String(40), nullable=False),
    Column("holder_id", String(40), nullable=False),
    Column("window_hash", String(16), nullable=False),
    Column("action", String(8), nullable=False),
    Column("log_index", BigInteger, nullable=True),
    Column("settled_period", String(7), nullable=True),
)
Index("ix_recitation_events_holder", recitation_events.c.holder_id, recitation_events.c.time_us)
Index("ix_recitation_events_waiting", recitation_events.c.log_index, recitation_events.c.time_us)
