"""Pins the public face of revstream.ledger."""

import revstream.ledger as ledger


def test_public_api_is_pinned() -> None:
    assert sorted(ledger.__all__) == sorted([
        "DEBIT_NORMAL_KINDS", "Account", "AccountKind", "DuplicateEntryError", "InvalidAccountError",
        "InvalidEntryError", "InvalidPostingError", "JournalEntry", "LedgerError", "Posting",
        "ReversalError", "UnbalancedEntryError", "accrue_licensor_share", "balance", "balances",
        "credit_top_up", "normal_balance_nanos", "release", "reserve", "reverse",
        "rounding_adjustment", "settle_reservation", "settle_usage", "validate_entries",
    ])
    for name in ledger.__all__:
        assert hasattr(ledger, name), name
