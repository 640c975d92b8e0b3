"""A fake OpenAI-compatible upstream for OpenAIBackend tests (served by the `upstream`
fixture below on a free 127.0.0.1 port), and the request, body and event
helpers the tests share.

Each test sets `upstream.behaviour` (an aiohttp handler) and reads back what the
backend sent in `upstream.requests`. Requests outside /v1 (the tokenizer endpoints the
backend probes when usage is missing) go to `upstream.extras` instead, answered by
`upstream.extras_behaviour`, 404 by default.

A test module imports the fixtures it uses (`upstream`, `make_backend`, `anyio_backend`)
from here: a conftest.py in this folder would shadow tests/conftest.py's helpers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import orjson
import pytest
from aiohttp import web

from revstream.backends import ChatMessage, GenerationRequest, OpenAIBackend, TextDelta, UsageMeter
from revstream.config import ModelConfig

WAIT_S = 20.0  # generous bound for anything awaited in a test; never a timing assertion
KEY_ENV = "REVSTREAM_TEST_UPSTREAM_KEY"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeUpstream:
    """An OpenAI-compatible upstream whose behaviour each test controls."""

    base_url: str = ""
    behaviour: Handler | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    extras_behaviour: Handler | None = None
    extras: list[RecordedRequest] = field(default_factory=list)
    # Set at teardown: handlers that hang wait on it so the server can stop.
    release: asyncio.Event = field(default_factory=asyncio.Event)
    # Set by a streaming handler once the client's connection is gone.
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def v1(self) -> str:
        return self.base_url + "/v1"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = orjson.loads(raw) if raw else None
        recorded = RecordedRequest(request.method, request.path, dict(request.headers), body)
        if not request.path.startswith("/v1/"):
            self.extras.append(recorded)
            if self.extras_behaviour is None:
                return web.json_response({"detail": "Not Found"}, status=404)
            return await self.extras_behaviour(request)
        self.requests.append(recorded)
        if request.path == "/v1/models" and self.behaviour is None:
            return web.json_response({"object": "list", "data": [{"id": "real-model", "object": "model"}]})
        assert self.behaviour is not None, "test did not set upstream.behaviour"
        return await self.behaviour(request)


def model_config(base_url: str, **overrides: Any) -> ModelConfig:
    values: dict[str, Any] = dict(
        name="partner", backend="openai", base_url=base_url, upstream_model="real-model", api_key_env=KEY_ENV
    )
    values.update(overrides)
    return ModelConfig(**values)


MESSAGES = (ChatMessage("system", "You are terse."), ChatMessage("user", "Say hello to the world."))


def chat(**overrides: Any) -> GenerationRequest:
    values: dict[str, Any] = dict(endpoint="chat", model="partner", messages=MESSAGES)
    values.update(overrides)
    return GenerationRequest(**values)


def completion(**overrides: Any) -> GenerationRequest:
    values: dict[str, Any] = dict(endpoint="completion", model="partner", prompt="Once upon a time")
    values.update(overrides)
    return GenerationRequest(**values)


async def run(backend: OpenAIBackend, request: GenerationRequest) -> tuple[list, UsageMeter]:
    meter = UsageMeter()
    prepared = await backend.prepare(request)
    events = [event async for event in backend.execute(prepared, meter)]
    return events, meter


def chat_body(text: str, usage: dict | None, finish_reason: str = "stop") -> dict:
    body: dict[str, Any] = {
        "id": "chatcmpl-1", "object": "chat.completion", "model": "real-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def completion_body(text: str, usage: dict | None, finish_reason: str = "stop") -> dict:
    body: dict[str, Any] = {
        "id": "cmpl-1", "object": "text_completion", "model": "real-model",
        "choices": [{"index": 0, "text": text, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def usage(prompt: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens, "total_tokens": prompt + completion_tokens}


def json_answer(payload: Any, status: int = 200) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(payload, status=status)

    return handler


def sse_answer(chunks: list[dict], done: bool = True) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in chunks:
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        if done:
            await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    return handler


def chat_chunks(pieces: list[str], finish_reason: str = "stop", usage_chunk: dict | None = None) -> list[dict]:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "real-model"}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    for piece in pieces:
        chunks.append({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]})
    if usage_chunk is not None:
        chunks.append({**base, "choices": [], "usage": usage_chunk})
    return chunks


def completion_chunks(pieces: list[str], finish_reason: str = "stop", usage_chunk: dict | None = None) -> list[dict]:
    base = {"id": "cmpl-1", "object": "text_completion", "model": "real-model"}
    chunks = [{**base, "choices": [{"index": 0, "text": piece, "finish_reason": None}]} for piece in pieces]
    chunks.append({**base, "choices": [{"index": 0, "text": "", "finish_reason": finish_reason}]})
    if usage_chunk is not None:
        chunks.append({**base, "choices": [], "usage": usage_chunk})
    return chunks


def texts(events: list) -> list[str]:
    return [event.text for event in events if isinstance(event, TextDelta)]


def estimate(text: str) -> int:
    """The documented estimate: one token per four UTF-8 bytes, rounded up."""
    return -(-len(text.encode("utf-8")) // 4)


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def upstream():
    fake = FakeUpstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        fake.release.set()
        await runner.cleanup()


@pytest.fixture
async def make_backend(monkeypatch):
    """Build and start an OpenAIBackend; close every one at teardown."""
    monkeypatch.setenv(KEY_ENV, "sk-upstream-secret")
    started: list[OpenAIBackend] = []

    async def make(base_url: str, **overrides: Any) -> OpenAIBackend:
        backend = OpenAIBackend(model_config(base_url, **overrides))
        await backend.start()
        started.append(backend)
        return backend

    yield make
    for backend in started:
        await backend.close()
