"""AppState: everything a worker holds, built in the lifespan and injected into handlers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from ..backends import Backend
from ..config import Config, ModelConfig
from ..ratelimit import RateLimiter
from ..store import UsageWriter
from ._auth import KeyCache
from ._metrics import Metrics
from ._plan_limits import PlanLimitCache


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

    def model(self, name: str) -> ServedModel | None:
        return self.models.get(name)

    def spawn(self, coroutine) -> asyncio.Task:
        """Run `coroutine` in the background, kept until it ends; awaited at shutdown."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task
