"""AppState: everything a worker holds, built in the lifespan and injected into handlers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field

from sqlalchemy import Engine

from ..backends import Backend
from ..config import Config, ModelConfig
from ..ratelimit import RateLimiter
from ..store import UsageWriter
from ._auth import KeyCache
from ._metrics import Metrics
from ._plan_limits import PlanLimitCache


def system_clock_us() -> int:
    """The wall clock in µs since the Unix epoch: the default `clock` of `create_app`."""
    return time.time_ns() // 1000


@dataclass(slots=True)
class ServedModel:
    config: ModelConfig
    backend: Backend


@dataclass(slots=True)
class AppState:
    config: Config
    engine: Engine
    writer: UsageWriter
    keys: KeyCache
    metrics: Metrics
    worker_id: str
    models: dict[str, ServedModel]
    limiter: RateLimiter
    started_monotonic: float = field(default_factory=time.monotonic)
    background: set[asyncio.Task] = field(default_factory=set)
    # The last failure of this worker's transparency-log appender, None once it succeeds.
    log_appender_error: str | None = None
    # The rate limits of customers' plans (None: plans' limits are not enforced).
    plan_limits: PlanLimitCache | None = None
    # Time of the request path (usage record times, durations, the in-process rate limiter):
    # µs since the Unix epoch. Tests inject a clock they move on.
    clock: Callable[[], int] = system_clock_us
    # Licence compliance (issue 15, `_licence.LicenceRuntime`): end users, acceptable use.
    licence: object | None = None
    # Recitation guard (issue 16, `_recitation.RecitationRuntime`): None when disabled.
    recitation: object | None = None
    # Paid messaging (issue 14, `_messaging_sender.MessageSender`): concurrent sends gathered
    # into store batches; built on first use.
    message_sender: object | None = None

    def model(self, name: str) -> ServedModel | None:
        return self.models.get(name)

    def spawn(self, coroutine: Coroutine) -> asyncio.Task:
        """Run `coroutine` in the background, kept until it ends; awaited at shutdown."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    async def run_to_end(self, coroutine: Coroutine):
        """Await `coroutine`, which runs to its end even if the caller is cancelled meanwhile
        (a background task awaited through a shield): for work that must not be cut short,
        such as giving tokens back or finalizing a usage record."""
        return await asyncio.shield(self.spawn(coroutine))
