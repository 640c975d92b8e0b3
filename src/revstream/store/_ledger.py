"""Ledger storage: immutable entries and postings, and the balances derived from them.

Balances are maintained in the same transaction as the postings that change them, so a
reservation reads one row instead of summing history; `check_ledger` re-derives every
balance from the postings and reports any difference.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

from sqlalchemy import Connection, Engine, insert, select

from ..ledger import JournalEntry
from ..money import check_amount_range
from ..periods import us_of_datetime
from ._schema import account_balances, ledger_entries, ledger_postings
from ._amounts import amount_values, join
from ._sql import upsert_add_amount


def post_entries(connection: Connection, entries: Sequence[JournalEntry], request_ids: Sequence[str | None] = ()) -> None:
    """Write balanced entries (validated when they were built) and update balances."""
    if not entries:
        return
    request_ids = list(request_ids) or [None] * len(entries)
    deltas: dict[tuple[str, str, str], int] = defaultdict(int)
    for entry in entries:
        for p in entry.postings:
            deltas[(p.account.owner, str(p.account.kind), p.currency)] += p.nanos
    _check_balances(connection, deltas)  # first: a refusal writes nothing, whatever the caller does next
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
