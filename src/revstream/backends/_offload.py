"""Tokenizing off the event loop, with a bound on how many tokenizations run at once.

llama.cpp tokenizes about 3.5 MB/s on one core (SmolLM2's vocabulary on the 2-core
development machine: 4 MiB in 1.2 s), so a multi-megabyte prompt tokenized on the event
loop stalls every other request of that worker, `/health` included. Inputs over
`TOKENIZE_INLINE_BYTES_MAX` go to a small thread pool; smaller ones stay inline, where
they are cheaper: a hop to a thread and back costs 60-130 µs there, against 40 µs to
tokenize 64 bytes inline (103 µs through a thread) and 320 µs for 1 KiB (450 µs), a
stall of the loop still well under a millisecond.

At most `TOKENIZE_CONCURRENT_MAX` tokenizations of one backend run at once, and at
most `TOKENIZE_WAITING_MAX` wait for a thread; past that a request is refused with
BackendBusy (503, retry) rather than queued without bound. A caller that goes away
cancels its tokenization if it has not started; one already running finishes in its
thread (llama.cpp cannot be interrupted) and still counts against the bound.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Callable, TypeVar

from ._base import BackendBusy

TOKENIZE_INLINE_BYTES_MAX = 1024
TOKENIZE_CONCURRENT_MAX = 2
TOKENIZE_WAITING_MAX = 32

T = TypeVar("T")


class Tokenizing:
    """One backend's tokenization pool."""

    def __init__(
        self, name: str, concurrent_max: int = TOKENIZE_CONCURRENT_MAX, waiting_max: int = TOKENIZE_WAITING_MAX,
        inline_bytes_max: int = TOKENIZE_INLINE_BYTES_MAX,
    ) -> None:
        self._name = name
        self._concurrent_max = concurrent_max
        self._waiting_max = waiting_max
        self.inline_bytes_max = inline_bytes_max
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._pending = 0  # submitted and not finished: running or waiting for a thread
        self.pending_max_seen = 0

    @property
    def pending(self) -> int:
        return self._pending

    def _finished(self, _future: concurrent.futures.Future) -> None:
        with self._lock:
            self._pending -= 1

    async def run(self, text_bytes: int, work: Callable[[], T]) -> T:
        """`work()` inline when the input is small, else in the pool."""
        if text_bytes <= self.inline_bytes_max:
            return work()
        with self._lock:
            if self._pending >= self._concurrent_max + self._waiting_max:
                raise BackendBusy(
                    f"model {self._name} has {self._pending} prompts being tokenized; retry shortly"
                )
            self._pending += 1
            self.pending_max_seen = max(self.pending_max_seen, self._pending)
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    self._concurrent_max, thread_name_prefix=f"tokenize-{self._name}"
                )
            future = self._executor.submit(work)
        future.add_done_callback(self._finished)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
