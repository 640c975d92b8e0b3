"""OpenAI-compatible upstream backend: vLLM, llama-server, Ollama, a partner's API.

Requests go out through one pooled aiohttp session per model. Usage comes from the
upstream when it reports it (streams ask for it with `stream_options.include_usage`).
Otherwise tokens are counted, chat prompts through the model's chat template so that a
request bills the same streamed or not, by the first of:

1. the configured `tokenizer` GGUF's vocabulary (exact, local; see `TokenCounter`);
2. the upstream's own tokenizer endpoints, probed once (see `UpstreamCounter`);
3. an estimate (of the rendered template where one is configured).

Counting happens only when needed: in `prepare` when a `context_window` is configured
(to check it), else once the upstream has answered without usage.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, AsyncIterator

import aiohttp
import aiohttp.http_exceptions
import orjson
from yarl import URL

from ..config import ModelConfig
from ._base import (
    Backend,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    Event,
    Finish,
    GenerationRequest,
    PreparedRequest,
    TextDelta,
    UpstreamRejected,
    UsageSource,
    check_bytes_fit,
    prompt_bytes,
    prompt_param,
    reject_empty_prompt,
    resolve_max_tokens,
)
from ._meter import UsageMeter
from ._offload import Tokenizing
from ._tokenizer import TokenCounter
from ._upstream_count import UpstreamCounter

# aiohttp refuses longer lines itself (LineTooLong); keep our bound at or below its own.
SSE_LINE_BYTES_MAX = 512 * 1024
ERROR_BODY_BYTES_MAX = 64 * 1024
# At close, how long counts of interrupted requests may still take.
BACKGROUND_WAIT_S = 10.0

log = logging.getLogger(__name__)


class OpenAIBackend(Backend):
    kind = "openai"
    reports_usage = True
    supports_seed = True

    def __init__(self, model: ModelConfig) -> None:
        self._model = model
        self._base_url = (model.base_url or "").rstrip("/")
        # Parsed once: a URL string is parsed again by every request that posts it.
        self._generation_urls = {"chat": URL(self._base_url + "/chat/completions"),
                                 "completion": URL(self._base_url + "/completions")}
        self._upstream_model = model.upstream_model or model.name
        self._session: aiohttp.ClientSession | None = None
        self._counter = TokenCounter(model.tokenizer, model.chat_template, model.name)
        self._tokenizing = Tokenizing(model.name)
        self.context_window = model.context_window
        self._headers = {"Content-Type": "application/json"}
        if model.api_key_env:
            key = os.environ.get(model.api_key_env)
            if key:
                self._headers["Authorization"] = f"Bearer {key}"
        self._upstream_counter = UpstreamCounter(self._base_url, self._upstream_model, self._headers, model.name)
        self._background: set[asyncio.Task] = set()

    async def start(self) -> None:
        # A template or tokenizer file that cannot be read fails here, at start.
        await asyncio.to_thread(self._counter.load)
        connector = aiohttp.TCPConnector(limit=self._model.pool_connections_max, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._model.timeout_connect_s, sock_read=self._model.timeout_read_s
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, json_serialize=lambda v: orjson.dumps(v).decode()
        )

    async def close(self) -> None:
        if self._background:
            await asyncio.wait(set(self._background), timeout=BACKGROUND_WAIT_S)
        self._tokenizing.close()
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
        """Without a context window, or without a local tokenizer when the prompt's bound
        proves it fits, nothing is counted here: the upstream's usage (or a count once it
        has answered) settles it, and the bound covers the money reserved meanwhile."""
        reject_empty_prompt(request)
        param, window = prompt_param(request), self.context_window
        text_bytes = prompt_bytes(request)
        check_bytes_fit(window, self._counter.tokens_min(text_bytes), request.max_tokens, param)
        if window is None or self._counter.vocabulary is None:
            bound = await self._tokenizing.run(text_bytes, lambda: self._counter.prompt_bound(request))
            if window is None or (bound < window and bound + (request.max_tokens or 0) <= window):
                return PreparedRequest(request=request, tokens_prompt=None, tokens_prompt_max=bound,
                                       max_tokens=request.max_tokens or window)
        tokens_prompt, source = await self.count_prompt(request)
        max_tokens = resolve_max_tokens(window, tokens_prompt, request.max_tokens, param)
        return PreparedRequest(request=request, tokens_prompt=tokens_prompt, max_tokens=max_tokens, payload=source)

    async def count_prompt(self, request: GenerationRequest) -> tuple[int, UsageSource]:
        """The prompt's tokens, chat template included, and whether the count is exact."""
        text_bytes = prompt_bytes(request)
        if self._counter.vocabulary is None and self._session is not None:
            counted = await self._upstream_counter.count_prompt(self._session, request, self._counter.template)
            if counted is not None:
                return counted, "tokenizer"
        return await self._tokenizing.run(text_bytes, lambda: self._counter.count_prompt(request))

    async def count_completion(self, text: str) -> tuple[int, UsageSource]:
        if self._counter.vocabulary is None and self._session is not None:
            counted = await self._upstream_counter.count_text(self._session, text)
            if counted is not None:
                return counted, "tokenizer"
        count = await self._tokenizing.run(len(text), lambda: self._counter.count_text(text))
        return count, self._counter.source

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
        url = self._generation_urls[prepared.request.endpoint]
        started = time.monotonic()
        if prepared.tokens_prompt is not None:
            meter.tokens_prompt = prepared.tokens_prompt
        accepted = finished = False
        try:
            if self._session is None:
                raise BackendUnavailable(f"backend for {self._model.name} is not started", 503)
            async with self._session.post(url, data=orjson.dumps(self._body(prepared)), headers=self._headers) as response:
                if response.status >= 400:
                    await self._raise_for(response)
                accepted = True
                if prepared.request.stream:
                    events = self._stream(prepared, response, meter, started)
                else:
                    events = self._single(prepared, orjson.loads(await response.read()), meter, started)
                async for event in events:
                    finished = isinstance(event, Finish)
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
            if accepted and not finished:
                self._count_when_stopped(prepared, meter)
            else:
                meter.settled.set()

    def _count_when_stopped(self, prepared: PreparedRequest, meter: UsageMeter) -> None:
        """The upstream took the request but no usage came (the client went away, the
        upstream failed mid-way): count what was served off the event loop, then settle."""
        text = "".join(meter.text_parts)

        async def count() -> None:
            try:
                await self._apply_usage(prepared, None, meter, text)
            except BackendError as error:
                log.warning("counting an interrupted request for %s failed: %s", self._model.name, error)
            finally:
                meter.settled.set()

        task = asyncio.get_running_loop().create_task(count())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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

    async def _single(self, prepared, payload: dict, meter: UsageMeter, started: float) -> AsyncIterator[Event]:
        choice = payload["choices"][0]
        text = (choice["message"].get("content") or "") if prepared.request.endpoint == "chat" else choice["text"]
        meter.ttft_ms = int((time.monotonic() - started) * 1000)
        await self._apply_usage(prepared, payload.get("usage"), meter, text)
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
        await self._apply_usage(prepared, usage, meter, "".join(meter.text_parts))
        yield Finish(reason, meter.tokens_prompt, meter.tokens_completion, meter.usage_source)

    async def _apply_usage(self, prepared, usage: Any, meter: UsageMeter, text: str) -> None:
        if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
            meter.tokens_prompt = usage["prompt_tokens"]
            meter.tokens_completion = int(usage.get("completion_tokens") or 0)
            meter.usage_source = "backend"
            return
        if prepared.tokens_prompt is not None:
            counted_prompt = _known((prepared.tokens_prompt, prepared.payload or self._counter.source))
        else:
            counted_prompt = self.count_prompt(prepared.request)
        (tokens_prompt, prompt_source), (tokens_completion, completion_source) = await asyncio.gather(
            counted_prompt, self.count_completion(text)
        )
        meter.tokens_prompt, meter.tokens_completion = tokens_prompt, tokens_completion
        meter.usage_source = "tokenizer" if prompt_source == completion_source == "tokenizer" else "estimate"

    def count_locally(self, prepared: PreparedRequest, meter: UsageMeter, text: str) -> None:
        """Counts for a stream that ended early (the gateway calls this on the event loop):
        local only, never the network."""
        if prepared.tokens_prompt is not None:
            tokens_prompt, prompt_source = prepared.tokens_prompt, prepared.payload or self._counter.source
        else:
            tokens_prompt, prompt_source = self._counter.count_prompt(prepared.request)
        meter.tokens_prompt = tokens_prompt
        meter.tokens_completion = self._counter.count_text(text)
        completion_source = self._counter.source
        meter.usage_source = "tokenizer" if prompt_source == completion_source == "tokenizer" else "estimate"


async def _known(value: tuple[int, UsageSource]) -> tuple[int, UsageSource]:
    return value


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
