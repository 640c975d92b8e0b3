"""Money of any real size, exact on SQLite and PostgreSQL: balances, postings, budgets,
credit limits and plan fees at the edge of the range round-trip exactly, and an amount that
would leave the range is refused before anything is written."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from revstream.ledger import credit_top_up
from revstream.money import AMOUNT_NANOS_MAX, AmountRangeError, Money
from revstream.periods import datetime_of_us
from revstream.store import (
    add_credit,
    check_ledger,
    customer_balance,
    list_budgets,
    make_engine,
    post_entries,
    set_budget,
    set_credit_limit,
    upgrade,
)
from revstream.store._amounts import join, split
from revstream.store._engine import writing
from revstream.store._schema import account_balances, ledger_postings

NOW_US = 1_800_000_000_000_000
UNIT = 1_000_000_000
EDGE = st.integers(min_value=-AMOUNT_NANOS_MAX, max_value=AMOUNT_NANOS_MAX)


@given(EDGE)
def test_split_and_join_are_exact_and_keep_the_sign(nanos: int) -> None:
    units, rest = split(nanos)
    assert join(units, rest) == nanos
    assert abs(rest) < UNIT and (units == 0 or rest == 0 or (units > 0) == (rest > 0))


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_the_field_report_reproduction_stays_exact(engine) -> None:
    """Two VND top-ups of 5e9 each: the host's cash balance was the float 1.0e+19."""
    add_credit(engine, "v1", 5_000_000_000 * UNIT, "VND", NOW_US)
    add_credit(engine, "v2", 5_000_000_000 * UNIT, "VND", NOW_US)
    add_credit(engine, "u", 9_000_000_000 * UNIT, "USD", NOW_US)
    add_credit(engine, "u", 9_000_000_000 * UNIT, "USD", NOW_US)
    check = check_ledger(engine)
    assert check.ok, check
    assert customer_balance(engine, "u").available_nanos == 18_000_000_000 * UNIT
    with engine.connect() as connection:
        cash = connection.execute(select(account_balances.c.units, account_balances.c.nanos).where(
            account_balances.c.kind == "cash", account_balances.c.currency == "VND")).one()
        assert type(cash.units) is int and join(cash.units, cash.nanos) == 10_000_000_000 * UNIT


def test_limits_and_budgets_hold_10_to_the_18_units(engine) -> None:
    big = 10**18 * UNIT
    set_credit_limit(engine, "p", big, "EUR", NOW_US)
    set_budget(engine, "p", None, "lifetime", big + 1, "EUR", NOW_US)
    assert customer_balance(engine, "p").credit_limit_nanos == big
    assert [b["limit_nanos"] for b in list_budgets(engine, NOW_US)] == [big + 1]


def test_a_balance_leaving_the_range_is_refused_and_writes_nothing(engine) -> None:
    add_credit(engine, "whale", AMOUNT_NANOS_MAX, "USD", NOW_US)
    before = check_ledger(engine)
    with pytest.raises(AmountRangeError):
        add_credit(engine, "whale", AMOUNT_NANOS_MAX, "USD", NOW_US)
    after = check_ledger(engine)
    assert after.ok and (after.entries, after.postings) == (before.entries, before.postings)
    with pytest.raises(AmountRangeError):
        set_credit_limit(engine, "x", AMOUNT_NANOS_MAX + 1, "USD", NOW_US)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=1, max_value=10**18 * UNIT), min_size=1, max_size=8))
def test_ledger_sums_at_10_to_the_18_units(engine, amounts) -> None:
    """Entries of up to 10^18 units each: every balance and every entry sum exact in SQL."""
    with engine.connect() as connection:
        start = connection.execute(select(func.count()).select_from(ledger_postings)).scalar()
    entries = [credit_top_up(f"top_{start}_{i}", datetime_of_us(NOW_US), customer=f"c{i % 3}",
                             amount=Money(amount, "JPY")) for i, amount in enumerate(amounts)]
    with writing(engine) as connection:
        try:
            post_entries(connection, entries)
        except AmountRangeError:
            pass  # a balance would leave the range: refused before anything was written, and the
            # transaction commits (the caller carries on): nothing of the entries may be kept
    with engine.connect() as connection:
        posted = connection.execute(select(func.count()).select_from(ledger_postings)).scalar()
    assert posted in (start, start + 2 * len(entries))  # all or nothing
    check = check_ledger(engine)
    assert check.ok, check


def test_entries_that_would_carry_a_balance_out_of_range_write_nothing(engine) -> None:
    """post_entries checks the balances before it writes: a caller that catches the refusal
    and commits its transaction keeps nothing of the refused entries."""
    top = AMOUNT_NANOS_MAX // 2
    with writing(engine) as connection:
        post_entries(connection, [credit_top_up("top_a", datetime_of_us(NOW_US), customer="c", amount=Money(top, "JPY"))])
    with writing(engine) as connection:
        with pytest.raises(AmountRangeError):
            post_entries(connection, [
                credit_top_up("top_b", datetime_of_us(NOW_US), customer="d", amount=Money(1, "JPY")),
                credit_top_up("top_c", datetime_of_us(NOW_US), customer="c", amount=Money(top + 2, "JPY")),
            ])
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ledger_postings)).scalar() == 2
    assert check_ledger(engine).ok


def test_sqlite_turns_an_overflow_in_sql_into_an_error(tmp_path) -> None:
    """SQLite makes a float of an integer that overflows in arithmetic; the CHECK on the
    units columns SQL adds to refuses it (the last line of defence behind the range checks)."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    add_credit(engine, "c", 9 * 10**18 * UNIT, "USD", NOW_US)
    with pytest.raises(IntegrityError):
        with engine.begin() as connection:
            connection.execute(text("UPDATE account_balances SET units = units + 9000000000000000000"))
    assert check_ledger(engine).ok
    engine.dispose()
