"""Dialect helpers: the few statements SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(connection: Connection, table: Table):
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(connection: Connection, table: Table, rows: Sequence[dict], keys: Sequence[str]) -> int:
    """Insert rows whose key is not taken yet; returns how many were inserted."""
    if not rows:
        return 0
    # Count what RETURNING gives back: drivers report no reliable row count for
    # ON CONFLICT DO NOTHING, and the count is how a caller learns it won a race.
    statement = (
        _insert(connection, table).values(list(rows)).on_conflict_do_nothing(index_elements=list(keys))
        .returning(table.c[keys[0]])
    )
    return len(connection.execute(statement).all())


def upsert_add(connection: Connection, table: Table, rows: Sequence[dict], keys: Sequence[str], add: Sequence[str]) -> None:
    """Insert rows, or add their `add` columns onto the existing row with the same key."""
    if not rows:
        return
    statement = _insert(connection, table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={column: table.c[column] + statement.excluded[column] for column in add}
    )
    connection.execute(statement, list(rows))
