"""One store read for many waiters: the per-worker caches (verified keys, plans' limits, ads'
plans and age bands) load a missing or expired entry once, however many requests ask for it
meanwhile.

Without it, every request that found an entry expired (each `auth_cache_ttl_s`, 2 s by
default) started its own read in a thread: at full load, one per connection in flight, a burst
of thread hops and store reads every expiry that showed as the p99.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class SharedLoads:
    """Loads in flight by key: `run(key, load)` awaits the one running for `key`, or starts it.

    A waiter that is cancelled leaves the load running for the others (it is shielded); a
    load that fails fails every waiter, and the next `run` starts a new one."""

    __slots__ = ("_running",)

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future] = {}

    async def run(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is None:
            running = self._running[key] = asyncio.ensure_future(load())
            running.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(running)

    def _finished(self, key: Hashable, done: asyncio.Future) -> None:
        self._running.pop(key, None)
        if not done.cancelled():
            done.exception()  # observed, even when every waiter has left
