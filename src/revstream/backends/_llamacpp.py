"""llama.cpp backend: any GGUF file, run in-process through llama-cpp-python.

One `Llama` instance is not thread-safe, so each model has one generation thread;
requests queue for it (bounded by `queue_requests_max`). Tokens cross from that
thread to the event loop one at a time, and generation stops at the next token
once the consumer goes away.

Prompts are tokenized in `prepare`: chats through the model's chat template (the
configured `chat_template`, else the GGUF's own) with message contents as plain text
(see `_vocab`), large inputs in a bounded pool off the event loop (see `_offload`).
An input too large for the context window by its bytes alone is refused before any
tokenizing, and one without text before it reaches llama.cpp (which asserts on it).
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
    CHAT_UNSUPPORTED,
    EMPTY_PROMPT,
    Backend,
    BackendBusy,
    BackendUnavailable,
    Event,
    Finish,
    GenerationRequest,
    PreparedRequest,
    PromptRejected,
    TextDelta,
    check_bytes_fit,
    prompt_bytes,
    prompt_param,
    reject_empty_prompt,
    resolve_max_tokens,
)
from ._embedded import embedded_gguf_path
from ._meter import UsageMeter
from ._offload import Tokenizing
from ._stops import StopScanner
from ._template import ChatTemplate, read_template_source
from ._vocab import Vocabulary

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


# The default thread count: half the cores this process may use, at most
# THREADS_DEFAULT_MAX, at least one. llama.cpp's threads meet at a barrier after every
# layer, so one thread that another process preempts stalls them all: with a thread on
# every core, a busy neighbour cuts tokens/s twenty-fold. Measured on 2 cores with
# `bench/embedded_tokens.py --threads` (quiet, then beside one busy loop per core):
# 2 threads 100 -> 1.3 tokens/s, 1 thread 68 -> 28. Leaving half the cores free costs a
# third when the machine is quiet and keeps the loss near proportional when it is not.
THREADS_DEFAULT_MAX = 4


def available_cores() -> int:
    """The cores this process may run on (its affinity mask: a container's share)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads(cores: int | None = None) -> int:
    return max(1, min(THREADS_DEFAULT_MAX, (cores or available_cores()) // 2))


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
        self._vocab: Vocabulary | None = None
        self._template: ChatTemplate | None = None
        self._load_error: str | None = None
        self._tokenizing = Tokenizing(model.name)
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

        path = self.gguf_path
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file not found: {path}")
        threads = self._model.n_threads or default_threads()
        llama = Llama(
            model_path=str(path),
            n_ctx=self._model.n_ctx,
            # Prompt processing too: llama-cpp-python would otherwise take every core for it.
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=self._model.n_batch,
            verbose=False,
        )
        vocab = Vocabulary(llama)
        configured = self._model.chat_template
        source = read_template_source(configured, self._model.name) if configured else vocab.chat_template_source
        if source:
            self._template = ChatTemplate(source, vocab.bos_text, vocab.eos_text, self._model.name)
        self._vocab = vocab
        self._llama = llama

    async def close(self) -> None:
        self._tokenizing.close()
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
        """The prompt's token ids; what a caller wrote is always plain text."""
        self._require()
        vocab = self._vocab
        if request.endpoint == "completion":
            return vocab.tokenize_text(request.prompt, add_bos=True)
        if self._template is None:
            raise PromptRejected(
                f"model {self._model.name} has no chat template; use /v1/completions or configure chat_template",
                CHAT_UNSUPPORTED, "messages",
            )
        return vocab.tokenize_pieces(self._template.render(request.messages))

    async def prepare(self, request: GenerationRequest) -> PreparedRequest:
        reject_empty_prompt(request)
        self._require()
        text_bytes = prompt_bytes(request)
        param = prompt_param(request)
        check_bytes_fit(self.context_window, self._vocab.tokens_min(text_bytes), request.max_tokens, param)
        tokens = await self._tokenizing.run(text_bytes, lambda: self.tokenize_prompt(request))
        if not tokens:
            raise PromptRejected(f"the {param} tokenizes to no tokens", EMPTY_PROMPT, param)
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
