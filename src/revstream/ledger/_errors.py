"""Errors of the ledger core.

Constructors raise them for invariant violations; ``validate_entries`` returns them
(instances, not raised) for a sequence of entries read back from storage, in the
style of beancount's ``validate_*(entries) -> list[Error]``.

Hierarchy::

    LedgerError                     base; ``entry_id`` names the entry when known
    ├── InvalidAccountError         malformed owner or kind
    ├── InvalidPostingError         a posting that is not int nanos in a known currency, or zero
    ├── InvalidEntryError           missing id, naive time, too few or too many postings
    ├── UnbalancedEntryError        postings that do not sum to zero in some currency
    ├── DuplicateEntryError         two entries with one id
    └── ReversalError               a reversal of an unknown entry, not the exact negation,
                                    or a second reversal of one entry
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every ledger failure; ``entry_id`` names the entry concerned, if any."""

    def __init__(self, message: str, entry_id: str | None = None) -> None:
        super().__init__(message)
        self.entry_id = entry_id

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, LedgerError)
            and other.args == self.args
            and other.entry_id == self.entry_id
        )

    def __hash__(self) -> int:
        return hash((type(self), self.args, self.entry_id))


class InvalidAccountError(LedgerError, ValueError):
    """An account whose owner or kind is malformed."""


class InvalidPostingError(LedgerError, ValueError):
    """A posting whose amount is not a non-zero int of nanos in a known currency."""


class InvalidEntryError(LedgerError, ValueError):
    """An entry without id, with a naive time, or with too few or too many postings."""


class UnbalancedEntryError(LedgerError):
    """An entry whose postings do not sum to zero in each currency."""


class DuplicateEntryError(LedgerError):
    """Two entries sharing one ``entry_id``."""


class ReversalError(LedgerError):
    """A reversing entry that does not exactly undo a single, earlier entry."""
