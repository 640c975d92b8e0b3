"""The usage writer: every usage record and its money go through here, in batches.

One thread owns the writes. Callers hand it operations; it takes everything queued
(up to `batch_records_max`) and applies it in one transaction, so under load many
requests share one commit (group commit) and at rest a record waits for nobody.

- `admit` is awaited: the idempotency claim, the reservation and the pending record
  are durable (or refused) before the backend is called.
- `finalize` is not awaited: it is queued and written within `batch_delay_ms` or when a
  batch fills. Its queue place was taken by `admit`, so a finalize never waits and is
  never dropped; a failed write is retried until it succeeds or the process ends (then
  the record is closed as `interrupted` at the next start).
- at most `queue_records_max` requests are in flight between admission and their
  finalize being written (back-pressure).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine

from ..metering import FinalUsage
from ..pricing import PriceSchedule
from ._metering import (
    ADMITTED,
    AdmitOutcome,
    AdmitRequest,
    StoredResponse,
    admit_batch,
    discard_batch,
    finalize_batch,
)
from ._prices import load_prices, prices_version
from ._engine import writing

log = logging.getLogger("revstream.store")
RETRY_DELAY_S = 1.0


class UsageWriterClosed(Exception):
    """The writer was closed; no more requests are admitted."""


@dataclass(slots=True)
class _Op:
    kind: str  # "admit" | "final" | "discard" | "call"
    value: object
    response: StoredResponse | None = None
    future: asyncio.Future | None = None
    loop: asyncio.AbstractEventLoop | None = None
    attempts: int = 0
    # Rows (table, values) written in the same transaction as a final record (recitation
    # events, issue 16): a worker's death cannot keep the one and lose the other.
    rows: tuple = ()


class UsageWriter:
    def __init__(
        self, engine: Engine, batch_records_max: int = 512, batch_delay_ms: int = 2, queue_records_max: int = 8192,
    ) -> None:
        self._engine = engine
        self._batch_records_max = batch_records_max
        self._batch_delay_s = batch_delay_ms / 1000
        self._slots = asyncio.Semaphore(queue_records_max)
        self._ops: collections.deque[_Op] = collections.deque()
        self._wake = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
        self._schedule = PriceSchedule(())
        self._schedule_version: tuple[int, int] | None = None
        self.batches_written = 0
        self.records_written = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    async def admit(self, request: AdmitRequest) -> AdmitOutcome:
        """Reserve and record a request before its backend call. Only an `admitted`
        outcome holds a queue place, to be given back by `finalize` or `discard`."""
        if self._closing:
            raise UsageWriterClosed("the gateway is shutting down")
        await self._slots.acquire()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put(_Op("admit", request, future=future, loop=loop))
        try:
            outcome = await future
        except asyncio.CancelledError:
            # The caller left (the writer then skips the cancelled future); the admission
            # may still land: undo it in order.
            self.discard(request.pending.request_id)
            raise
        except BaseException:
            self._slots.release()
            raise
        if outcome.kind != ADMITTED:
            self._slots.release()
        return outcome

    def finalize(self, record: FinalUsage, response: StoredResponse | None = None, rows: tuple = ()) -> None:
        self._put(_Op("final", record, response, rows=rows))
        self._slots.release()

    async def finalize_durably(self, record: FinalUsage, response: StoredResponse | None = None,
                               rows: tuple = ()) -> None:
        """Finalize and wait until it is committed: an idempotent request's retry must
        find the stored result, not a request still running."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put(_Op("final", record, response, future=future, loop=loop, rows=rows))
        self._slots.release()
        await future

    def discard(self, request_id: str) -> None:
        self._put(_Op("discard", request_id))
        self._slots.release()

    async def call(self, function, *args):
        """Run `function(*args)` in the writer thread, between two batches, and return its
        result: other writers of this process then never contend with the usage writes."""
        if self._closing:
            raise UsageWriterClosed("the gateway is shutting down")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put(_Op("call", (function, args), future=future, loop=loop))
        return await future

    def _put(self, op: _Op) -> None:
        with self._wake:
            self._ops.append(op)
            self._wake.notify()

    async def close(self) -> None:
        """Write everything queued, then stop the thread."""
        await asyncio.get_running_loop().run_in_executor(None, self.close_sync)

    def close_sync(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()

    # --- the writer thread ------------------------------------------------------------

    def _take_batch(self) -> list[_Op] | None:
        with self._wake:
            while not self._ops and not self._closing:
                self._wake.wait()
            if not self._ops:
                return None
            # Nobody waits on finalizes: give them a moment to gather into a batch.
            if not self._closing and len(self._ops) < self._batch_records_max and not any(op.future for op in self._ops):
                self._wake.wait(self._batch_delay_s)
            count = min(len(self._ops), self._batch_records_max)
            return [self._ops.popleft() for _ in range(count)]

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            calls = [op for op in batch if op.kind == "call"]
            writes = [op for op in batch if op.kind != "call"] if calls else batch
            if writes:
                self._write_with_retry(writes)
            for op in calls:
                self._call(op)

    @staticmethod
    def _call(op: _Op) -> None:
        function, args = op.value
        try:
            result = function(*args)
        except Exception as error:  # handed to the caller, who decides
            op.loop.call_soon_threadsafe(_settle, op.future, None, error)
            return
        op.loop.call_soon_threadsafe(_settle, op.future, result, None)

    def _write_with_retry(self, batch: list[_Op]) -> None:
        """Write a batch; a failing batch is retried op by op so that one bad op fails
        alone. A final or discard that still fails is queued again after a pause."""
        try:
            outcomes = self._write(batch)
        except Exception as error:  # database errors of any driver
            self.last_error = f"{type(error).__name__}: {error}"
            if len(batch) > 1:
                for op in batch:
                    self._write_with_retry([op])
                return
            self._failed(batch[0], error)
            return
        self.last_error = None
        # One wake-up per event loop for the whole batch, not one per waiting request.
        by_loop: dict = {}
        for op, outcome in zip(batch, outcomes):
            if op.future is not None:
                by_loop.setdefault(op.loop, []).append((op.future, outcome))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle_all, settled)

    def _failed(self, op: _Op, error: Exception) -> None:
        if op.future is not None:
            op.loop.call_soon_threadsafe(_settle, op.future, None, error)
            if op.kind == "admit":
                return
            op.future = op.loop = None  # the waiter is told; the write itself is retried
        op.attempts += 1
        log.error("writing a usage %s failed (attempt %d), retrying: %s", op.kind, op.attempts, error)
        if self._closing and op.attempts > 3:
            log.error("giving up on %s at shutdown; the next start closes it as interrupted", op.value)
            return
        time.sleep(RETRY_DELAY_S)
        self._put(op)

    def _prices(self, connection) -> PriceSchedule:
        version = prices_version(connection)
        if version != self._schedule_version:
            self._schedule = load_prices(connection)
            self._schedule_version = version
        return self._schedule

    def _write(self, batch: list[_Op]) -> list[AdmitOutcome | None]:
        admits = [op.value for op in batch if op.kind == "admit"]
        finals = [op.value for op in batch if op.kind == "final"]
        responses = {op.value.request_id: op.response for op in batch if op.kind == "final" and op.response}
        discards = [op.value for op in batch if op.kind == "discard"]
        now_us = time.time_ns() // 1000
        with writing(self._engine) as connection:
            schedule = self._prices(connection)
            outcomes = iter(admit_batch(connection, admits, schedule, now_us))
            finalize_batch(connection, finals, schedule, responses)
            _insert_rows(connection, [row for op in batch if op.kind == "final" for row in op.rows])
            discard_batch(connection, discards, now_us)
        self.batches_written += 1
        self.records_written += len(batch)
        return [next(outcomes) if op.kind == "admit" else None for op in batch]


def _insert_rows(connection, rows: list) -> None:
    """The rows finals carry, one INSERT per table."""
    by_table: dict = {}
    for table, values in rows:
        by_table.setdefault(table, []).append(values)
    for table, values in by_table.items():
        connection.execute(table.insert(), values)


def _settle_all(settled: list) -> None:
    for future, outcome in settled:
        _settle(future, outcome, None)


def _settle(future: asyncio.Future, outcome, error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(outcome)
    else:
        future.set_exception(error)
