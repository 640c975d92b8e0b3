"""Amounts in the store: whole units beside nanos, as google.type.Money keeps them.

A money column ``X`` that balances, limits or totals can grow in is two signed 64-bit
columns: ``X_units`` (whole currency units) and ``X_nanos`` (the rest). Its value is
``X_units × 10^9 + X_nanos``; writers keep ``|X_nanos| < 10^9`` with the sign of the value
(rows written before migration 0009 keep the whole amount in ``X_nanos`` with units 0,
which the same formula reads). That holds ±9.2 × 10^18 units in every currency on SQLite
and PostgreSQL alike, and SQL can still sum and add: ``SUM(X_units)`` and ``SUM(X_nanos)``
are each exact, and an addition carries (see `add_amount`).

Amounts of one request (a charge, a hold, a price per million tokens) stay one 64-bit
column: a single request can never cost 9.2 × 10^9 units (the gateway refuses one whose
maximum cost would, before anything is written). Summing many of them could overflow, so
sums split each value first (`sum_request_amounts`).

Exact integers that are never aggregated in SQL (a statement's or invoice's total in minor
units) are stored as decimal text (`ExactInteger`).

SQLite silently turns an integer that overflows in arithmetic into a float; a CHECK on
every units column (``typeof(...) = 'integer'``) turns that into an error that rolls the
transaction back (see migration 0009), and `check_stored_amount` refuses such a value
before it is written.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import BigInteger, Column, String, func
from sqlalchemy.types import TypeDecorator

from ..money import NANOS_PER_UNIT, AmountRangeError, check_amount_range

UNITS_MAX: Final = 2**63 - 1
_BILLION: Final = NANOS_PER_UNIT


def split(nanos: int) -> tuple[int, int]:
    """``(units, nanos)`` of an amount, truncated toward zero: both carry its sign."""
    check_amount_range(nanos)
    units = abs(nanos) // _BILLION
    rest = abs(nanos) - units * _BILLION
    return (-units, -rest) if nanos < 0 else (units, rest)


def join(units: int | None, nanos: int | None) -> int | None:
    """The amount a (units, nanos) pair holds; None when both are NULL."""
    if units is None and nanos is None:
        return None
    return int(units or 0) * _BILLION + int(nanos or 0)


def names(name: str) -> tuple[str, str]:
    """The two column names of money column ``name`` ("" names the pair ``units``, ``nanos``)."""
    return (f"{name}_units", f"{name}_nanos") if name else ("units", "nanos")


def amount_columns(name: str, nullable: bool = False) -> tuple[Column, Column]:
    """The pair of columns of money column ``name``, for a table definition."""
    units, nanos = names(name)
    return (Column(units, BigInteger, nullable=nullable, server_default=None if nullable else "0"),
            Column(nanos, BigInteger, nullable=nullable))


def amount_values(name: str, nanos: int | None) -> dict[str, int | None]:
    """The column values that store ``nanos`` in money column ``name``."""
    units_name, nanos_name = names(name)
    if nanos is None:
        return {units_name: None, nanos_name: None}
    units, rest = split(nanos)
    return {units_name: units, nanos_name: rest}


def read_amount(row, name: str) -> int | None:
    """The amount of money column ``name`` in a result row."""
    units_name, nanos_name = names(name)
    mapping = row._mapping
    return join(mapping[units_name], mapping[nanos_name])


def amount_sum(table, name: str) -> tuple:
    """SUM of each column of money column ``name``: read back with `join`."""
    units_name, nanos_name = names(name)
    return func.coalesce(func.sum(table.c[units_name]), 0), func.coalesce(func.sum(table.c[nanos_name]), 0)


def add_amount(table, name: str, delta_units, delta_nanos) -> dict:
    """Column assignments that add (delta_units, delta_nanos) to money column ``name`` with
    the carry: the nanos part stays below 10^9 in magnitude and the value is exact."""
    units_name, nanos_name = names(name)
    nanos_sum = table.c[nanos_name] + delta_nanos
    return {units_name: table.c[units_name] + delta_units + nanos_sum // _BILLION,
            nanos_name: nanos_sum % _BILLION}


def sum_request_amounts(column) -> tuple:
    """SUM of a one-request amount column, split so the sum cannot overflow 64 bits
    (integer division and remainder truncate toward zero on SQLite and PostgreSQL alike)."""
    return (func.coalesce(func.sum(column // _BILLION), 0), func.coalesce(func.sum(column % _BILLION), 0))


def check_stored_amount(nanos: int, what: str = "amount") -> int:
    """``nanos`` if a units column can hold it, else AmountRangeError (nothing is written)."""
    if abs(nanos) // _BILLION > UNITS_MAX:
        raise AmountRangeError(f"{what} is beyond what a balance can hold")
    return nanos


class ExactInteger(TypeDecorator):
    """An exact integer of any size that SQL never aggregates, stored as its decimal text."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if type(value) is not int:
            raise TypeError(f"an exact integer column takes an int, got {type(value).__name__}")
        return str(value)

    def process_result_value(self, value, dialect):
        return None if value is None else int(value)
