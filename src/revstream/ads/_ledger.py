"""The ad stream's money in the double-entry ledger: balanced entries, no I/O.

Advertisers prepay, like prepaid customers, into their own account kinds; an impression's
charge is held from selection until the response is delivered, like a request's maximum cost::

    advertiser_top_up      Dr cash (host)              Cr advertiser_credit      (prepaid credit)
    ad_reserve             Dr advertiser_credit        Cr advertiser_reserved    (a CPM price, at selection)
    ad_impression_charge   Dr advertiser_reserved      Cr host_revenue           (delivered)
    ad_release             Dr advertiser_reserved      Cr advertiser_credit      (not delivered: aborted stream)
    ad_click_charge        Dr advertiser_credit        Cr host_revenue           (a charged CPC click)

An advertiser's available credit is its ``advertiser_credit`` balance; reserved money has left
it, so two workers cannot both spend it (the store moves it in the same transaction that checks
it, exactly as it does for customers). The licensor's share of ``host_revenue`` from ads is
settled from the impression and click leaves (``ads_gross``), stream ``ads``.
"""

from __future__ import annotations

from datetime import datetime

from revstream.ads._errors import AdsValueError
from revstream.ledger import Account, AccountKind, JournalEntry, Posting
from revstream.money import Money

ADVERTISER_CREDIT = "advertiser_credit"
ADVERTISER_RESERVED = "advertiser_reserved"
HOST_OWNER = "host"


def _transfer(entry_id: str, occurred_at: datetime, description: str, debit: Account, credit: Account,
              amount: Money) -> JournalEntry:
    if not isinstance(amount, Money) or amount.nanos <= 0:
        raise AdsValueError(f"an ad ledger amount must be positive Money, got {amount!r}")
    return JournalEntry(entry_id, occurred_at, description, (
        Posting(debit, amount.nanos, amount.currency),
        Posting(credit, -amount.nanos, amount.currency),
    ))


def advertiser_top_up(entry_id: str, occurred_at: datetime, *, advertiser: str, amount: Money) -> JournalEntry:
    """``revstream credit add --advertiser``: Dr host cash, Cr advertiser_credit."""
    return _transfer(entry_id, occurred_at, f"ad credit top-up for {advertiser}",
                     Account(HOST_OWNER, AccountKind.CASH), Account(advertiser, ADVERTISER_CREDIT), amount)


def ad_reserve(entry_id: str, occurred_at: datetime, *, advertiser: str, amount: Money) -> JournalEntry:
    """Hold a CPM impression's price at selection: Dr advertiser_credit, Cr advertiser_reserved."""
    return _transfer(entry_id, occurred_at, f"ad reservation of {advertiser}",
                     Account(advertiser, ADVERTISER_CREDIT), Account(advertiser, ADVERTISER_RESERVED), amount)


def ad_impression_charge(entry_id: str, occurred_at: datetime, *, advertiser: str, amount: Money) -> JournalEntry:
    """The impression was delivered: Dr advertiser_reserved, Cr host_revenue."""
    return _transfer(entry_id, occurred_at, f"ad impression charge of {advertiser}",
                     Account(advertiser, ADVERTISER_RESERVED), Account(HOST_OWNER, AccountKind.HOST_REVENUE), amount)


def ad_release(entry_id: str, occurred_at: datetime, *, advertiser: str, amount: Money) -> JournalEntry:
    """The impression was not delivered (the stream was aborted): Dr advertiser_reserved, Cr advertiser_credit."""
    return _transfer(entry_id, occurred_at, f"ad reservation released for {advertiser}",
                     Account(advertiser, ADVERTISER_RESERVED), Account(advertiser, ADVERTISER_CREDIT), amount)


def ad_click_charge(entry_id: str, occurred_at: datetime, *, advertiser: str, amount: Money) -> JournalEntry:
    """A charged CPC click: Dr advertiser_credit, Cr host_revenue."""
    return _transfer(entry_id, occurred_at, f"ad click charge of {advertiser}",
                     Account(advertiser, ADVERTISER_CREDIT), Account(HOST_OWNER, AccountKind.HOST_REVENUE), amount)
