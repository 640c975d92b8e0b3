"""A real uvicorn server in this process, serving fake backends (pipeline tests), built with
`create_app`'s seam: the fake backend injected, and optionally a clock the test moves on."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import openai
import orjson
import uvicorn

from revstream.config import Config, ModelConfig, ServerConfig, StoreConfig, TransparencyConfig
from revstream.gateway import create_app
from revstream.store import create_key, list_usage, make_engine, upgrade

from conftest import free_port
from fake_backend import FakeBackend
from waiting import wait_until

FAKE_MODELS = ("fake-echo", "fake-fail-early", "fake-fail-mid", "fake-slow", "fake-gate", "fake-window", "fake-tokenize")


class InProcessServer:
    def __init__(
        self, database_url: str, home: Path, redis_url: str | None = None,
        transparency: TransparencyConfig | None = None, clock: Callable[[], int] | None = None,
        auth_cache_ttl_s: float = 0,
    ) -> None:
        models = tuple(ModelConfig(name=name, backend="fake") for name in FAKE_MODELS)
        self.config = Config(
            home=home, server=ServerConfig(auth_cache_ttl_s=auth_cache_ttl_s),
            store=StoreConfig(database_url=database_url, redis_url=redis_url), models=models,
            transparency=transparency or TransparencyConfig(),
        )
        self.engine = make_engine(database_url, self.config.keys_dir)
        upgrade(self.engine)
        self.port = free_port()
        self.app = create_app(self.config, backends={"fake": FakeBackend}, clock=clock)
        self.server = uvicorn.Server(uvicorn.Config(self.app, port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_until(lambda: self.server.started, 30, "the in-process server's start")
        self.key = self.new_key("pipeline")
        return self

    def new_key(self, customer: str, **limits) -> str:
        return create_key(self.engine, customer, time.time_ns() // 1000, **limits)[0]

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.engine.dispose()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def v1(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def client(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.v1, api_key=key or self.key, max_retries=0, timeout=30)

    def post_and_leave(self, path: str, body: dict, key: str | None = None) -> None:
        """POST `body` over a raw connection and close it once the request's usage record is
        written (pending: the backend is being called), as a client that gives up does."""
        before = {r.request_id for r in self.records(final=False)}
        payload = orjson.dumps(body)
        head = (f"POST /v1{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key or self.key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as connection:
            connection.sendall(head.encode() + payload)
            wait_until(lambda: {r.request_id for r in self.records(final=False)} - before, what="the request's record")

    def records(self, final: bool = True, timeout_s: float = 20):
        """The usage records; with `final`, once none is pending (or `timeout_s` passed)."""
        if not final:
            return list_usage(self.engine)
        try:
            return wait_until(lambda: _all_final(list_usage(self.engine)), timeout_s, "every record final")[1]
        except AssertionError:
            return list_usage(self.engine)


def _all_final(records) -> tuple[bool, list] | None:
    return (True, records) if all(r.status != "pending" for r in records) else None


