"""Counting through the upstream's own tokenizer endpoints (vLLM, llama-server), on the
fake upstream of fake_upstream.py; llama_cpp.server's are exercised for real in
test_backends_llama_cpp_server.py.
"""

from __future__ import annotations

import pytest
from aiohttp import web

from revstream.backends import ChatMessage, Finish

from fake_upstream import (  # noqa: F401  (fixtures: anyio_backend, make_backend, upstream)
    MESSAGES,
    anyio_backend,
    chat,
    chat_body,
    chat_chunks,
    completion,
    estimate,
    json_answer,
    make_backend,
    run,
    sse_answer,
    upstream,
    usage,
)

pytestmark = pytest.mark.anyio

PROBE = [{"role": "user", "content": "Hello"}]


def rendered(messages: list[dict]) -> str:
    return "".join(f"<|{m['role']}|> {m['content']} <|end|> " for m in messages) + "<|assistant|>"


def words(text: str) -> int:
    return len(text.split())


async def vllm(request: web.Request) -> web.StreamResponse:
    """vLLM's /tokenize: a chat (its own template) or a prompt; the count of tokens."""
    if request.path != "/tokenize":
        return web.json_response({"detail": "Not Found"}, status=404)
    body = await request.json()
    count = words(rendered(body["messages"])) if "messages" in body else words(body["prompt"])
    return web.json_response({"count": count, "max_model_len": 4096, "tokens": list(range(count))})


async def llama_server(request: web.Request) -> web.StreamResponse:
    """llama-server: /apply-template renders, /tokenize counts `content` (and answers
    an empty list to a body without it, as llama-server does)."""
    body = await request.json()
    if request.path == "/apply-template":
        return web.json_response({"prompt": rendered(body["messages"])})
    if request.path == "/tokenize":
        return web.json_response({"tokens": list(range(words(body.get("content", ""))))})
    return web.json_response({"detail": "Not Found"}, status=404)


def probes(upstream) -> list:
    """Probe rounds: each starts by asking /tokenize, vLLM's way, about PROBE."""
    return [r for r in upstream.extras if r.path == "/tokenize" and r.body and r.body.get("messages") == PROBE]


@pytest.mark.parametrize("dialect", [vllm, llama_server])
async def test_a_stream_without_usage_is_counted_by_the_upstream_and_probed_once(upstream, make_backend, dialect):
    pieces = ["Hello", " there", " friend"]
    upstream.behaviour = sse_answer(chat_chunks(pieces, "stop", None))
    upstream.extras_behaviour = dialect
    backend = await make_backend(upstream.v1)

    for _ in range(2):
        events, meter = await run(backend, chat(stream=True))
        prompt = words(rendered([{"role": m.role, "content": m.content} for m in MESSAGES]))
        assert events[-1] == Finish("stop", prompt, words("".join(pieces)), "tokenizer")

    assert len(probes(upstream)) == 1
    assert all(not r.path.startswith("/v1") for r in upstream.extras)


async def test_the_unstreamed_and_streamed_counts_agree(upstream, make_backend):
    """The upstream reports usage unstreamed only (llama_cpp.server's way): the stream
    is counted by the same template, so the same request bills the same."""
    messages = [{"role": m.role, "content": m.content} for m in MESSAGES]
    upstream.extras_behaviour = vllm
    backend = await make_backend(upstream.v1)

    upstream.behaviour = json_answer(chat_body("Hi", usage(words(rendered(messages)), 1)))
    unstreamed, _ = await run(backend, chat())
    upstream.behaviour = sse_answer(chat_chunks(["Hi"], "stop", None))
    streamed, _ = await run(backend, chat(stream=True))

    assert unstreamed[-1].tokens_prompt == streamed[-1].tokens_prompt == words(rendered(messages))
    assert (unstreamed[-1].usage_source, streamed[-1].usage_source) == ("backend", "tokenizer")


async def test_an_upstream_that_reports_usage_is_never_probed(upstream, make_backend):
    upstream.extras_behaviour = vllm
    backend = await make_backend(upstream.v1)

    upstream.behaviour = sse_answer(chat_chunks(["a"], "stop", usage(9, 1)))
    await run(backend, chat(stream=True))
    upstream.behaviour = json_answer(chat_body("a", usage(9, 1)))
    await run(backend, chat())

    assert upstream.extras == []


async def test_without_endpoints_counts_are_estimated_and_the_probe_is_not_repeated(upstream, make_backend):
    upstream.behaviour = sse_answer(chat_chunks(["abcd"], "stop", None))
    backend = await make_backend(upstream.v1)

    for _ in range(2):
        events, _ = await run(backend, chat(stream=True))
        assert events[-1].usage_source == "estimate"

    assert sorted(r.path for r in upstream.extras) == ["/apply-template", "/extras/tokenize", "/tokenize"]


async def test_a_failing_count_falls_back_to_the_local_estimate_for_that_request(upstream, make_backend):
    calls = {"n": 0}

    async def flaky(request: web.Request) -> web.StreamResponse:
        calls["n"] += 1
        if calls["n"] > 1:  # the probe works, the counts after it do not
            return web.json_response({"error": "overloaded"}, status=503)
        return await vllm(request)

    upstream.behaviour = sse_answer(chat_chunks(["abcd"], "stop", None))
    upstream.extras_behaviour = flaky
    backend = await make_backend(upstream.v1)

    events, _ = await run(backend, chat(stream=True))

    assert events[-1] == Finish("stop", sum(estimate(m.content) + 4 for m in MESSAGES), 1, "estimate")


async def test_with_a_context_window_the_upstream_counts_only_prompts_that_might_not_fit(upstream, make_backend):
    upstream.extras_behaviour = vllm
    backend = await make_backend(upstream.v1, context_window=100)
    messages = (ChatMessage("user", "one two three"),)

    # No template is known here, so a chat's bound allows for a long one: counted.
    prepared = await backend.prepare(chat(messages=messages))
    expected = words(rendered([{"role": "user", "content": "one two three"}]))
    assert (prepared.tokens_prompt, prepared.max_tokens) == (expected, 100 - expected)
    asked = len(upstream.extras)

    # Seven bytes cannot be more than 7 + 2 tokens: it fits, so nothing is asked.
    prepared = await backend.prepare(completion(prompt="a b c d"))
    assert (prepared.tokens_prompt, prepared.tokens_prompt_max, prepared.max_tokens) == (None, 9, 100)
    assert len(upstream.extras) == asked
