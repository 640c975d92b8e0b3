"""Ledger core: construction invariants, flows, reversal, validation."""

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from revstream.ledger import (
    Account,
    AccountKind,
    DuplicateEntryError,
    InvalidAccountError,
    InvalidEntryError,
    InvalidPostingError,
    JournalEntry,
    LedgerError,
    Posting,
    ReversalError,
    UnbalancedEntryError,
    accrue_licensor_share,
    balance,
    balances,
    credit_top_up,
    normal_balance_nanos,
    release,
    reserve,
    reverse,
    rounding_adjustment,
    settle_reservation,
    settle_usage,
    validate_entries,
)
from revstream.money import Money, split_minor

T = datetime(2025, 1, 1, tzinfo=timezone.utc)
CASH = Account("host", AccountKind.CASH)
CREDIT = Account("alice", AccountKind.CUSTOMER_CREDIT)
RESERVED = Account("alice", AccountKind.CUSTOMER_RESERVED)
RECEIVABLE = Account("alice", AccountKind.CUSTOMER_RECEIVABLE)
REVENUE = Account("host", AccountKind.HOST_REVENUE)


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def test_entry_must_balance_per_currency() -> None:
    with pytest.raises(UnbalancedEntryError) as raised:
        JournalEntry("e1", T, "x", (Posting(CASH, 5, "USD"), Posting(CREDIT, -4, "USD")))
    assert raised.value.entry_id == "e1"
    with pytest.raises(UnbalancedEntryError):
        JournalEntry("e1", T, "x", (Posting(CASH, 5, "USD"), Posting(CREDIT, -5, "EUR")))
    multi = JournalEntry("e2", T, "fx", (
        Posting(CASH, 5, "USD"), Posting(CREDIT, -5, "USD"), Posting(CASH, 7, "EUR"), Posting(CREDIT, -7, "EUR"),
    ))
    assert multi.currencies() == ("EUR", "USD")


def test_construction_rejects_bad_values() -> None:
    with pytest.raises(InvalidAccountError):
        Account("", "cash")
    with pytest.raises(InvalidAccountError):
        Account("host", "Cash!")
    assert Account("host", "ads_revenue").kind == "ads_revenue"  # kinds are extensible
    with pytest.raises(InvalidPostingError):
        Posting(CASH, 0, "USD")
    with pytest.raises(InvalidPostingError):
        Posting(CASH, 1.0, "USD")  # type: ignore[arg-type]
    with pytest.raises(InvalidPostingError):
        Posting(CASH, 1, "XXX")
    with pytest.raises(InvalidEntryError):
        JournalEntry("e", datetime(2025, 1, 1), "naive", (Posting(CASH, 1, "USD"), Posting(CREDIT, -1, "USD")))
    with pytest.raises(InvalidEntryError):
        JournalEntry("e", T, "one leg", (Posting(CASH, 1, "USD"),))
    with pytest.raises(InvalidEntryError):
        JournalEntry("e", T, "list", [Posting(CASH, 1, "USD"), Posting(CREDIT, -1, "USD")])  # type: ignore[arg-type]
    assert issubclass(UnbalancedEntryError, LedgerError)


def test_entries_are_immutable() -> None:
    entry = credit_top_up("e", T, customer="alice", amount=usd("5"))
    with pytest.raises(AttributeError):
        entry.postings = ()  # type: ignore[misc]


def test_prepaid_request_flow() -> None:
    entries = [
        credit_top_up("t1", T, customer="alice", amount=usd("10.00")),
        reserve("r1", T, customer="alice", amount=usd("0.50")),
        settle_reservation("s1", T, customer="alice", host="host", reserved=usd("0.50"), charge=usd("0.123456789")),
    ]
    assert balance(entries, CASH, "USD") == 10_000_000_000
    assert balance(entries, RESERVED, "USD") == 0
    assert balance(entries, REVENUE, "USD") == -123_456_789
    assert normal_balance_nanos(AccountKind.CUSTOMER_CREDIT, balance(entries, CREDIT, "USD")) == 9_876_543_211
    assert normal_balance_nanos(AccountKind.CASH, 5) == 5
    assert validate_entries(entries) == []


def test_settle_reservation_overrun_takes_from_credit() -> None:
    entry = settle_reservation("s", T, customer="alice", host="host", reserved=usd("1"), charge=usd("1.5"))
    assert {(p.account, p.nanos) for p in entry.postings} == {
        (RESERVED, 1_000_000_000), (REVENUE, -1_500_000_000), (CREDIT, 500_000_000),
    }
    exact = settle_reservation("s", T, customer="alice", host="host", reserved=usd("1"), charge=usd("1"))
    assert len(exact.postings) == 2
    free = settle_reservation("s", T, customer="alice", host="host", reserved=usd("1"), charge=usd("0"))
    assert {p.account for p in free.postings} == {RESERVED, CREDIT}
    with pytest.raises(InvalidPostingError):
        settle_reservation("s", T, customer="alice", host="host", reserved=usd("1"), charge=Money(1, "EUR"))


def test_release_and_postpaid_usage() -> None:
    entries = [
        reserve("r", T, customer="alice", amount=usd("2")),
        release("l", T, customer="alice", amount=usd("2")),
        settle_usage("u", T, customer="alice", host="host", charge=usd("3"), source=AccountKind.CUSTOMER_RECEIVABLE),
    ]
    assert dict(balances(entries)) == {(RECEIVABLE, "USD"): 3_000_000_000, (REVENUE, "USD"): -3_000_000_000}
    with pytest.raises(InvalidPostingError):
        settle_usage("u", T, customer="alice", host="host", charge=usd("3"), source="cash")
    with pytest.raises(InvalidPostingError):
        reserve("r", T, customer="alice", amount=usd("0"))
    with pytest.raises(InvalidPostingError):
        reserve("r", T, customer="alice", amount=usd("-1"))


def test_invoice_rounding_residue_is_posted() -> None:
    usage = settle_usage("u", T, customer="alice", host="host", charge=Money(12_345_678_901, "USD"),
                         source=AccountKind.CUSTOMER_RECEIVABLE)
    minor, residue = split_minor(12_345_678_901, "USD")
    rounding = rounding_adjustment("r", T, account=RECEIVABLE, delta_nanos=-residue, currency="USD")
    assert balance([usage, rounding], RECEIVABLE, "USD") == minor * 10_000_000
    assert balance([usage, rounding], Account("host", AccountKind.ROUNDING), "USD") == residue
    with pytest.raises(InvalidPostingError):
        rounding_adjustment("r", T, account=RECEIVABLE, delta_nanos=0, currency="USD")


def test_licensor_share_accrual() -> None:
    entry = accrue_licensor_share("a", T, host="host", licensor="meta", share=usd("17.50"))
    assert dict(balances([entry]))[(Account("meta", AccountKind.LICENSOR_PAYABLE), "USD")] == -17_500_000_000


def test_reverse_restores_balances_and_validates() -> None:
    top_up = credit_top_up("t", T, customer="alice", amount=usd("5"))
    held = reserve("r", T, customer="alice", amount=usd("1"))
    undo = reverse(held, entry_id="r-rev", occurred_at=T)
    assert undo.reverses_entry_id == "r" and undo.description == "reversal of r"
    assert balances([top_up, held, undo]) == balances([top_up])
    assert validate_entries([top_up, held, undo]) == []


def test_validate_entries_finds_errors() -> None:
    top_up = credit_top_up("t", T, customer="alice", amount=usd("5"))
    held = reserve("r", T, customer="alice", amount=usd("1"))
    undo = reverse(held, entry_id="x", occurred_at=T)
    errors = validate_entries([top_up, top_up, undo, replace(undo, entry_id="y"), reverse(top_up, entry_id="z", occurred_at=T)])
    kinds = [type(error) for error in errors]
    assert kinds.count(DuplicateEntryError) == 1
    assert kinds.count(ReversalError) == 2  # x reverses an entry not (yet) booked; so does y
    wrong = JournalEntry("w", T, "bad", tuple(p.negated() for p in top_up.postings[:1]) + (Posting(RESERVED, 5_000_000_000, "USD"),), "t")
    assert [type(e) for e in validate_entries([top_up, wrong])] == [ReversalError]
    twice = [top_up, reverse(top_up, entry_id="a", occurred_at=T), reverse(top_up, entry_id="b", occurred_at=T)]
    assert [e.entry_id for e in validate_entries(twice)] == ["b"]


def test_validate_entries_rechecks_balance_of_tampered_entries() -> None:
    entry = credit_top_up("t", T, customer="alice", amount=usd("5"))
    object.__setattr__(entry, "postings", entry.postings[:1] + (Posting(CREDIT, -1, "USD"),))
    assert [type(e) for e in validate_entries([entry])] == [UnbalancedEntryError]
