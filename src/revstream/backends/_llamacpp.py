"""llama.cpp backend: any GGUF file, run in-process through llama-cpp-python.

One `Llama` instance is not thread-safe, so each model has one generation thread;
requests queue for it (bounded by `queue_requests_max`). Tokens cross from that
thread to the event loop one at a time, and generation stops at the next token
once the consumer goes away.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import concurrent.futures
import os
import secrets
import threading
import time
from pathlib import Path
from typing import AsyncIterator, Callable

from ..config import ModelConfig
from ._base import (
    Backend,
    BackendBusy,
    BackendUnavailable,
    Event,
    Finish,
    GenerationRequest,
    PreparedRequest,
    TextDelta,
    resolve_max_tokens,
)
from ._embedded import embedded_gguf_path
from ._meter import UsageMeter
from ._stops import StopScanner

QUEUE_REQUESTS_MAX = 64
SEED_MAX = 2**31 - 1


class _Handoff:
    """Events from the generation thread to the event loop. The thread wakes the loop
    only when no wake-up is already pending, so a busy loop drains many tokens per
    wake-up instead of being interrupted for each one."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._items: collections.deque = collections.deque()
        self._wake_pending = False
        self._ready = asyncio.Event()

    def put(self, item: object) -> None:  # generation thread
        with self._lock:
            self._items.append(item)
            if self._wake_pending:
                return
            self._wake_pending = True
        self._loop.call_soon_threadsafe(self._ready.set)

    async def get(self) -> object:  # event loop
        while True:
            with self._lock:
                if self._items:
                    return self._items.popleft()
                self._wake_pending = False
                self._ready.clear()
            await self._ready.wait()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def default_threads() -> int:
    return max(1, min(4, (os.cpu_count() or 2)))


class LlamaCppBackend(Backend):
    kind = "llamacpp"
    reports_usage = True
    supports_seed = True

    def __init__(self, model: ModelConfig, queue_requests_max: int = QUEUE_REQUESTS_MAX) -> None:
        self._model = model
        self._queue_requests_max = queue_requests_max
        self._waiting = 0
        self._slot = asyncio.Semaphore(1)
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"llama-{model.name}")
        self._llama = None
        self._formatter = None
        self._load_error: str | None = None
        self.context_window = model.n_ctx

    @property
    def gguf_path(self) -> Path:
        if self._model.path is not None and str(self._model.path) != "embedded":
            return self._model.path
        return embedded_gguf_path()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._load)
        except Exception as error:  # a broken file must not stop the other models
            self._load_error = f"{type(error).__name__}: {error}"

    def _load(self) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        path = self.gguf_path
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file not found: {path}")
        llama = Llama(
            model_path=str(path),
            n_ctx=self._model.n_ctx,
            n_threads=self._model.n_threads or default_threads(),
            n_batch=self._model.n_batch,
            verbose=False,
        )
        template = llama.metadata.get("tokenizer.chat_template")
        if template:
            bos = llama.detokenize([llama.token_bos()], special=True).decode("utf-8", "replace")
            eos = llama.detokenize([llama.token_eos()], special=True).decode("utf-8", "replace")
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._llama = llama

    async def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._llama = None

    async def ready(self) -> tuple[bool, str]:
        if self._llama is not None:
            return True, "loaded"
        return False, self._load_error or "loading"

    def _require(self):
        if self._llama is None:
            raise BackendUnavailable(f"model {self._model.name} is not loaded: {self._load_error or 'loading'}", 503)
        return self._llama

    def tokenize_prompt(self, request: GenerationRequest) -> list[int]:
        llama = self._require()
        if request.endpoint == "completion":
            return llama.tokenize(request.prompt.encode("utf-8"), add_bos=True, special=False)
        if self._formatter is None:
            raise BackendUnavailable(f"model {self._model.name} has no chat template; use /v1/completions", 400)
        messages = [{"role": message.role, "content": message.content} for message in request.messages]
        rendered = self._formatter(messages=messages)
        return llama.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)

    async def prepare(self, request: GenerationRequest) -> PreparedRequest:
        tokens = self.tokenize_prompt(request)
        param = "messages" if request.endpoint == "chat" else "prompt"
        max_tokens = resolve_max_tokens(self.context_window, len(tokens), request.max_tokens, param)
        return PreparedRequest(request=request, tokens_prompt=len(tokens), max_tokens=max_tokens, payload=tokens)

    async def execute(self, prepared: PreparedRequest, meter: UsageMeter) -> AsyncIterator[Event]:
        self._require()
        meter.tokens_prompt = prepared.tokens_prompt or 0
        if self._waiting >= self._queue_requests_max:
            meter.settled.set()
            raise BackendBusy(f"model {self._model.name} has {self._waiting} requests queued; retry shortly")
        self._waiting += 1
        try:
            await self._slot.acquire()
        except BaseException:
            meter.settled.set()
            raise
        finally:
            self._waiting -= 1
        loop = asyncio.get_running_loop()
        events = _Handoff(loop)
        stop_flag = threading.Event()
        started = time.monotonic()
        emit = events.put

        future = loop.run_in_executor(self._executor, self._generate, prepared, emit, stop_flag, meter)

        def _done(_future) -> None:
            self._slot.release()
            meter.settled.set()

        future.add_done_callback(_done)
        try:
            while True:
                event = await events.get()
                if isinstance(event, _Failure):
                    raise event.error
                if meter.ttft_ms is None and isinstance(event, TextDelta):
                    meter.ttft_ms = int((time.monotonic() - started) * 1000)
                yield event
                if isinstance(event, Finish):
                    return
        finally:
            stop_flag.set()

    def _generate(
        self, prepared: PreparedRequest, emit: Callable[[object], None], stop_flag: threading.Event, meter: UsageMeter
    ) -> None:
        try:
            self._generate_tokens(prepared, emit, stop_flag, meter)
        except BaseException as error:  # crosses the thread boundary as a value
            emit(_Failure(error))

    def _generate_tokens(self, prepared, emit, stop_flag, meter) -> None:
        import llama_cpp

        llama = self._llama
        request = prepared.request
        llama.set_seed(request.seed if request.seed is not None else secrets.randbelow(SEED_MAX))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        scanner = StopScanner(request.stop)
        reason = "length"
        if prepared.max_tokens:
            tokens = llama.generate(
                prepared.payload, top_k=0, top_p=request.top_p, min_p=0.0, temp=request.temperature, repeat_penalty=1.0
            )
            for token in tokens:
                if stop_flag.is_set():
                    return
                if llama_cpp.llama_vocab_is_eog(llama._model.vocab, token):
                    reason = "stop"
                    break
                meter.tokens_completion += 1
                text, stopped = scanner.feed(decoder.decode(llama.detokenize([token])))
                if text:
                    emit(TextDelta(text))
                if stopped:
                    reason = "stop"
                    break
                if meter.tokens_completion >= prepared.max_tokens:
                    break
        tail = "" if scanner.stopped else scanner.flush() + decoder.decode(b"", final=True)
        if tail:
            emit(TextDelta(tail))
        emit(Finish(reason, meter.tokens_prompt, meter.tokens_completion, "backend"))
