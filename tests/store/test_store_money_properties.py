"""Property tests of the money path through the real storage functions (SQLite):
any sequence of top-ups, admissions, finalizations and discards keeps the ledger
balanced, never spends more than the credit or a budget, and leaks no hold."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revstream.metering import FinalUsage, PendingUsage
from revstream.pricing import ModelPrice
from revstream.store import (
    ADMITTED,
    AdmitRequest,
    add_credit,
    admit_batch,
    check_ledger,
    create_key,
    customer_balance,
    discard_batch,
    finalize_batch,
    list_prices,
    list_usage,
    make_engine,
    set_budget,
    set_price,
    upgrade,
)

NOW_US = 1_800_000_000_000_000
PRICE = ModelPrice.from_strings("m", "USD", "0.15", "0.61", date(2020, 1, 1))  # odd prices: real rounding

operations = st.lists(
    st.one_of(
        st.tuples(st.just("top_up"), st.integers(1, 5_000_000)),
        st.tuples(st.just("admit"), st.integers(0, 4_000), st.integers(1, 4_000)),
        st.tuples(st.just("finish"), st.integers(0, 50), st.integers(0, 5_000)),
        st.tuples(st.just("discard"), st.integers(0, 50)),
    ),
    max_size=40,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return tmp_path_factory.mktemp("money")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, budget_nanos=st.one_of(st.none(), st.integers(0, 2_000_000)))
def test_any_sequence_keeps_the_money_invariants(ops, budget_nanos, template):
    engine = make_engine("sqlite://")
    try:
        run_sequence(engine, ops, budget_nanos)
    finally:
        engine.dispose()


def run_sequence(engine, ops, budget_nanos) -> None:
    upgrade(engine)
    _, key = create_key(engine, "c", NOW_US)
    set_price(engine, PRICE, NOW_US)
    if budget_nanos is not None:
        set_budget(engine, "c", None, "lifetime", budget_nanos, "USD", NOW_US)
    schedule = list_prices(engine)
    credited, open_requests, max_tokens_of, counter = 0, [], {}, 0
    for op in ops:
        with engine.connect().execution_options(write_lock=True) as connection, connection.begin():
            if op[0] == "top_up":
                pass
            elif op[0] == "admit":
                counter += 1
                request_id = f"r{counter}"
                pending = PendingUsage(request_id, None, NOW_US + counter, key.customer_id, key.key_id, "m", "fake", "chat", op[1], "w")
                [outcome] = admit_batch(connection, [AdmitRequest(pending, op[2])], schedule, NOW_US + counter)
                if outcome.kind == ADMITTED:
                    open_requests.append((request_id, op[1]))
                    max_tokens_of[request_id] = op[2]
            elif op[0] == "finish" and open_requests:
                request_id, prompt = open_requests.pop(op[1] % len(open_requests))
                completion = min(op[2], max_tokens_of[request_id])
                final = FinalUsage(request_id, "ok", prompt, completion, "backend", NOW_US + counter)
                finalize_batch(connection, [final], schedule)
            elif op[0] == "discard" and open_requests:
                request_id, _ = open_requests.pop(op[1] % len(open_requests))
                discard_batch(connection, [request_id], NOW_US + counter)
        if op[0] == "top_up":
            add_credit(engine, "c", op[1], "USD", NOW_US)
            credited += op[1]
        check_invariants(engine, credited, budget_nanos)
    with engine.connect().execution_options(write_lock=True) as connection, connection.begin():
        finals = [FinalUsage(r, "ok", p, 0, "backend", NOW_US + counter + 1) for r, p in open_requests]
        finalize_batch(connection, finals, schedule)
    balance = check_invariants(engine, credited, budget_nanos)
    assert balance.reserved_nanos == 0, "every hold was settled or released"


def check_invariants(engine, credited: int, budget_nanos: int | None):
    check = check_ledger(engine)
    assert check.ok, check
    balance = customer_balance(engine, "c")
    charges = sum(r.charge_nanos or 0 for r in list_usage(engine))
    assert balance.spent_nanos == charges
    assert balance.available_nanos >= 0
    assert balance.available_nanos + balance.reserved_nanos + charges == credited, "no money created or lost"
    if budget_nanos is not None:
        assert charges <= budget_nanos
    return balance
