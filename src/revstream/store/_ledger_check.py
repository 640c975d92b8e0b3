"""`revstream ledger check`: the ledger re-derived from its postings, and every usage record
re-priced (see `_repricing`). Read only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import Connection, Engine, func, or_, select

from ._amounts import amount_sum, join, sum_request_amounts
from ._repricing import reprice_records
from ._schema import account_balances, ledger_entries, ledger_postings, usage_records


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    entries: int
    postings: int
    unbalanced_entries: tuple[str, ...]
    balance_mismatches: tuple[tuple[str, str, str, int, int], ...]  # owner, kind, currency, stored, derived
    # Usage entries whose booked revenue differs from the charges of the records naming them.
    charge_mismatches: tuple[tuple[str, int, int], ...] = ()  # entry, booked, charged
    # Records whose charge is not what their tokens cost at the price in force (see `_repricing`).
    repriced_records: int = 0
    repricing_mismatches: tuple[tuple[str, int, int], ...] = ()  # request, charged, expected
    repricing_mismatch_count: int = 0

    @property
    def ok(self) -> bool:
        return (not self.unbalanced_entries and not self.balance_mismatches and not self.charge_mismatches
                and not self.repricing_mismatch_count)

    def reasons(self) -> list[str]:
        """Every failing check, in words for the text output."""
        found = [f"entry {entry} does not balance" for entry in self.unbalanced_entries]
        found += [f"the {kind} balance of {owner} in {currency} is stored as {stored} nanos but its postings sum to "
                  f"{derived}" for owner, kind, currency, stored, derived in self.balance_mismatches]
        found += [f"usage entry {entry} booked {booked} nanos of revenue but its records are charged {charged}"
                  for entry, booked, charged in self.charge_mismatches]
        found += [f"usage record {request} is charged {charged} nanos but its tokens cost {expected} at the price in "
                  f"force" for request, charged, expected in self.repricing_mismatches]
        hidden = self.repricing_mismatch_count - len(self.repricing_mismatches)
        return found + ([f"... and {hidden} more records charged differently"] if hidden > 0 else [])


def check_ledger(engine: Engine, progress: Callable[[int, int], None] | None = None) -> LedgerCheck:
    """Every entry sums to zero per currency, every stored balance equals the sum of its
    postings, every usage entry equals its records' charges, and every record's charge is
    what its tokens cost (re-priced, `progress` told as records are read)."""
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
        repriced = reprice_records(connection, progress)
    mismatches = tuple(
        (*key, stored.get(key, 0), derived.get(key, 0))
        for key in sorted(set(stored) | set(derived))
        if stored.get(key, 0) != derived.get(key, 0)
    )
    return LedgerCheck(entries, postings, tuple(sorted(set(unbalanced))), mismatches, charges,
                       repriced.records, repriced.mismatches, repriced.mismatch_count)


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
