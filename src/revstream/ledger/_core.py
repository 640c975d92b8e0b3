"""Double-entry ledger core: accounts, postings, journal entries, reversals, balances.

Sign convention: a posting's ``nanos`` is **debit-positive** (``> 0`` debit, ``< 0``
credit), as in beancount. Every entry's postings sum to zero per currency. A balance is
the sum of an account's postings, so debit-normal accounts (``cash``,
``customer_receivable``, ``rounding``) are normally positive and credit-normal accounts
(``customer_credit``, ``customer_reserved``, ``host_revenue``, ``licensor_payable``,
``tax_payable``) normally negative: a customer with 5.00 of prepaid credit has a
``customer_credit`` balance of -5_000_000_000. ``normal_balance_nanos`` flips the sign
for display.

Entries are immutable; a correction is a new entry made by ``reverse``. Balances are
never stored here, only derived from postings by ``balances``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Iterable, Mapping

from revstream.ledger._errors import (
    DuplicateEntryError,
    InvalidAccountError,
    InvalidEntryError,
    InvalidPostingError,
    LedgerError,
    ReversalError,
    UnbalancedEntryError,
)
from revstream.money import Money, MoneyError, validate_currency

owner_chars_max: Final = 200
entry_id_chars_max: Final = 200
postings_per_entry_max: Final = 64

_KIND_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)


class AccountKind(StrEnum):
    """The standard account kinds. Any ``[a-z][a-z0-9_]*`` string is accepted as a kind,
    so a new stream can add its own without editing this enum."""

    CASH = "cash"
    CUSTOMER_CREDIT = "customer_credit"
    CUSTOMER_RESERVED = "customer_reserved"
    CUSTOMER_RECEIVABLE = "customer_receivable"
    HOST_REVENUE = "host_revenue"
    LICENSOR_PAYABLE = "licensor_payable"
    ROUNDING = "rounding"
    TAX_PAYABLE = "tax_payable"


DEBIT_NORMAL_KINDS: Final = frozenset(
    {AccountKind.CASH, AccountKind.CUSTOMER_RECEIVABLE, AccountKind.ROUNDING}
)
"""Kinds whose natural balance is a debit (positive); every other kind is credit-normal."""


def normal_balance_nanos(kind: str, balance_nanos: int) -> int:
    """The balance as its owner reads it: positive when the account holds its normal side."""
    return balance_nanos if kind in DEBIT_NORMAL_KINDS else -balance_nanos


@dataclass(frozen=True, slots=True, order=True)
class Account:
    """A ledger account: who it belongs to (``owner``) and what it holds (``kind``)."""

    owner: str
    kind: str

    def __post_init__(self) -> None:
        if not isinstance(self.owner, str) or not self.owner or len(self.owner) > owner_chars_max:
            raise InvalidAccountError(f"owner must be 1..{owner_chars_max} characters, got {self.owner!r}")
        if not isinstance(self.kind, str) or _KIND_PATTERN.fullmatch(self.kind) is None:
            raise InvalidAccountError(f"kind must match [a-z][a-z0-9_]*, got {self.kind!r}")
        if isinstance(self.kind, AccountKind):
            object.__setattr__(self, "kind", str(self.kind.value))


@dataclass(frozen=True, slots=True)
class Posting:
    """One leg of an entry: ``nanos`` (debit-positive, non-zero) of ``currency`` on ``account``."""

    account: Account
    nanos: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.account, Account):
            raise InvalidPostingError(f"account must be an Account, got {self.account!r}")
        if type(self.nanos) is not int or self.nanos == 0:
            raise InvalidPostingError(f"nanos must be a non-zero int, got {self.nanos!r}")
        try:
            validate_currency(self.currency)
        except MoneyError as error:
            raise InvalidPostingError(str(error)) from error

    @property
    def amount(self) -> Money:
        """The posting's amount as ``Money``."""
        return Money(self.nanos, self.currency)

    def negated(self) -> Posting:
        """The same posting with the opposite sign."""
        return Posting(self.account, -self.nanos, self.currency)


def _imbalance(postings: Iterable[Posting]) -> dict[str, int]:
    """Per-currency sums that are not zero (empty when balanced)."""
    sums: dict[str, int] = defaultdict(int)
    for posting in postings:
        sums[posting.currency] += posting.nanos
    return {currency: total for currency, total in sorted(sums.items()) if total}


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """An immutable, balanced set of postings. ``reverses_entry_id`` marks a correction."""

    entry_id: str
    occurred_at: datetime
    description: str
    postings: tuple[Posting, ...]
    reverses_entry_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.entry_id, str) or not 0 < len(self.entry_id) <= entry_id_chars_max:
            raise InvalidEntryError(f"entry_id must be 1..{entry_id_chars_max} characters", None)
        if not isinstance(self.occurred_at, datetime) or self.occurred_at.utcoffset() is None:
            raise InvalidEntryError("occurred_at must be a timezone-aware datetime", self.entry_id)
        if not isinstance(self.description, str):
            raise InvalidEntryError("description must be a string", self.entry_id)
        if not isinstance(self.postings, tuple) or not 2 <= len(self.postings) <= postings_per_entry_max:
            raise InvalidEntryError(f"postings must be a tuple of 2..{postings_per_entry_max}", self.entry_id)
        if not all(isinstance(posting, Posting) for posting in self.postings):
            raise InvalidEntryError("every posting must be a Posting", self.entry_id)
        if self.reverses_entry_id is not None and not isinstance(self.reverses_entry_id, str):
            raise InvalidEntryError("reverses_entry_id must be a string or None", self.entry_id)
        imbalance = _imbalance(self.postings)
        if imbalance:
            raise UnbalancedEntryError(f"postings do not sum to zero: {imbalance}", self.entry_id)

    def currencies(self) -> tuple[str, ...]:
        """The currencies the entry moves, sorted."""
        return tuple(sorted({posting.currency for posting in self.postings}))


def reverse(
    entry: JournalEntry, *, entry_id: str, occurred_at: datetime, description: str | None = None
) -> JournalEntry:
    """A new entry that exactly undoes ``entry`` (every posting negated)."""
    return JournalEntry(
        entry_id=entry_id,
        occurred_at=occurred_at,
        description=description if description is not None else f"reversal of {entry.entry_id}",
        postings=tuple(posting.negated() for posting in entry.postings),
        reverses_entry_id=entry.entry_id,
    )


def balances(entries: Iterable[JournalEntry]) -> Mapping[tuple[Account, str], int]:
    """Every non-zero balance, keyed by ``(account, currency)``, derived from postings."""
    totals: dict[tuple[Account, str], int] = defaultdict(int)
    for entry in entries:
        for posting in entry.postings:
            totals[(posting.account, posting.currency)] += posting.nanos
    return MappingProxyType({key: total for key, total in sorted(totals.items()) if total})


def balance(entries: Iterable[JournalEntry], account: Account, currency: str) -> int:
    """The balance (debit-positive nanos) of one account in one currency."""
    return balances(entries).get((account, currency), 0)


def _posting_key(posting: Posting) -> tuple[Account, str, int]:
    return (posting.account, posting.currency, posting.nanos)


def _reversal_errors(entry: JournalEntry, seen: Mapping[str, JournalEntry], reversed_ids: set[str]) -> list[LedgerError]:
    target_id = entry.reverses_entry_id
    if target_id is None:
        return []
    target = seen.get(target_id)
    if target is None:
        return [ReversalError(f"reverses unknown or later entry {target_id!r}", entry.entry_id)]
    errors: list[LedgerError] = []
    negated = Counter(_posting_key(posting.negated()) for posting in target.postings)
    if Counter(_posting_key(posting) for posting in entry.postings) != negated:
        errors.append(ReversalError(f"postings are not the negation of {target_id!r}", entry.entry_id))
    if target_id in reversed_ids:
        errors.append(ReversalError(f"entry {target_id!r} is reversed more than once", entry.entry_id))
    reversed_ids.add(target_id)
    return errors


def validate_entries(entries: Iterable[JournalEntry]) -> list[LedgerError]:
    """Check a sequence of entries (in booking order) and return every violation found.

    Checks: each entry balanced per currency (again, for data read back from storage),
    ids unique, and each reversal the exact negation of one earlier entry, reversed once.
    """
    errors: list[LedgerError] = []
    seen: dict[str, JournalEntry] = {}
    reversed_ids: set[str] = set()
    for entry in entries:
        imbalance = _imbalance(entry.postings)
        if imbalance:
            errors.append(UnbalancedEntryError(f"postings do not sum to zero: {imbalance}", entry.entry_id))
        if entry.entry_id in seen:
            errors.append(DuplicateEntryError(f"duplicate entry id {entry.entry_id!r}", entry.entry_id))
            continue
        errors.extend(_reversal_errors(entry, seen, reversed_ids))
        seen[entry.entry_id] = entry
    return errors
