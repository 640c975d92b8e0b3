"""Ledger storage: immutable entries and postings, and the balances derived from them.

Balances are maintained in the same transaction as the postings that change them, so a
reservation reads one row instead of summing history; `check_ledger` re-derives every
balance from the postings and reports any difference.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import Connection, Engine, func, insert, select

from ..ledger import JournalEntry
from ..periods import us_of_datetime
from ._schema import account_balances, ledger_entries, ledger_postings, usage_records
from ._sql import upsert_add


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
        {"entry_id": entry.entry_id, "owner": p.account.owner, "kind": str(p.account.kind), "currency": p.currency, "nanos": p.nanos}
        for entry in entries
        for p in entry.postings
    ]
    connection.execute(insert(ledger_postings), postings)
    deltas: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in postings:
        deltas[(row["owner"], row["kind"], row["currency"])] += row["nanos"]
    upsert_add(
        connection, account_balances,
        [{"owner": o, "kind": k, "currency": c, "nanos": n} for (o, k, c), n in sorted(deltas.items())],
        ("owner", "kind", "currency"), ("nanos",),
    )


def _us(entry: JournalEntry) -> int:
    return us_of_datetime(entry.occurred_at)


def account_balance(connection: Connection, owner: str, kind: str, currency: str, lock: bool = False) -> int:
    query = select(account_balances.c.nanos).where(
        account_balances.c.owner == owner, account_balances.c.kind == kind, account_balances.c.currency == currency
    )
    if lock:
        query = query.with_for_update()
    return connection.execute(query).scalar() or 0


def balances_of(engine: Engine, owners: Iterable[str]) -> dict[tuple[str, str, str], int]:
    with engine.connect() as connection:
        rows = connection.execute(select(account_balances).where(account_balances.c.owner.in_(list(owners))))
        return {(r.owner, r.kind, r.currency): r.nanos for r in rows}


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
        unbalanced = connection.execute(
            select(ledger_postings.c.entry_id)
            .group_by(ledger_postings.c.entry_id, ledger_postings.c.currency)
            .having(func.sum(ledger_postings.c.nanos) != 0)
        ).scalars().all()
        derived = {
            (r.owner, r.kind, r.currency): int(r.total)
            for r in connection.execute(
                select(ledger_postings.c.owner, ledger_postings.c.kind, ledger_postings.c.currency,
                       func.sum(ledger_postings.c.nanos).label("total"))
                .group_by(ledger_postings.c.owner, ledger_postings.c.kind, ledger_postings.c.currency)
            )
        }
        stored = {(r.owner, r.kind, r.currency): r.nanos for r in connection.execute(select(account_balances))}
        charges = _charge_mismatches(connection)
    mismatches = tuple(
        (*key, stored.get(key, 0), derived.get(key, 0))
        for key in sorted(set(stored) | set(derived))
        if stored.get(key, 0) != derived.get(key, 0)
    )
    return LedgerCheck(entries, postings, tuple(sorted(set(unbalanced))), mismatches, charges)


def _charge_mismatches(connection: Connection) -> tuple[tuple[str, int, int], ...]:
    booked = {
        r.entry_id: -int(r.total)
        for r in connection.execute(
            select(ledger_postings.c.entry_id, func.sum(ledger_postings.c.nanos).label("total"))
            .where(ledger_postings.c.kind == "host_revenue", ledger_postings.c.entry_id.like("use_%"))
            .group_by(ledger_postings.c.entry_id)
        )
    }
    charged = {
        r.ledger_entry_id: int(r.total)
        for r in connection.execute(
            select(usage_records.c.ledger_entry_id, func.sum(usage_records.c.charge_nanos).label("total"))
            .where(usage_records.c.ledger_entry_id.is_not(None))
            .group_by(usage_records.c.ledger_entry_id)
        )
    }
    return tuple(
        (entry_id, booked.get(entry_id, 0), charged.get(entry_id, 0))
        for entry_id in sorted(set(booked) | set(charged))
        if booked.get(entry_id, 0) != charged.get(entry_id, 0)
    )
