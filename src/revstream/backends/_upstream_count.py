"""Token counts from the upstream's own tokenizer endpoints, for upstreams that report
no usage (llama-cpp-python's server never does in streams; others on request).

The upstream is probed once, the first time a count is needed, and the first dialect
that answers as expected is kept for the backend's life ({root} is the base URL
without its trailing /v1):

    vllm              POST {root}/tokenize {"model", "messages", "add_generation_prompt"} -> {"count"}
                      text: {"model", "prompt", "add_special_tokens"} -> {"count"}
    llama-server      POST {root}/apply-template {"messages"} -> {"prompt"}, then
                      POST {root}/tokenize {"content", "add_special", "parse_special"} -> {"tokens"}
    llama-cpp-python  POST {root}/extras/tokenize {"input", "model"} -> {"tokens"} (`llama_cpp.server`:
                      with a BOS where the model wants one, special tokens parsed). It has no
                      template endpoint, so a chat is rendered with the local template and
                      counted without the BOS, as that server's own chat path tokenizes it.

vLLM and llama-server render the chat with their own template, so their counts equal
the usage they report for the same request. When no dialect answers, counts are local
(`TokenCounter`); a count that fails later (upstream down, odd body) returns None and
the caller falls back to the local count for that request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import aiohttp
import orjson

from ._base import GenerationRequest
from ._template import ChatTemplate

log = logging.getLogger(__name__)

Dialect = Literal["vllm", "llama-server", "llama-cpp-python"]
PROBE_MESSAGES = [{"role": "user", "content": "Hello"}]
PROBE_TIMEOUT_S = 5.0
RESPONSE_BYTES_MAX = 64 * 1024 * 1024  # a token list for a multi-megabyte prompt


class _Unusable(Exception):
    """The endpoint did not answer as the dialect expects."""


class UpstreamCounter:
    def __init__(self, base_url: str, upstream_model: str, headers: dict[str, str], name: str) -> None:
        root = base_url.rstrip("/")
        self._root = root[: -len("/v1")] if root.endswith("/v1") else root
        self._model = upstream_model
        self._headers = headers
        self._name = name
        self._probed = False
        self._probe_lock = asyncio.Lock()
        self.dialect: Dialect | None = None
        self._bos_tokens = 0  # llama-cpp-python: tokens /extras/tokenize adds to any input
        self._warned_no_template = False

    async def _post(self, session: aiohttp.ClientSession, path: str, body: dict[str, Any],
                    timeout_s: float | None = None) -> dict:
        timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s else None
        async with session.post(self._root + path, data=orjson.dumps(body), headers=self._headers,
                                timeout=timeout) as response:
            if response.status != 200:
                raise _Unusable(f"{path} answered {response.status}")
            raw = await response.content.read(RESPONSE_BYTES_MAX)
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise _Unusable(f"{path} answered no JSON") from error
        if not isinstance(payload, dict):
            raise _Unusable(f"{path} answered {type(payload).__name__}")
        return payload

    async def probe(self, session: aiohttp.ClientSession) -> Dialect | None:
        """Which dialect the upstream speaks; asked once, remembered."""
        if self._probed:
            return self.dialect
        async with self._probe_lock:
            if not self._probed:
                self.dialect = await self._probe(session)
                self._probed = True
                log.info("token counts for %s: %s", self._name,
                         f"the upstream's {self.dialect} endpoints" if self.dialect else "local (no upstream endpoint)")
        return self.dialect

    async def _probe(self, session: aiohttp.ClientSession) -> Dialect | None:
        probes = (
            ("vllm", self._probe_vllm), ("llama-server", self._probe_llama_server),
            ("llama-cpp-python", self._probe_llama_cpp_python),
        )
        for dialect, probe in probes:
            try:
                await probe(session)
                return dialect
            except (_Unusable, aiohttp.ClientError, asyncio.TimeoutError, KeyError, TypeError, ValueError):
                continue
        return None

    async def _probe_vllm(self, session) -> None:
        body = {"model": self._model, "messages": PROBE_MESSAGES, "add_generation_prompt": True}
        _count(await self._post(session, "/tokenize", body, PROBE_TIMEOUT_S), "count", positive=True)

    async def _probe_llama_server(self, session) -> None:
        prompt = (await self._post(session, "/apply-template", {"messages": PROBE_MESSAGES}, PROBE_TIMEOUT_S))["prompt"]
        if not isinstance(prompt, str):
            raise _Unusable("/apply-template: no prompt string")
        body = {"content": prompt, "add_special": True, "parse_special": True}
        _count(await self._post(session, "/tokenize", body, PROBE_TIMEOUT_S), "tokens", positive=True)

    async def _probe_llama_cpp_python(self, session) -> None:
        _count(await self._post(session, "/extras/tokenize", {"input": "Hello", "model": self._model},
                                PROBE_TIMEOUT_S), "tokens", positive=True)
        empty = await self._post(session, "/extras/tokenize", {"input": "", "model": self._model}, PROBE_TIMEOUT_S)
        self._bos_tokens = _count(empty, "tokens")

    async def count_prompt(self, session: aiohttp.ClientSession, request: GenerationRequest,
                           template: ChatTemplate | None) -> int | None:
        """The prompt's tokens as the upstream counts them, or None (no dialect, or it failed)."""
        dialect = await self.probe(session)
        try:
            if dialect == "vllm":
                if request.endpoint == "chat":
                    body = {"model": self._model, "messages": _messages(request), "add_generation_prompt": True}
                else:
                    body = {"model": self._model, "prompt": request.prompt, "add_special_tokens": True}
                return _count(await self._post(session, "/tokenize", body), "count")
            if dialect == "llama-server":
                prompt = request.prompt
                if request.endpoint == "chat":
                    prompt = (await self._post(session, "/apply-template", {"messages": _messages(request)}))["prompt"]
                body = {"content": prompt, "add_special": True, "parse_special": True}
                return _count(await self._post(session, "/tokenize", body), "tokens")
            if dialect == "llama-cpp-python":
                if request.endpoint == "completion":
                    return await self._extras_count(session, request.prompt, keep_bos=True)
                if template is None:
                    self._warn_no_template()
                    return None
                return await self._extras_count(session, template.render_text(request.messages), keep_bos=False)
        except (_Unusable, aiohttp.ClientError, asyncio.TimeoutError, KeyError, TypeError, ValueError) as error:
            log.warning("upstream token count for %s failed (%s); counting locally", self._name, error)
        return None

    async def count_text(self, session: aiohttp.ClientSession, text: str) -> int | None:
        """Generated text's tokens by the upstream's tokenizer, or None."""
        if not text:
            return 0
        dialect = await self.probe(session)
        try:
            if dialect == "vllm":
                body = {"model": self._model, "prompt": text, "add_special_tokens": False}
                return _count(await self._post(session, "/tokenize", body), "count")
            if dialect == "llama-server":
                body = {"content": text, "add_special": False, "parse_special": False}
                return _count(await self._post(session, "/tokenize", body), "tokens")
            if dialect == "llama-cpp-python":
                return await self._extras_count(session, text, keep_bos=False)
        except (_Unusable, aiohttp.ClientError, asyncio.TimeoutError, KeyError, TypeError, ValueError) as error:
            log.warning("upstream token count for %s failed (%s); counting locally", self._name, error)
        return None

    def _warn_no_template(self) -> None:
        if not self._warned_no_template:
            self._warned_no_template = True
            log.warning("chat prompts for %s are estimated: its upstream (llama_cpp.server) has no template endpoint; "
                        "configure `tokenizer` (the model's GGUF) or `chat_template` to count them exactly", self._name)

    async def _extras_count(self, session, text: str, keep_bos: bool) -> int:
        tokens = _count(await self._post(session, "/extras/tokenize", {"input": text, "model": self._model}), "tokens")
        return tokens if keep_bos else max(0, tokens - self._bos_tokens)


def _messages(request: GenerationRequest) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in request.messages]


def _count(payload: dict, key: str, positive: bool = False) -> int:
    value = payload[key]
    count = len(value) if isinstance(value, list) else value
    if isinstance(count, bool) or not isinstance(count, int) or count < (1 if positive else 0):
        raise _Unusable(f"'{key}' is not a token count")
    return count
