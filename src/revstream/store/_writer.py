"""The usage writer: every usage record goes through here, in batches.

One thread owns the writes. Callers hand it operations; it takes everything queued
(up to `batch_records_max`) and writes it in one transaction, so under load many
requests share one commit (group commit) and at rest a record waits for nobody.

- `insert_pending` is awaited: the record is durable before the backend is called.
- `finalize` is not awaited: it is queued and written within `batch_delay_ms` or
  when a batch fills. Its queue place was taken by `admit()` before the request
  started, so a finalize never waits and is never dropped.
- `admit()` is the back-pressure point: at most `queue_records_max` requests are
  in flight between admission and their finalize being written.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import Connection, Engine

from ..metering import FinalUsage, PendingUsage
from ._repo import discard_pending, finalize, insert_pending

FinalizeHook = Callable[[Connection, list[FinalUsage]], None]


class UsageWriterClosed(Exception):
    """The writer was closed; no more records are accepted."""


@dataclass(slots=True)
class _Op:
    kind: str  # "pending" | "final" | "discard"
    value: object
    future: asyncio.Future | None
    loop: asyncio.AbstractEventLoop | None


class UsageWriter:
    def __init__(
        self,
        engine: Engine,
        batch_records_max: int = 512,
        batch_delay_ms: int = 2,
        queue_records_max: int = 8192,
        on_finalize: FinalizeHook | None = None,
    ) -> None:
        self._engine = engine
        self._batch_records_max = batch_records_max
        self._batch_delay_s = batch_delay_ms / 1000
        self._slots = asyncio.Semaphore(queue_records_max)
        self._on_finalize = on_finalize
        self._ops: collections.deque[_Op] = collections.deque()
        self._wake = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
        self.batches_written = 0
        self.records_written = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    async def admit(self) -> None:
        """Take a place for one request; `finalize` or `discard` gives it back."""
        if self._closing:
            raise UsageWriterClosed("the gateway is shutting down")
        await self._slots.acquire()

    async def insert_pending(self, record: PendingUsage) -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put(_Op("pending", record, future, loop))
        await future

    def finalize(self, record: FinalUsage) -> None:
        self._put(_Op("final", record, None, None))
        self._slots.release()

    def discard(self, request_id: str) -> None:
        self._put(_Op("discard", request_id, None, None))
        self._slots.release()

    def _put(self, op: _Op) -> None:
        with self._wake:
            self._ops.append(op)
            self._wake.notify()

    async def close(self) -> None:
        """Write everything queued, then stop the thread."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def close_sync(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()

    # --- the writer thread ------------------------------------------------------

    def _take_batch(self) -> list[_Op] | None:
        with self._wake:
            while not self._ops and not self._closing:
                self._wake.wait()
            if not self._ops:
                return None
            # Nobody waits on finalizes: give them a moment to gather into a batch.
            if not any(op.future for op in self._ops) and len(self._ops) < self._batch_records_max:
                if not self._closing:
                    self._wake.wait(self._batch_delay_s)
            count = min(len(self._ops), self._batch_records_max)
            return [self._ops.popleft() for _ in range(count)]

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            self._write_with_retry(batch)

    def _write_with_retry(self, batch: list[_Op]) -> None:
        """Write a batch; a failing batch is retried record by record so that one bad
        record fails alone and the others are still written."""
        try:
            self._write(batch)
            self._resolve(batch, None)
        except Exception as error:  # database errors of any driver
            self.last_error = f"{type(error).__name__}: {error}"
            if len(batch) == 1:
                self._resolve(batch, error)
                return
            for op in batch:
                self._write_with_retry([op])

    def _write(self, batch: list[_Op]) -> None:
        pending = [op.value for op in batch if op.kind == "pending"]
        finals = [op.value for op in batch if op.kind == "final"]
        discards = [op.value for op in batch if op.kind == "discard"]
        with self._engine.begin() as connection:
            insert_pending(connection, pending)
            finalize(connection, finals)
            if finals and self._on_finalize is not None:
                self._on_finalize(connection, finals)
            discard_pending(connection, discards)
        self.batches_written += 1
        self.records_written += len(batch)

    @staticmethod
    def _resolve(batch: list[_Op], error: Exception | None) -> None:
        for op in batch:
            if op.future is None or op.loop is None:
                continue
            op.loop.call_soon_threadsafe(_settle, op.future, error)


def _settle(future: asyncio.Future, error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
