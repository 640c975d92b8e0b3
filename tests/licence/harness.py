"""A real gateway in this process (uvicorn on a free port) with a `[licence]` section, an echo
backend whose answers the test sets, and a clock the test moves: requests can be timed in a
month that has ended, so its close, its `licence` leaf and `revstream verify` run for real.

Also a small HTTP receiver (the alert webhook, a Llama Guard upstream answering in its output
format): a Starlette app on its own port, recording what it was sent.
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import AsyncIterator

import openai
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from revstream.backends import Backend, Event, Finish, GenerationRequest, PreparedRequest, TextDelta, UsageMeter
from revstream.config import Config, ModelConfig, ServerConfig, StoreConfig, TransparencyConfig
from revstream.config._licence import licence_section

from conftest import Clock, ServedGateway, free_port, wait_until  # noqa: F401 (re-exported for the tests)

WAIT_S = 30.0
"""Generous bound on anything a test waits for; never a timing assertion."""


class Echo(Backend):
    """Answers `Echo.answer` (words), a token a word; counts the calls that reached it."""

    kind = "echo"
    context_window = 1000
    answer = "Paris is the capital of France."
    started = 0

    def __init__(self, model) -> None:
        self.model = model

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ready(self):
        return True, "echo"

    async def prepare(self, request: GenerationRequest) -> PreparedRequest:
        tokens = sum(len(m.content.split()) for m in request.messages) + len(request.prompt.split())
        return PreparedRequest(request, tokens, request.max_tokens or 16)

    async def execute(self, prepared: PreparedRequest, meter: UsageMeter) -> AsyncIterator[Event]:
        Echo.started += 1
        meter.tokens_prompt = prepared.tokens_prompt
        try:
            words = Echo.answer.split(" ")
            for index, word in enumerate(words[:prepared.max_tokens]):
                meter.tokens_completion += 1
                yield TextDelta(word if index == 0 else " " + word)
            yield Finish("stop", meter.tokens_prompt, meter.tokens_completion, "backend")
        finally:
            meter.settled.set()


class Host(ServedGateway):
    """One gateway (a worker of the host) on `database_url`, serving `models` (echo backends)."""

    def __init__(self, database_url: str, home: Path, licence_toml: str = "", models=("llama-3.1-8b-instruct",),
                 clock: Clock | None = None, origin: str = "licence.test/log", keys_dir: Path | None = None) -> None:
        home.mkdir(parents=True, exist_ok=True)
        raw = tomllib.loads(licence_toml).get("licence", {}) if licence_toml else {}
        self.config = Config(
            home=home, server=ServerConfig(auth_cache_ttl_s=0), store=StoreConfig(database_url=database_url),
            models=tuple(ModelConfig(name=name, backend="echo") for name in models),
            transparency=TransparencyConfig(origin=origin, log_append_interval_s=0.2, checkpoint_interval_s=3600,
                                            keys_dir=None if keys_dir is None else str(keys_dir)),
            licence=licence_section(raw, home),
        )
        super().__init__(self.config, backends={"echo": Echo}, clock=clock or Clock())

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url + "/v1", api_key=key, max_retries=0, timeout=WAIT_S)

    @property
    def runtime(self):
        return self.app.state.revstream.licence


class Receiver:
    """An HTTP server that records JSON POSTs and answers them with `respond(path, body)`."""

    def __init__(self, respond: Callable[[str, dict], dict] | None = None) -> None:
        self.received: list[tuple[str, dict]] = []
        self.respond = respond or (lambda path, body: {"ok": True})

        async def handle(request: Request):
            body = await request.json()
            self.received.append((request.url.path, body))
            return JSONResponse(self.respond(request.url.path, body))

        app = Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, port=self.port, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Receiver":
        self.thread.start()
        wait_until(lambda: self.server.started, "the receiver's start")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT_S)
