"""Property tests: any sequence of money flows keeps the ledger balanced and exact."""

from collections import defaultdict
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.ledger import (
    Account,
    AccountKind,
    JournalEntry,
    balances,
    credit_top_up,
    reserve,
    reverse,
    rounding_adjustment,
    settle_reservation,
    settle_usage,
    validate_entries,
)
from revstream.money import Money

T = datetime(2025, 1, 1, tzinfo=timezone.utc)
CUSTOMERS = st.sampled_from(["alice", "bob"])
CURRENCIES = st.sampled_from(["USD", "EUR", "JPY"])
AMOUNTS = st.integers(min_value=1, max_value=10**15)

OPERATIONS = st.one_of(
    st.tuples(st.just("top_up"), CUSTOMERS, CURRENCIES, AMOUNTS),
    st.tuples(st.just("reserve"), CUSTOMERS, CURRENCIES, AMOUNTS),
    st.tuples(st.just("settle"), CUSTOMERS, CURRENCIES, AMOUNTS, st.integers(0, 10**15)),
    st.tuples(st.just("postpaid"), CUSTOMERS, CURRENCIES, AMOUNTS),
    st.tuples(st.just("rounding"), CUSTOMERS, CURRENCIES, st.integers(-(10**7), 10**7).filter(bool)),
    st.tuples(st.just("reverse"), st.integers(0, 10**6)),
)


def _entry(index: int, op: tuple, entries: list[JournalEntry], reversed_ids: set[str]) -> tuple[JournalEntry | None, int, str]:
    """Build the entry for ``op``; returns it with its host revenue effect (credit-positive)."""
    entry_id = f"e{index}"
    kind = op[0]
    if kind == "reverse":
        candidates = [e for e in entries if e.entry_id not in reversed_ids and e.reverses_entry_id is None]
        if not candidates:
            return None, 0, "USD"
        target = candidates[op[1] % len(candidates)]
        reversed_ids.add(target.entry_id)
        undo = reverse(target, entry_id=entry_id, occurred_at=T)
        revenue = sum(-p.nanos for p in target.postings if p.account.kind == AccountKind.HOST_REVENUE)
        return undo, -revenue, target.postings[0].currency
    customer, currency = op[1], op[2]
    if kind == "top_up":
        return credit_top_up(entry_id, T, customer=customer, amount=Money(op[3], currency)), 0, currency
    if kind == "reserve":
        return reserve(entry_id, T, customer=customer, amount=Money(op[3], currency)), 0, currency
    if kind == "settle":
        entry = settle_reservation(entry_id, T, customer=customer, host="host",
                                   reserved=Money(op[3], currency), charge=Money(op[4], currency))
        return entry, op[4], currency
    if kind == "postpaid":
        entry = settle_usage(entry_id, T, customer=customer, host="host", charge=Money(op[3], currency),
                             source=AccountKind.CUSTOMER_RECEIVABLE)
        return entry, op[3], currency
    account = Account(customer, AccountKind.CUSTOMER_RECEIVABLE)
    return rounding_adjustment(entry_id, T, account=account, delta_nanos=op[3], currency=currency), 0, currency


def _build(operations: list[tuple]) -> tuple[list[JournalEntry], dict[str, int]]:
    entries: list[JournalEntry] = []
    revenue: dict[str, int] = defaultdict(int)
    reversed_ids: set[str] = set()
    for index, op in enumerate(operations):
        entry, revenue_nanos, currency = _entry(index, op, entries, reversed_ids)
        if entry is not None:
            entries.append(entry)
            revenue[currency] += revenue_nanos
    return entries, revenue


@settings(max_examples=150)
@given(st.lists(OPERATIONS, max_size=30))
def test_any_sequence_keeps_the_ledger_balanced_and_exact(operations: list[tuple]) -> None:
    entries, expected_revenue = _build(operations)
    assert validate_entries(entries) == []
    per_currency: dict[str, int] = defaultdict(int)
    for entry in entries:
        entry_sums: dict[str, int] = defaultdict(int)
        for posting in entry.postings:
            entry_sums[posting.currency] += posting.nanos
        assert set(entry_sums.values()) <= {0}
    for (_, currency), nanos in balances(entries).items():
        per_currency[currency] += nanos
    assert set(per_currency.values()) <= {0}
    derived = balances(entries)
    for currency, revenue_nanos in expected_revenue.items():
        assert -derived.get((Account("host", AccountKind.HOST_REVENUE), currency), 0) == revenue_nanos


@settings(max_examples=150)
@given(st.lists(OPERATIONS, min_size=1, max_size=20), st.integers(0, 10**6))
def test_reversing_an_entry_restores_balances_exactly(operations: list[tuple], pick: int) -> None:
    entries, _ = _build(operations)
    if not entries:
        return
    target = entries[pick % len(entries)]
    undo = reverse(target, entry_id="undo", occurred_at=T)
    without = [entry for entry in entries if entry is not target]
    assert balances(entries + [undo]) == balances(without)
