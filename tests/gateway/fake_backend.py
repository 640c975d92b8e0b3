"""A fake backend for pipeline unit tests: behaviour chosen by the model name."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import AsyncIterator

from revstream.backends import (
    Backend,
    BackendUnavailable,
    Event,
    Finish,
    GenerationRequest,
    PreparedRequest,
    TextDelta,
    UsageMeter,
)
from revstream.backends._base import resolve_max_tokens

WORDS = ("alpha", " beta", " gamma", " delta", " epsilon")
TOKENIZE_S_PER_BYTE = 250e-9  # 1 s for a 4 MB prompt: SmolLM2's tokenizer takes about that


class FakeBackend(Backend):
    """`fake-echo`: five words; `fake-fail-early`: upstream down before any text;
    `fake-fail-mid`: fails after two words; `fake-slow`: one word per 50 ms, forever
    until max_tokens; `fake-gate`: waits for `FakeBackend.gate` before answering; `fake-window`:
    as `fake-echo`, and refuses a prompt that does not fit its context window as real backends do;
    `fake-tokenize`: as `fake-window`, and its prepare blocks the event loop for
    `TOKENIZE_S_PER_BYTE` per prompt byte, as a tokenizer run on the loop does.
    A prompt's tokens are its words."""

    kind = "fake"
    context_window = 100
    gate = threading.Event()
    prepared = 0  # prompts counted ("tokenized")
    started = 0
    cancelled = 0

    def __init__(self, model) -> None:
        self.model = model

    async def start(self) -> None:
        FakeBackend.gate.clear()

    async def close(self) -> None:
        pass

    async def ready(self):
        return True, "fake"

    async def prepare(self, request: GenerationRequest) -> PreparedRequest:
        FakeBackend.prepared += 1
        tokens = sum(len(m.content.split()) for m in request.messages) + len(request.prompt.split())
        if self.model.name == "fake-tokenize":
            prompt_bytes = sum(len(m.content.encode()) for m in request.messages) + len(request.prompt.encode())
            time.sleep(prompt_bytes * TOKENIZE_S_PER_BYTE)  # blocks the event loop, on purpose
        if self.model.name in ("fake-window", "fake-tokenize"):
            return PreparedRequest(request, tokens, resolve_max_tokens(self.context_window, tokens, request.max_tokens, "messages"))
        return PreparedRequest(request, tokens, request.max_tokens or self.context_window - tokens)

    async def execute(self, prepared: PreparedRequest, meter: UsageMeter) -> AsyncIterator[Event]:
        FakeBackend.started += 1
        meter.tokens_prompt = prepared.tokens_prompt
        name = self.model.name
        try:
            if name == "fake-fail-early":
                raise BackendUnavailable("upstream for fake-fail-early is unreachable: refused")
            if name == "fake-gate":
                await asyncio.to_thread(FakeBackend.gate.wait, 30)
            count = prepared.max_tokens if name == "fake-slow" else min(len(WORDS), prepared.max_tokens)
            for index in range(count):
                if name == "fake-fail-mid" and index == 2:
                    raise BackendUnavailable("upstream for fake-fail-mid dropped the connection")
                if name == "fake-slow":
                    await asyncio.sleep(0.05)
                meter.tokens_completion += 1
                yield TextDelta(WORDS[index % len(WORDS)])
            yield Finish("length" if count == prepared.max_tokens else "stop", meter.tokens_prompt, meter.tokens_completion, "backend")
        except (asyncio.CancelledError, GeneratorExit):
            FakeBackend.cancelled += 1
            raise
        finally:
            meter.settled.set()
