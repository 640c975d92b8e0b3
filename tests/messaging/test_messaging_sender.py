"""Concurrent sends gathered into one store batch (issue 14), on SQLite and the real
PostgreSQL: every request gets its own outcome (its message, or the refusal that concerns it
alone), and the sends that arrived together were written as one batch."""

from __future__ import annotations

import asyncio

from revstream.gateway._messaging_sender import MessageSender
from revstream.messaging import SendRefused
from revstream.store import SendRequest, check_ledger, customer_balance

from test_messaging_store import T0, world  # noqa: F401  (the fixture: a business with USD 1 of credit)


def test_sends_arriving_together_are_one_batch_with_their_own_outcomes(world) -> None:  # noqa: F811
    engine, channel_id = world
    customer_id = customer_balance(engine, "acme").customer_id

    def request(i: int, to: str = "+919800000001") -> SendRequest:
        return SendRequest(customer_id, channel_id, to, T0 + i, "llama", template="spring_sale", parameters=("x",))

    async def main():
        tasks: set[asyncio.Task] = set()

        def spawn(coroutine):
            task = asyncio.get_running_loop().create_task(coroutine)
            tasks.add(task)
            return task

        sender = MessageSender(engine, spawn)
        outcomes = await asyncio.gather(*(sender.send(request(i)) for i in range(20)),
                                        sender.send(request(20, "+919800000002")), return_exceptions=True)
        await asyncio.gather(*tasks)
        return sender, outcomes

    sender, outcomes = asyncio.run(main())
    assert isinstance(outcomes[-1], SendRefused)  # no opt-in: refused alone
    ids = {outcome.message["id"] for outcome in outcomes[:-1]}
    assert len(ids) == 20 and sender.batches_written == 1
    assert customer_balance(engine, "acme").reserved_nanos == 20 * 12_500_000
    assert check_ledger(engine).ok


def test_more_sends_than_a_batch_holds_go_in_several(world) -> None:  # noqa: F811
    engine, channel_id = world
    customer_id = customer_balance(engine, "acme").customer_id

    async def main():
        sender = MessageSender(engine, lambda coroutine: asyncio.get_running_loop().create_task(coroutine), 3)
        sent = await asyncio.gather(*(sender.send(SendRequest(
            customer_id, channel_id, "+919800000001", T0 + i, "llama", template="order_update", parameters=("x",)))
            for i in range(7)))
        return sender, sent

    sender, sent = asyncio.run(main())
    assert len({s.message["id"] for s in sent}) == 7 and sender.batches_written == 3
