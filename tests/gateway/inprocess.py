"""A real uvicorn server in this process, serving fake backends (pipeline tests)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import openai
import uvicorn

from revstream.config import Config, ModelConfig, ServerConfig, StoreConfig, TransparencyConfig
from revstream.gateway import create_app
from revstream.store import create_key, list_usage, make_engine, upgrade

from conftest import free_port

FAKE_MODELS = ("fake-echo", "fake-fail-early", "fake-fail-mid", "fake-slow", "fake-gate")


class InProcessServer:
    def __init__(
        self, database_url: str, home: Path, redis_url: str | None = None,
        transparency: TransparencyConfig | None = None,
    ) -> None:
        models = tuple(ModelConfig(name=name, backend="fake") for name in FAKE_MODELS)
        self.config = Config(
            home=home, server=ServerConfig(auth_cache_ttl_s=0),
            store=StoreConfig(database_url=database_url, redis_url=redis_url), models=models,
            transparency=transparency or TransparencyConfig(),
        )
        self.engine = make_engine(database_url)
        upgrade(self.engine)
        self.port = free_port()
        self.app = create_app(self.config)
        self.server = uvicorn.Server(uvicorn.Config(self.app, port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "in-process server did not start"
        self.key = self.new_key("pipeline")
        return self

    def new_key(self, customer: str, **limits) -> str:
        return create_key(self.engine, customer, time.time_ns() // 1000, **limits)[0]

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.engine.dispose()

    @property
    def v1(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def client(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.v1, api_key=key or self.key, max_retries=0, timeout=30)

    def records(self, final: bool = True, timeout_s: float = 20):
        deadline = time.monotonic() + timeout_s
        while True:
            records = list_usage(self.engine)
            if not final or all(r.status != "pending" for r in records) or time.monotonic() > deadline:
                return records
            time.sleep(0.05)


