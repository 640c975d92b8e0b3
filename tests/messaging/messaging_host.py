"""A real gateway in this process (uvicorn on a free port) serving the real embedded model
(llama.cpp, SmolLM2), with a clock the test moves: windows open and close, and a month can
be closed and verified for real."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvicorn

from revstream.config import Config, ServerConfig, StoreConfig, TransparencyConfig
from revstream.config._load import embedded_model
from revstream.gateway import create_app
from revstream.store import create_key, make_engine, upgrade

from conftest import free_port

WAIT_S = 60.0
"""Generous bound on anything a test waits for; never a timing assertion."""


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = WAIT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Clock:
    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def __call__(self) -> int:
        return self.now_us


class Host:
    def __init__(self, database_url: str, home: Path, clock: Clock, origin: str = "messaging.test/log") -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.config = Config(
            home=home, server=ServerConfig(auth_cache_ttl_s=0), store=StoreConfig(database_url=database_url),
            models=(embedded_model(),),
            transparency=TransparencyConfig(origin=origin, log_append_interval_s=0.2, checkpoint_interval_s=3600),
        )
        self.engine = make_engine(database_url, self.config.keys_dir)
        upgrade(self.engine)
        self.clock = clock
        self.port = free_port()
        self.app = create_app(self.config, clock=clock)
        self.server = uvicorn.Server(uvicorn.Config(self.app, port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Host":
        self.thread.start()
        wait_until(lambda: self.server.started, "the gateway's start", 300)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT_S)
        self.engine.dispose()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_key(self, customer: str) -> str:
        return create_key(self.engine, customer, time.time_ns() // 1000)[0]

    def post(self, path: str, key: str | None = None, **kwargs) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.post(self.base_url + path, headers={**headers, **kwargs.pop("headers", {})}, timeout=WAIT_S,
                          **kwargs)

    def get(self, path: str, key: str | None = None, **kwargs) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.get(self.base_url + path, headers=headers, timeout=WAIT_S, **kwargs)
