"""Sends of concurrent POST /v1/messages requests gathered into one store batch (issue 14).

A request's send waits in line; the first one in starts a flush that lets the requests
already arriving join, then hands up to ``SEND_BATCH_MAX`` of them to `send_batch` in one
transaction (a fixed number of statements for the lot), and so on while any wait. Each
request gets its own outcome: its `Sent`, or the refusal that concerns it alone. A batch the
database refuses as a whole (a conflict with a concurrent inbound message, say) is retried
one send at a time, so one send's trouble never becomes another's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine

from sqlalchemy import Engine

from ..store import SEND_BATCH_MAX, SendRequest, Sent, send_message, send_messages


class MessageSender:
    def __init__(self, engine: Engine, spawn: Callable[[Coroutine], asyncio.Task],
                 batch_max: int = SEND_BATCH_MAX) -> None:
        self._engine = engine
        self._spawn = spawn
        self._batch_max = batch_max
        self._waiting: list[tuple[SendRequest, asyncio.Future]] = []
        self._flushing = False
        self.batches_written = 0

    async def send(self, request: SendRequest) -> Sent:
        """Quote and accept ``request`` in the next batch; raises its refusal."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if not self._flushing:
            self._flushing = True
            self._spawn(self._flush())
        outcome = await future
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # the requests already arriving join this batch
            while self._waiting:
                batch, self._waiting = self._waiting[:self._batch_max], self._waiting[self._batch_max:]
                requests = [request for request, _ in batch]
                try:
                    outcomes = await asyncio.to_thread(send_messages, self._engine, requests,
                                                       max(r.time_us for r in requests))
                except Exception:  # the database refused the batch: each send alone
                    outcomes = [await asyncio.to_thread(_send_alone, self._engine, r) for r in requests]
                self.batches_written += 1
                for (_, future), outcome in zip(batch, outcomes):
                    if not future.done():
                        future.set_result(outcome)
        finally:
            self._flushing = False


def _send_alone(engine: Engine, request: SendRequest) -> Sent | Exception:
    try:
        return send_message(engine, request)
    except Exception as error:  # handed to the request that made it
        return error
