"""Balanced entries for the money flows of the gateway and settlement.

Each helper returns one ``JournalEntry`` (debit-positive, see ``_core``). Amounts are
``Money`` and must be positive; ids and times are passed in, because the core has no
clock and no id generator.

Flow of a prepaid request::

    credit_top_up        Dr cash (host)             Cr customer_credit
    reserve              Dr customer_credit         Cr customer_reserved     (max cost)
    settle_reservation   Dr customer_reserved (all) Cr host_revenue (charge)
                                                    Cr customer_credit (the unused rest)
A postpaid request is one ``settle_usage(source=CUSTOMER_RECEIVABLE)``.
"""

from __future__ import annotations

from datetime import datetime

from revstream.ledger._core import Account, AccountKind, JournalEntry, Posting
from revstream.ledger._errors import InvalidPostingError
from revstream.money import Money

HOST_CASH_OWNER = "host"

USAGE_SOURCE_KINDS = frozenset(
    {AccountKind.CUSTOMER_RESERVED, AccountKind.CUSTOMER_CREDIT, AccountKind.CUSTOMER_RECEIVABLE}
)


def _positive(amount: Money, what: str) -> Money:
    if not isinstance(amount, Money) or amount.nanos <= 0:
        raise InvalidPostingError(f"{what} must be positive Money, got {amount!r}")
    return amount


def _transfer(
    entry_id: str, occurred_at: datetime, description: str,
    debit: Account, credit: Account, amount: Money,
) -> JournalEntry:
    """Move ``amount`` from ``credit`` to ``debit``: one debit, one credit posting."""
    return JournalEntry(
        entry_id=entry_id,
        occurred_at=occurred_at,
        description=description,
        postings=(
            Posting(debit, amount.nanos, amount.currency),
            Posting(credit, -amount.nanos, amount.currency),
        ),
    )


def credit_top_up(
    entry_id: str, occurred_at: datetime, *, customer: str, amount: Money,
    funding: Account | None = None,
) -> JournalEntry:
    """A customer buys prepaid credit: Dr funding (default host cash), Cr customer_credit."""
    funding_account = funding if funding is not None else Account(HOST_CASH_OWNER, AccountKind.CASH)
    return _transfer(
        entry_id, occurred_at, f"credit top-up for {customer}",
        funding_account, Account(customer, AccountKind.CUSTOMER_CREDIT), _positive(amount, "top-up"),
    )


FUNDING_KINDS = frozenset({AccountKind.CUSTOMER_CREDIT, AccountKind.CUSTOMER_RECEIVABLE})


def _funding(kind: str) -> str:
    if kind not in FUNDING_KINDS:
        raise InvalidPostingError(f"funding must be one of {sorted(FUNDING_KINDS)}, got {kind!r}")
    return kind


def reserve(
    entry_id: str, occurred_at: datetime, *, customer: str, amount: Money,
    funding: str = AccountKind.CUSTOMER_CREDIT,
) -> JournalEntry:
    """Hold the maximum cost of a request: Dr the funding account, Cr customer_reserved.

    Prepaid customers fund from customer_credit; postpaid ones from customer_receivable
    (the hold counts against their credit limit until it is settled)."""
    return _transfer(
        entry_id, occurred_at, f"reserve for {customer}",
        Account(customer, _funding(funding)), Account(customer, AccountKind.CUSTOMER_RESERVED),
        _positive(amount, "reservation"),
    )


def release(
    entry_id: str, occurred_at: datetime, *, customer: str, amount: Money,
    funding: str = AccountKind.CUSTOMER_CREDIT,
) -> JournalEntry:
    """Return held credit (part or all of a reservation): Dr customer_reserved, Cr customer_credit.

    To undo a whole reservation entry, ``reverse(reserve_entry, ...)`` says the same and
    links the two entries.
    """
    return _transfer(
        entry_id, occurred_at, f"release reserved credit of {customer}",
        Account(customer, AccountKind.CUSTOMER_RESERVED), Account(customer, _funding(funding)),
        _positive(amount, "release"),
    )


def settle_usage(
    entry_id: str, occurred_at: datetime, *, customer: str, host: str, charge: Money,
    source: str = AccountKind.CUSTOMER_RESERVED,
) -> JournalEntry:
    """Book a usage charge: Dr the customer's ``source`` account, Cr host_revenue.

    ``source`` is customer_reserved (held credit), customer_credit (prepaid, unreserved)
    or customer_receivable (postpaid).
    """
    if source not in USAGE_SOURCE_KINDS:
        raise InvalidPostingError(f"usage source must be one of {sorted(USAGE_SOURCE_KINDS)}, got {source!r}")
    return _transfer(
        entry_id, occurred_at, f"usage charge of {customer}",
        Account(customer, source), Account(host, AccountKind.HOST_REVENUE), _positive(charge, "charge"),
    )


def settle_reservation(
    entry_id: str, occurred_at: datetime, *, customer: str, host: str, reserved: Money, charge: Money,
    funding: str = AccountKind.CUSTOMER_CREDIT,
) -> JournalEntry:
    """Close a reservation in one entry: Dr customer_reserved by the whole hold, Cr host_revenue
    by the charge, and return the rest to the funding account.

    If the charge exceeds the hold (a backend that overran its limit), the difference is
    taken from the funding account (a debit there), so nothing served goes unbilled.
    """
    _positive(reserved, "reserved")
    if not isinstance(charge, Money) or charge.nanos < 0 or charge.currency != reserved.currency:
        raise InvalidPostingError(f"charge must be non-negative Money in {reserved.currency}, got {charge!r}")
    currency = reserved.currency
    legs = (
        Posting(Account(customer, AccountKind.CUSTOMER_RESERVED), reserved.nanos, currency),
        (Account(host, AccountKind.HOST_REVENUE), -charge.nanos),
        (Account(customer, _funding(funding)), charge.nanos - reserved.nanos),
    )
    postings = (legs[0],) + tuple(Posting(account, nanos, currency) for account, nanos in legs[1:] if nanos)
    return JournalEntry(entry_id, occurred_at, f"settle reservation of {customer}", postings)


def rounding_adjustment(
    entry_id: str, occurred_at: datetime, *, account: Account, delta_nanos: int, currency: str,
    rounding_owner: str = HOST_CASH_OWNER, description: str = "rounding residue",
) -> JournalEntry:
    """Post a rounding residue: ``delta_nanos`` on ``account`` (debit-positive), the opposite
    on the ``rounding`` account of ``rounding_owner``.

    Invoicing example: provisional charges debited a receivable by N nanos and the invoice
    shows ``minor`` units; with ``(minor, residue) = split_minor(N, currency)`` post
    ``delta_nanos = -residue`` on the receivable so it equals the invoiced amount exactly.
    """
    if type(delta_nanos) is not int or delta_nanos == 0:
        raise InvalidPostingError(f"delta_nanos must be a non-zero int, got {delta_nanos!r}")
    return JournalEntry(
        entry_id=entry_id,
        occurred_at=occurred_at,
        description=description,
        postings=(
            Posting(account, delta_nanos, currency),
            Posting(Account(rounding_owner, AccountKind.ROUNDING), -delta_nanos, currency),
        ),
    )


def accrue_licensor_share(
    entry_id: str, occurred_at: datetime, *, host: str, licensor: str, share: Money,
) -> JournalEntry:
    """Book a settled licensor share: Dr host_revenue (of the host), Cr licensor_payable."""
    return _transfer(
        entry_id, occurred_at, f"licensor share owed to {licensor}",
        Account(host, AccountKind.HOST_REVENUE), Account(licensor, AccountKind.LICENSOR_PAYABLE),
        _positive(share, "share"),
    )
