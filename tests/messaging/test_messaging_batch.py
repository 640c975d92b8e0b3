"""Messages in batches (issue 14), on SQLite and the real PostgreSQL: a batch of sends holds
each accepted send and refuses the others alone (funds, budget, rules, unknown contact),
writing nothing of them; a batch of delivery statuses books each message once, at its
place in the month's volume tiers, releases failed ones, and a replayed batch changes
nothing. The ledger balances throughout."""

from __future__ import annotations

from sqlalchemy import func, select

from revstream.messaging import SendRefused, StatusUpdate
from revstream.store import (
    MessageHoldRefused,
    NotFound,
    SendRequest,
    apply_statuses,
    balances_of,
    check_ledger,
    customer_balance,
    list_budgets,
    send_messages,
    set_budget,
    set_platform_id,
)
from revstream.store._messaging_schema import msg_messages, msg_tier_counts

from test_messaging_store import T0, world  # noqa: F401  (the fixture: a business, a channel, the card)

OPTED_IN, NO_OPT_IN = "+919800000001", "+919800000002"
MARKETING_NANOS = 12_500_000  # IN marketing, USD 0.0125


def _request(customer_id, channel_id, at, to=OPTED_IN, template="spring_sale"):
    return SendRequest(customer_id, channel_id, to, at, "llama", template=template, parameters=("x",))


def _messages(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(msg_messages)).scalar()


def test_a_batch_of_sends_holds_what_the_credit_covers_and_refuses_the_rest_alone(world) -> None:  # noqa: F811
    engine, channel_id = world
    customer_id = customer_balance(engine, "acme").customer_id
    requests = [_request(customer_id, channel_id, T0 + i) for i in range(82)]  # the credit holds 80
    requests.insert(3, _request(customer_id, channel_id, T0, to=NO_OPT_IN))
    requests.insert(5, _request(customer_id, channel_id, T0, to="+919899999999"))
    outcomes = send_messages(engine, requests, T0)
    assert isinstance(outcomes[3], SendRefused) and isinstance(outcomes[5], NotFound)
    accepted = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(accepted) == 80 and all(o.message["quoted_price_nanos"] == MARKETING_NANOS for o in accepted)
    assert [type(o) for o in outcomes[-2:]] == [MessageHoldRefused, MessageHoldRefused]
    assert len({o.message["conversation"] for o in accepted}) == 1  # one conversation, created once
    assert _messages(engine) == 80
    balances = balances_of(engine, [customer_id])
    assert balances[(customer_id, "customer_reserved", "USD")] == -80 * MARKETING_NANOS
    assert customer_balance(engine, "acme").available_nanos == 0
    assert check_ledger(engine).ok


def test_a_budget_bounds_the_holds_of_one_batch(world) -> None:  # noqa: F811
    engine, channel_id = world
    customer_id = customer_balance(engine, "acme").customer_id
    set_budget(engine, "acme", None, "day", 3 * MARKETING_NANOS + 1, "USD", T0)
    outcomes = send_messages(engine, [_request(customer_id, channel_id, T0 + i) for i in range(4)], T0)
    assert [isinstance(o, MessageHoldRefused) for o in outcomes] == [False, False, False, True]
    assert "Budget exceeded" in str(outcomes[-1])
    [budget] = list_budgets(engine, T0)
    assert budget["reserved_nanos"] == 3 * MARKETING_NANOS


def test_statuses_in_one_batch_book_each_message_once_at_its_tier(world) -> None:  # noqa: F811
    engine, channel_id = world
    customer_id = customer_balance(engine, "acme").customer_id
    sent = send_messages(engine, [_request(customer_id, channel_id, T0 + i, template="order_update")
                                  for i in range(6)], T0)
    assert [s.message["quoted_price_nanos"] for s in sent] == [4_000_000] * 6  # each the next to be delivered
    ids = [s.message["id"] for s in sent]
    for message_id in ids:
        set_platform_id(engine, message_id, "wamid." + message_id)

    def status(message_id, what, at):
        return StatusUpdate("wamid." + message_id, "1234567", what, at)

    batch = [status(ids[0], "sent", T0 + 10), status(ids[5], "failed", T0 + 10)]
    batch += [status(m, "delivered", T0 + 11) for m in ids[:5]]
    batch += [status(ids[0], "delivered", T0 + 11), status(ids[1], "read", T0 + 12), status("wamid.none", "read", T0)]
    results = apply_statuses(engine, channel_id, tuple(batch), T0 + 20)
    assert [r["effect"] for r in results] == ["applied"] * 7 + ["duplicate", "applied", "unknown_message"]
    charges = [r.get("charge_nanos") for r in results[2:7]]
    assert charges == [4_000_000, 4_000_000, 3_500_000, 3_500_000, 3_000_000]  # tiers 1-2, 3-4, 5+
    again = apply_statuses(engine, channel_id, tuple(batch), T0 + 30)
    assert {r["effect"] for r in again} == {"duplicate"}
    balances = balances_of(engine, ["host", customer_id])
    assert balances[("host", "host_revenue", "USD")] == -18_000_000
    assert balances[("host", "messaging_cost", "USD")] == 3_000_000 * 2 + 2_700_000 * 2 + 2_400_000
    assert balances.get((customer_id, "customer_reserved", "USD"), 0) == 0
    assert customer_balance(engine, "acme").available_nanos == 1_000_000_000 - 18_000_000
    with engine.connect() as connection:
        assert connection.execute(select(msg_tier_counts.c.delivered)).scalar() == 5
        rows = {r.message_id: r for r in connection.execute(select(msg_messages))}
    assert (rows[ids[1]].status, rows[ids[5]].status, rows[ids[5]].hold_nanos) == ("read", "failed", 0)
    assert all(rows[m].final for m in ids)
    assert check_ledger(engine).ok


def test_an_empty_batch_does_nothing(world) -> None:  # noqa: F811
    engine, channel_id = world
    assert send_messages(engine, [], T0) == [] and apply_statuses(engine, channel_id, (), T0) == []
    assert _messages(engine) == 0
