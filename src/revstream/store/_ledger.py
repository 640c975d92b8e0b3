"""Ledger storage: immutable entries and postings, and the balances derived from them.

Balances are maintained in the same transaction as the postings that change them, so a
reservation reads one row instead of summing history; `check_ledger` re-derives every
balance from the postings and reports any difference.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import Connection, Engine, func, insert, or_, select

from ..ledger import JournalEntry
from ..money import check_amount_range
from ..periods import us_of_datetime
from ._schema import account_balances, ledger_entries, ledger_postings, usage_records
from ._amounts import amount_sum, amount_values, join, sum_request_amounts
from ._sql import upsert_add_amount


def post_entries(connection: Connection, entries: Sequence[JournalEntry], request_ids: Sequence[str | None] = ()) -> None:
    """Write balanced entries (validated when they were built) and update balances."""
    if not entries:
        return
    request_ids = list(request_ids) or [None] * len(entries)
    connection.execute(
        insert(ledger_entries),
        [
            {
                "entry_id": entry.entry_id, "time_us": _us(entry), "description": entry.description[:200],
                "request_id": request_id, "reverses_entry_id": entry.reverses_entry_id,
            }
            for entry, request_id in zip(entries, request_ids)
        ],
    )
    postings = [
        {"entry_id": entry.entry_id, "owner": p.account.owner, "kind": str(p.account.kind), "currency": p.currency,
         **amount_values("", p.nanos)}
        for entry in entries
        for p in entry.postings
    ]
    connection.execute(insert(ledger_postings), postings)
    deltas: dict[tuple[str, str, str], int] = defaultdict(int)
    for entry in entries:
        for p in entry.postings:
            deltas[(p.account.owner, str(p.account.kind), p.currency)] += p.nanos
    _check_balances(connection, deltas)
    upsert_add_amount(
        connection, account_balances,
        [{"owner": o, "kind": k, "currency": c, **amount_values("", n)} for (o, k, c), n in sorted(deltas.items())],
        ("owner", "kind", "currency"), "",
    )


def _check_balances(connection: Connection, deltas: dict[tuple[str, str, str], int]) -> None:
    """Refuse (AmountRangeError, before anything of the entries is kept) postings that
    would carry a balance beyond the range every amount lives in."""
    owners = sorted({owner for owner, _, _ in deltas})
    current = {
        (r.owner, r.kind, r.currency): join(r.units, r.nanos)
        for r in connection.execute(select(account_balances).where(account_balances.c.owner.in_(owners)))
    }
    for key, delta in deltas.items():
        check_amount_range(current.get(key, 0) + delta, f"the {key[1]} balance of {key[0]} in {key[2]}")


def _us(entry: JournalEntry) -> int:
    return us_of_datetime(entry.occurred_at)


def balances_of(engine: Engine, owners: Iterable[str]) -> dict[tuple[str, str, str], int]:
    with engine.connect() as connection:
        rows = connection.execute(select(account_balances).where(account_balances.c.owner.in_(list(owners))))
        return {(r.owner, r.kind, r.currency): join(r.units, r.nanos) for r in rows}


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    entries: int
    postings: int
    unbalanced_entries: tuple[str, ...]
    balance_mismatches: tuple[tuple[str, str, str, int, int], ...]  # owner, kind, currency, stored, derived
    # Usage entries whose booked revenue differs from the charges of the records naming them.
    charge_mismatches: tuple[tuple[str, int, int], ...] = ()  # entry, booked, charged

    @property
    def ok(self) -> bool:
        return not self.unbalanced_entries and not self.balance_mismatches and not self.charge_mismatches


def check_ledger(engine: Engine) -> LedgerCheck:
    """Every entry sums to zero per currency, and every stored balance equals the sum of its postings."""
    with engine.connect() as connection:
        entries = connection.execute(select(func.count()).select_from(ledger_entries)).scalar() or 0
        postings = connection.execute(select(func.count()).select_from(ledger_postings)).scalar() or 0
        units, nanos = amount_sum(ledger_postings, "")
        # An entry balances when its units and nanos sum to zero together; sums that do
        # not are few, so they are compared exactly in Python.
        unbalanced = [
            r.entry_id for r in connection.execute(
                select(ledger_postings.c.entry_id, units, nanos)
                .group_by(ledger_postings.c.entry_id, ledger_postings.c.currency)
                .having(or_(units != 0, nanos != 0))
            ) if join(r[1], r[2]) != 0
        ]
        derived = {
            (r.owner, r.kind, r.currency): join(r[3], r[4])
            for r in connection.execute(
                select(ledger_postings.c.owner, ledger_postings.c.kind, ledger_postings.c.currency, units, nanos)
                .group_by(ledger_postings.c.owner, ledger_postings.c.kind, ledger_postings.c.currency)
            )
        }
        stored = {(r.owner, r.kind, r.currency): join(r.units, r.nanos) for r in connection.execute(select(account_balances))}
        charges = _charge_mismatches(connection)
    mismatches = tuple(
        (*key, stored.get(key, 0), derived.get(key, 0))
        for key in sorted(set(stored) | set(derived))
        if stored.get(key, 0) != derived.get(key, 0)
    )
    return LedgerCheck(entries, postings, tuple(sorted(set(unbalanced))), mismatches, charges)


def _charge_mismatches(connection: Connection) -> tuple[tuple[str, int, int], ...]:
    booked = {
        r.entry_id: -join(r[1], r[2])
        for r in connection.execute(
            select(ledger_postings.c.entry_id, *amount_sum(ledger_postings, ""))
            .where(ledger_postings.c.kind == "host_revenue", ledger_postings.c.entry_id.like("use_%"))
            .group_by(ledger_postings.c.entry_id)
        )
    }
    charged = {
        r.ledger_entry_id: join(r[1], r[2])
        for r in connection.execute(
            select(usage_records.c.ledger_entry_id, *sum_request_amounts(usage_records.c.charge_nanos))
            .where(usage_records.c.ledger_entry_id.is_not(None))
            .group_by(usage_records.c.ledger_entry_id)
        )
    }
    return tuple(
        (entry_id, booked.get(entry_id, 0), charged.get(entry_id, 0))
        for entry_id in sorted(set(booked) | set(charged))
        if booked.get(entry_id, 0) != charged.get(entry_id, 0)
    )
