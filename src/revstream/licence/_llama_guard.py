"""Llama Guard on any OpenAI-compatible upstream: the prompt format, the output parser, and
the classifier that sends one to the other.

The prompt follows the Llama Guard 3 format: the task, the categories between
`<BEGIN UNSAFE CONTENT CATEGORIES>` and `<END UNSAFE CONTENT CATEGORIES>`, the conversation
(`User:` / `Agent:` turns), and the instruction to answer `safe`, or `unsafe` and a second line
of comma-separated categories. `completions` mode sends it whole, special tokens included, to
`/completions` (llama-server, vLLM); `chat` mode sends the conversation to `/chat/completions`
and lets the upstream's Llama Guard chat template build the same prompt (Ollama, vLLM with the
model's template).
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Sequence

import aiohttp
import orjson

from ._errors import ClassifierError
from ._hazards import HAZARD_CODES, HAZARDS
from ._policy import SAFE, Verdict

MODES = ("completions", "chat")
CONVERSATION_CHARS_MAX = 32 * 1024  # the tail of a longer conversation is what is assessed
ANSWER_BYTES_MAX = 64 * 1024
_CATEGORY = re.compile(r"S(?:[1-9]|1[0-4])")
_ROLE_NAMES = {"user": "User", "assistant": "Agent"}


def llama_guard_prompt(messages: Sequence[tuple[str, str]], role: str = "user") -> str:
    """The full Llama Guard 3 prompt assessing the last message of `role` ("user": a prompt,
    "assistant": an output), special tokens included."""
    if role not in _ROLE_NAMES:
        raise ClassifierError(f"role must be 'user' or 'assistant', not {role!r}")
    who = _ROLE_NAMES[role]
    categories = "\n".join(f"{hazard.code}: {hazard.name}." for hazard in HAZARDS)
    turns = "\n\n".join(f"{_ROLE_NAMES.get(r, 'User')}: {content}" for r, content in messages
                        if r in _ROLE_NAMES)[-CONVERSATION_CHARS_MAX:]
    return (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
        f"Task: Check if there is unsafe content in '{who}' messages in conversations according our safety "
        "policy with the below categories.\n\n"
        f"<BEGIN UNSAFE CONTENT CATEGORIES>\n{categories}\n<END UNSAFE CONTENT CATEGORIES>\n\n"
        f"<BEGIN CONVERSATION>\n\n{turns}\n\n<END CONVERSATION>\n\n"
        f"Provide your safety assessment for ONLY THE LAST {who} message in the above conversation:\n"
        " - First line must read 'safe' or 'unsafe'.\n"
        " - If unsafe, a second line must include a comma-separated list of violated categories."
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def parse_llama_guard_output(text: str) -> Verdict:
    """`safe`, or `unsafe` then a line of categories (`S1,S3`), as a verdict. Raises
    `ClassifierError` on anything else: an answer nobody can read must not pass as safe."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise ClassifierError("Llama Guard answered nothing")
    head = lines[0].lower()
    if head == "safe":
        return SAFE
    if head != "unsafe":
        raise ClassifierError(f"Llama Guard answered {lines[0][:40]!r}, not 'safe' or 'unsafe'")
    codes = [code.strip() for code in ",".join(lines[1:2]).split(",") if code.strip()]
    if not codes or not all(_CATEGORY.fullmatch(code) for code in codes):
        raise ClassifierError(f"Llama Guard said unsafe without valid categories: {','.join(codes)[:60]!r}")
    return Verdict.of(code for code in codes if code in HAZARD_CODES)


class LlamaGuardClassifier:
    """Asks a Llama Guard model served at `base_url` (an OpenAI-compatible `/v1`)."""

    name = "llama-guard"

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, timeout_s: float = 5.0,
                 mode: str = "completions") -> None:
        if mode not in MODES:
            raise ClassifierError(f"mode must be one of {', '.join(MODES)}")
        self._base_url, self._model, self._mode = base_url.rstrip("/"), model, mode
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._headers = {"Content-Type": "application/json"}
        key = os.environ.get(api_key_env) if api_key_env else None
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def classify(self, messages: Sequence[tuple[str, str]], role: str = "user") -> Verdict:
        if self._session is None:
            raise ClassifierError("the Llama Guard classifier is not started")
        if self._mode == "completions":
            path, body = "/completions", {"prompt": llama_guard_prompt(messages, role)}
        else:
            path, body = "/chat/completions", {"messages": [{"role": r, "content": c} for r, c in messages]}
        body.update(model=self._model, max_tokens=20, temperature=0)
        try:
            async with self._session.post(self._base_url + path, data=orjson.dumps(body), headers=self._headers) as reply:
                raw = await reply.content.read(ANSWER_BYTES_MAX)
                if reply.status != 200:
                    raise ClassifierError(f"Llama Guard upstream answered {reply.status}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise ClassifierError(f"Llama Guard upstream unreachable: {type(error).__name__}") from error
        return parse_llama_guard_output(_answer_text(raw, self._mode))


def _answer_text(raw: bytes, mode: str) -> str:
    try:
        choice = orjson.loads(raw)["choices"][0]
        text = choice["text"] if mode == "completions" else choice["message"]["content"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as error:
        raise ClassifierError("Llama Guard upstream answered no choice text") from error
    if not isinstance(text, str):
        raise ClassifierError("Llama Guard upstream answered no choice text")
    return text
