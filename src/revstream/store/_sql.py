"""Dialect helpers: the few statements SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from ._amounts import add_amount, names


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


def upsert_add_amount(connection: Connection, table: Table, rows: Sequence[dict], keys: Sequence[str], name: str) -> None:
    """Insert rows, or add their money column `name` (a units/nanos pair, see `_amounts`)
    onto the existing row with the same key, with the carry."""
    if not rows:
        return
    statement = _insert(connection, table)
    units, nanos = names(name)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_=add_amount(table, name, statement.excluded[units], statement.excluded[nanos]),
    )
    connection.execute(statement, list(rows))


def placeholders(connection: Connection, count: int) -> str:
    """The driver's own parameter markers: qmark for sqlite3, format for psycopg."""
    marker = "%s" if connection.dialect.name == "postgresql" else "?"
    return ", ".join([marker] * count)


def _marker(pg_type: str) -> str:
    """psycopg's parameter marker for an array of `pg_type`: binary for bytea (a text array
    of bytea escapes every byte: ~3x slower for the log's hashes), text otherwise."""
    return "%b" if pg_type == "bytea" else "%s"


def bulk_insert(connection: Connection, table: str, columns: Sequence[str], pg_types: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert many rows in one go. PostgreSQL gets a single INSERT ... SELECT FROM
    unnest(arrays) (one statement per batch instead of one per row); SQLite, in-process,
    gets a driver-level executemany."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        arrays = ", ".join(f"{_marker(kind)}::{kind}[]" for kind in pg_types)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
        connection.exec_driver_sql(sql, tuple(list(column) for column in zip(*rows)))
        return
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders(connection, len(columns))})"
    connection.exec_driver_sql(sql, list(rows))


def bulk_update(
    connection: Connection, table: str, key: str, columns: Sequence[str], pg_types: Sequence[str],
    rows: Sequence[tuple], condition: str = "",
) -> None:
    """Update many rows by key; each row is (*column values, key value). On PostgreSQL one
    UPDATE ... FROM unnest(arrays); on SQLite a driver-level executemany.

    On PostgreSQL the target rows are also named by ``key = ANY(keys)``: joined with the
    unnest alone, the planner hashes the whole table (a sequential scan per batch, so every
    batch costs more as the table grows: the log appender fell to a few thousand leaves a
    second); with it, the rows are found through the key's index."""
    if not rows:
        return
    extra = f" AND {condition}" if condition else ""
    if connection.dialect.name == "postgresql":
        names = (*columns, key)
        arrays = ", ".join(f"%s::{kind}[]" for kind in pg_types)
        assignments = ", ".join(f"{column} = v.{column}" for column in columns)
        sql = (
            f"UPDATE {table} AS t SET {assignments} FROM unnest({arrays}) AS v({', '.join(names)}) "
            f"WHERE t.{key} = v.{key} AND t.{key} = ANY(%s::{pg_types[-1]}[]){extra.replace(' AND ', ' AND t.')}"
        )
        values = [list(column) for column in zip(*rows)]
        connection.exec_driver_sql(sql, (*values, values[-1]))
        return
    assignments = ", ".join(f"{column} = ?" for column in columns)
    connection.exec_driver_sql(f"UPDATE {table} SET {assignments} WHERE {key} = ?{extra}", list(rows))
