"""The usage writer and crash recovery, on SQLite and the real PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from revstream.metering import FinalUsage, PendingUsage
from revstream.store import (
    ADMITTED,
    AdmitRequest,
    UsageWriter,
    recover_interrupted,
    heartbeat,
    list_usage,
    make_engine,
    register_worker,
    upgrade,
)


def pending(index: int, worker: str = "wrk_a") -> PendingUsage:
    return PendingUsage(
        request_id=f"req_{index:06d}", idempotency_key=None, time_us=1_000 + index, customer_id="cus_1",
        key_id="key_1", model="m", backend="fake", endpoint="chat", tokens_prompt=3, worker_id=worker,
    )


def final(index: int, status: str = "ok", completion: int = 7) -> FinalUsage:
    return FinalUsage(
        request_id=f"req_{index:06d}", status=status, tokens_prompt=3, tokens_completion=completion,
        usage_source="backend", finalized_us=2_000 + index,
    )


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def run(coroutine):
    return asyncio.run(coroutine)


def test_every_record_is_written_once_in_bounded_batches(engine):
    async def scenario():
        writer = UsageWriter(engine, batch_records_max=50, batch_delay_ms=1, queue_records_max=1000)
        writer.start()
        count = 400

        async def one(index: int):
            outcome = await writer.admit(AdmitRequest(pending(index), 16))
            assert outcome.kind == ADMITTED
            writer.finalize(final(index))

        await asyncio.gather(*(one(i) for i in range(count)))
        await writer.close()
        return writer

    writer = run(scenario())
    records = list_usage(engine)
    assert len(records) == 400
    assert all(r.status == "ok" and r.tokens_completion == 7 for r in records)
    assert writer.records_written == 800
    # Batches were bounded: at least ceil(800 / 50) transactions.
    assert writer.batches_written >= 16


def test_finalizing_twice_never_changes_a_final_record(engine):
    async def scenario():
        writer = UsageWriter(engine)
        writer.start()
        await writer.admit(AdmitRequest(pending(1), 16))
        writer.finalize(final(1, completion=7))
        await writer.admit(AdmitRequest(pending(2), 16))
        writer.finalize(final(1, completion=999))
        writer.finalize(final(2))
        await writer.close()

    run(scenario())
    record = {r.request_id: r for r in list_usage(engine)}["req_000001"]
    assert record.tokens_completion == 7


def test_a_duplicate_request_id_fails_alone_and_the_batch_survives(engine):
    async def scenario():
        writer = UsageWriter(engine, batch_delay_ms=50)
        writer.start()
        await writer.admit(AdmitRequest(pending(1), 16))
        results = await asyncio.gather(
            writer.admit(AdmitRequest(pending(1), 16)), writer.admit(AdmitRequest(pending(2), 16)),
            return_exceptions=True,
        )
        await writer.close()
        return results

    duplicate, fresh = run(scenario())
    assert isinstance(duplicate, Exception)
    assert fresh.kind == ADMITTED
    assert {r.request_id for r in list_usage(engine)} == {"req_000001", "req_000002"}


def test_discard_removes_a_pending_record_that_never_reached_a_backend(engine):
    async def scenario():
        writer = UsageWriter(engine)
        writer.start()
        await writer.admit(AdmitRequest(pending(1), 16))
        writer.discard("req_000001")
        await writer.close()

    run(scenario())
    assert list_usage(engine) == []


def test_pending_records_of_a_dead_worker_are_closed_as_interrupted(engine):
    async def scenario():
        writer = UsageWriter(engine)
        writer.start()
        for index, worker in ((1, "wrk_dead"), (2, "wrk_live")):
            await writer.admit(AdmitRequest(pending(index, worker), 16))
        await writer.close()

    register_worker(engine, "wrk_dead", now_us=0)
    register_worker(engine, "wrk_live", now_us=0)
    run(scenario())
    heartbeat(engine, "wrk_live", now_us=100_000_000)
    closed = recover_interrupted(engine, now_us=100_000_000, lease_us=30_000_000)
    assert closed == 1
    by_id = {r.request_id: r for r in list_usage(engine)}
    assert by_id["req_000001"].status == "interrupted"
    assert by_id["req_000001"].tokens_prompt == 3, "billed for what is known"
    assert by_id["req_000002"].status == "pending", "a live worker's request is left alone"
