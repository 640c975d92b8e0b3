"""Double-entry ledger core: accounts, balanced immutable entries, reversals, balances.

Sign convention: posting nanos are debit-positive (see ``_core``). Errors derive from
``LedgerError`` (see ``_errors``); ``validate_entries`` returns them as a list.
"""

from revstream.ledger._core import (
    DEBIT_NORMAL_KINDS,
    Account,
    AccountKind,
    JournalEntry,
    Posting,
    balance,
    balances,
    normal_balance_nanos,
    reverse,
    validate_entries,
)
from revstream.ledger._errors import (
    DuplicateEntryError,
    InvalidAccountError,
    InvalidEntryError,
    InvalidPostingError,
    LedgerError,
    ReversalError,
    UnbalancedEntryError,
)
from revstream.ledger._flows import (
    accrue_licensor_share,
    credit_top_up,
    release,
    reserve,
    rounding_adjustment,
    settle_reservation,
    settle_usage,
)

__all__ = [
    "DEBIT_NORMAL_KINDS",
    "Account",
    "AccountKind",
    "DuplicateEntryError",
    "InvalidAccountError",
    "InvalidEntryError",
    "InvalidPostingError",
    "JournalEntry",
    "LedgerError",
    "Posting",
    "ReversalError",
    "UnbalancedEntryError",
    "accrue_licensor_share",
    "balance",
    "balances",
    "credit_top_up",
    "normal_balance_nanos",
    "release",
    "reserve",
    "reverse",
    "rounding_adjustment",
    "settle_reservation",
    "settle_usage",
    "validate_entries",
]
