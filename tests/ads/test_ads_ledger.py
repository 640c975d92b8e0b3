"""The ad stream's ledger entries balance, and a whole day of them leaves the books consistent."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from revstream.ads import (
    ADVERTISER_CREDIT,
    ADVERTISER_RESERVED,
    AdsValueError,
    ad_click_charge,
    ad_impression_charge,
    ad_release,
    ad_reserve,
    advertiser_top_up,
)
from revstream.ledger import Account, AccountKind, balance, validate_entries
from revstream.money import Money

AT = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def test_a_day_of_ads_balances():
    entries = [
        advertiser_top_up("e1", AT, advertiser="adv-1", amount=Money(10_000_000_000, "USD")),
        ad_reserve("e2", AT, advertiser="adv-1", amount=Money(3_000_000, "USD")),
        ad_impression_charge("e3", AT, advertiser="adv-1", amount=Money(3_000_000, "USD")),
        ad_reserve("e4", AT, advertiser="adv-1", amount=Money(2_000_000, "USD")),
        ad_release("e5", AT, advertiser="adv-1", amount=Money(2_000_000, "USD")),  # aborted stream
        ad_click_charge("e6", AT, advertiser="adv-1", amount=Money(200_000_000, "USD")),
    ]
    assert validate_entries(entries) == []
    credit = balance(entries, Account("adv-1", ADVERTISER_CREDIT), "USD")
    assert credit == -(10_000_000_000 - 3_000_000 - 200_000_000)  # a credit-normal liability
    assert balance(entries, Account("adv-1", ADVERTISER_RESERVED), "USD") == 0
    assert balance(entries, Account("host", AccountKind.HOST_REVENUE), "USD") == -203_000_000


def test_amounts_must_be_positive_money():
    with pytest.raises(AdsValueError):
        ad_reserve("e", AT, advertiser="adv-1", amount=Money(0, "USD"))
    with pytest.raises(AdsValueError):
        ad_click_charge("e", AT, advertiser="adv-1", amount=5)
