"""OpenAI-compatible upstream backend: vLLM, llama-server, Ollama, a partner's API.

Requests go out through one pooled aiohttp session per model. Usage comes from the
upstream when it reports it (streams ask for it with `stream_options.include_usage`);
otherwise tokens are counted with the model's tokenizer (see `TokenCounter`).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, AsyncIterator

import aiohttp
import aiohttp.http_exceptions
import orjson

from ..config import ModelConfig
from ._base import (
    Backend,
    BackendTimeout,
    BackendUnavailable,
    Event,
    Finish,
    GenerationRequest,
    PreparedRequest,
    TextDelta,
    UpstreamRejected,
    resolve_max_tokens,
)
from ._meter import UsageMeter
from ._tokenizer import TokenCounter

# aiohttp refuses longer lines itself (LineTooLong); keep our bound at or below its own.
SSE_LINE_BYTES_MAX = 512 * 1024
ERROR_BODY_BYTES_MAX = 64 * 1024


class OpenAIBackend(Backend):
    kind = "openai"
    reports_usage = True
    supports_seed = True

    def __init__(self, model: ModelConfig) -> None:
        self._model = model
        self._base_url = (model.base_url or "").rstrip("/")
        self._upstream_model = model.upstream_model or model.name
        self._session: aiohttp.ClientSession | None = None
        self._counter = TokenCounter(model.tokenizer)
        self.context_window = model.context_window
        self._headers = {"Content-Type": "application/json"}
        if model.api_key_env:
            key = os.environ.get(model.api_key_env)
            if key:
                self._headers["Authorization"] = f"Bearer {key}"

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._model.pool_connections_max, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._model.timeout_connect_s, sock_read=self._model.timeout_read_s
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, json_serialize=lambda v: orjson.dumps(v).decode()
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def ready(self) -> tuple[bool, str]:
        if self._session is None:
            return False, "not started"
        try:
            async with self._session.get(f"{self._base_url}/models", headers=self._headers) as response:
                return (response.status < 500, f"upstream answered {response.status}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            return False, f"upstream unreachable: {type(error).__name__}"

    async def prepare(self, request: GenerationRequest) -> PreparedRequest:
        tokens_prompt = None
        if self.context_window is not None:
            if request.endpoint == "chat":
                tokens_prompt = self._counter.count_messages(request.messages)
            else:
                tokens_prompt = self._counter.count_text(request.prompt)
        param = "messages" if request.endpoint == "chat" else "prompt"
        max_tokens = resolve_max_tokens(self.context_window, tokens_prompt, request.max_tokens, param)
        return PreparedRequest(
            request=request, tokens_prompt=tokens_prompt, max_tokens=max_tokens,
            tokens_prompt_max=None if tokens_prompt is not None else _prompt_tokens_max(request),
        )

    def _body(self, prepared: PreparedRequest) -> dict[str, Any]:
        request = prepared.request
        body: dict[str, Any] = {"model": self._upstream_model, "stream": request.stream}
        if request.endpoint == "chat":
            body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
        else:
            body["prompt"] = request.prompt
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        body["temperature"] = request.temperature
        body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def execute(self, prepared: PreparedRequest, meter: UsageMeter) -> AsyncIterator[Event]:
        path = "/chat/completions" if prepared.request.endpoint == "chat" else "/completions"
        started = time.monotonic()
        try:
            if self._session is None:
                raise BackendUnavailable(f"backend for {self._model.name} is not started", 503)
            async with self._session.post(
                self._base_url + path, data=orjson.dumps(self._body(prepared)), headers=self._headers
            ) as response:
                if response.status >= 400:
                    await self._raise_for(response)
                if prepared.request.stream:
                    async for event in self._stream(prepared, response, meter, started):
                        yield event
                else:
                    for event in self._single(prepared, orjson.loads(await response.read()), meter, started):
                        yield event
        except asyncio.TimeoutError as error:
            raise BackendTimeout(f"upstream for {self._model.name} did not answer in time") from error
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            raise BackendUnavailable(f"upstream for {self._model.name} is unreachable: {error}") from error
        except aiohttp.http_exceptions.HttpProcessingError as error:
            raise BackendUnavailable(f"upstream for {self._model.name} sent an invalid response: {error}") from error
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as error:
            raise BackendUnavailable(f"upstream for {self._model.name} sent a malformed response: {error}") from error
        finally:
            meter.settled.set()

    async def _raise_for(self, response: aiohttp.ClientResponse) -> None:
        raw = await response.content.read(ERROR_BODY_BYTES_MAX)
        message, code = f"upstream answered HTTP {response.status}", None
        try:
            error = orjson.loads(raw).get("error") or {}
            if isinstance(error, dict):
                message = str(error.get("message") or message)
                code = error.get("code")
        except (orjson.JSONDecodeError, AttributeError):
            pass
        if response.status >= 500 or response.status == 429:
            status = 503 if response.status in (429, 503) else 502
            raise BackendUnavailable(f"upstream error for {self._model.name}: {message}", status)
        raise UpstreamRejected(message, response.status, code if isinstance(code, str) else None)

    def _single(self, prepared, payload: dict, meter: UsageMeter, started: float):
        choice = payload["choices"][0]
        text = (choice["message"].get("content") or "") if prepared.request.endpoint == "chat" else choice["text"]
        meter.ttft_ms = int((time.monotonic() - started) * 1000)
        self._apply_usage(prepared, payload.get("usage"), meter, text)
        yield TextDelta(text)
        yield Finish(_reason(choice.get("finish_reason")), meter.tokens_prompt, meter.tokens_completion, meter.usage_source)

    async def _stream(self, prepared, response, meter: UsageMeter, started: float) -> AsyncIterator[Event]:
        reason, usage = "stop", None
        async for line in _sse_data(response):
            if line == b"[DONE]":
                break
            chunk = orjson.loads(line)
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content") if "delta" in choice else choice.get("text")
                if text:
                    if meter.ttft_ms is None:
                        meter.ttft_ms = int((time.monotonic() - started) * 1000)
                    meter.text_parts.append(text)
                    meter.tokens_completion += 1  # one chunk ≈ one token until usage arrives
                    yield TextDelta(text)
                if choice.get("finish_reason"):
                    reason = _reason(choice["finish_reason"])
        self._apply_usage(prepared, usage, meter, "".join(meter.text_parts))
        yield Finish(reason, meter.tokens_prompt, meter.tokens_completion, meter.usage_source)

    def _apply_usage(self, prepared, usage: Any, meter: UsageMeter, text: str) -> None:
        if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
            meter.tokens_prompt = usage["prompt_tokens"]
            meter.tokens_completion = int(usage.get("completion_tokens") or 0)
            meter.usage_source = "backend"
            return
        self.count_locally(prepared, meter, text)

    def count_locally(self, prepared: PreparedRequest, meter: UsageMeter, text: str) -> None:
        request = prepared.request
        if prepared.tokens_prompt is not None:
            meter.tokens_prompt = prepared.tokens_prompt
        elif request.endpoint == "chat":
            meter.tokens_prompt = self._counter.count_messages(request.messages)
        else:
            meter.tokens_prompt = self._counter.count_text(request.prompt)
        meter.tokens_completion = self._counter.count_text(text)
        meter.usage_source = self._counter.source


def _prompt_tokens_max(request: GenerationRequest) -> int:
    """No tokenizer makes a token of less than one byte, so the prompt's bytes (plus a
    generous allowance for the chat template's framing) bound its token count."""
    framing_tokens_per_message = 16
    if request.endpoint == "chat":
        return sum(len(m.content.encode("utf-8")) + framing_tokens_per_message for m in request.messages)
    return len(request.prompt.encode("utf-8")) + framing_tokens_per_message


def _reason(value: Any) -> str:
    return "length" if value == "length" else "stop"


async def _sse_data(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The `data:` payloads of a server-sent event stream, one per event."""
    async for raw in response.content:
        if len(raw) > SSE_LINE_BYTES_MAX:
            raise BackendUnavailable("upstream sent an oversized event")
        line = raw.strip()
        if line.startswith(b"data:"):
            yield line[5:].strip()
