"""OpenAIBackend against a real fake upstream: an aiohttp server on a free 127.0.0.1 port
(see fake_upstream.py). Waits are on events with generous bounds.
"""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
from aiohttp import web

from revstream.backends import (
    BackendTimeout,
    BackendUnavailable,
    ChatMessage,
    ContextLengthExceeded,
    Finish,
    OpenAIBackend,
    TextDelta,
    UpstreamRejected,
    UsageMeter,
    embedded_gguf_path,
)
from revstream.backends._openai import SSE_LINE_BYTES_MAX

from fake_upstream import (  # noqa: F401  (fixtures: anyio_backend, make_backend, upstream)
    MESSAGES,
    anyio_backend,
    make_backend,
    upstream,
    WAIT_S,
    chat,
    chat_body,
    chat_chunks,
    completion,
    completion_body,
    completion_chunks,
    estimate,
    json_answer,
    model_config,
    run,
    sse_answer,
    texts,
    usage,
)

pytestmark = pytest.mark.anyio


# (a) non-stream with usage -------------------------------------------------------------


async def test_non_stream_chat_with_usage_reports_backend_counts(upstream, make_backend):
    upstream.behaviour = json_answer(chat_body("Hello, world!", usage(21, 4)))
    backend = await make_backend(upstream.v1)
    request = chat(max_tokens=50, temperature=0.5, top_p=0.9, stop=("\n\n",), seed=7)

    events, meter = await run(backend, request)

    assert events == [TextDelta("Hello, world!"), Finish("stop", 21, 4, "backend")]
    assert (meter.tokens_prompt, meter.tokens_completion, meter.usage_source) == (21, 4, "backend")
    assert meter.settled.is_set()
    assert meter.ttft_ms is not None and meter.ttft_ms >= 0
    [sent] = upstream.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["Authorization"] == "Bearer sk-upstream-secret"
    assert sent.body == {
        "model": "real-model",
        "stream": False,
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello to the world."}],
        "max_tokens": 50,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 7,
    }


async def test_non_stream_completion_with_usage_reports_backend_counts(upstream, make_backend):
    upstream.behaviour = json_answer(completion_body(" there was a gateway", usage(4, 5), "length"))
    backend = await make_backend(upstream.v1)

    events, meter = await run(backend, completion(max_tokens=5))

    assert events == [TextDelta(" there was a gateway"), Finish("length", 4, 5, "backend")]
    assert meter.usage_source == "backend"
    [sent] = upstream.requests
    assert sent.path == "/v1/completions"
    assert sent.body["model"] == "real-model"
    assert sent.body["prompt"] == "Once upon a time"
    assert "messages" not in sent.body and "stream_options" not in sent.body
    assert sent.headers["Authorization"] == "Bearer sk-upstream-secret"


async def test_upstream_model_defaults_to_the_public_name_and_no_key_means_no_header(upstream, make_backend):
    upstream.behaviour = json_answer(chat_body("hi", usage(1, 1)))
    backend = await make_backend(upstream.v1, upstream_model=None, api_key_env="REVSTREAM_TEST_UNSET_KEY_ENV")

    await run(backend, chat())

    [sent] = upstream.requests
    assert sent.body["model"] == "partner"
    assert "Authorization" not in sent.headers
    assert "max_tokens" not in sent.body and "seed" not in sent.body and "stop" not in sent.body


async def test_trailing_slash_on_base_url_is_ignored(upstream, make_backend):
    upstream.behaviour = json_answer(chat_body("hi", usage(1, 1)))
    backend = await make_backend(upstream.v1 + "/")

    await run(backend, chat())

    assert upstream.requests[0].path == "/v1/chat/completions"


# (b) stream with usage -----------------------------------------------------------------


async def test_stream_chat_asks_for_usage_and_yields_deltas_in_order(upstream, make_backend):
    pieces = ["Hel", "lo", ", ", "wor", "ld", "!"]
    upstream.behaviour = sse_answer(chat_chunks(pieces, "length", usage(30, 6)))
    backend = await make_backend(upstream.v1)

    events, meter = await run(backend, chat(stream=True, max_tokens=6))

    assert texts(events) == pieces
    assert events[-1] == Finish("length", 30, 6, "backend")
    assert sum(isinstance(event, Finish) for event in events) == 1
    assert (meter.tokens_prompt, meter.tokens_completion, meter.usage_source) == (30, 6, "backend")
    assert meter.settled.is_set()
    [sent] = upstream.requests
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["model"] == "real-model"
    assert sent.headers["Authorization"] == "Bearer sk-upstream-secret"


async def test_stream_completion_with_usage(upstream, make_backend):
    pieces = [" there", " was", " a", " gateway"]
    upstream.behaviour = sse_answer(completion_chunks(pieces, "stop", usage(4, 4)))
    backend = await make_backend(upstream.v1)

    events, _ = await run(backend, completion(stream=True))

    assert texts(events) == pieces
    assert events[-1] == Finish("stop", 4, 4, "backend")
    assert upstream.requests[0].path == "/v1/completions"
    assert upstream.requests[0].body["stream_options"] == {"include_usage": True}


async def test_stream_ends_cleanly_without_done_marker(upstream, make_backend):
    upstream.behaviour = sse_answer(chat_chunks(["a", "b"], "stop", usage(3, 2)), done=False)
    backend = await make_backend(upstream.v1)

    events, _ = await run(backend, chat(stream=True))

    assert texts(events) == ["a", "b"]
    assert events[-1] == Finish("stop", 3, 2, "backend")


# (c) upstream without usage ------------------------------------------------------------


def chat_prompt_estimate(messages: tuple[ChatMessage, ...]) -> int:
    return sum(estimate(m.content) + 4 for m in messages)


async def test_non_stream_without_usage_is_estimated(upstream, make_backend):
    text = "Hello there, world!"
    upstream.behaviour = json_answer(chat_body(text, None))
    backend = await make_backend(upstream.v1)

    events, meter = await run(backend, chat())

    expected = Finish("stop", chat_prompt_estimate(MESSAGES), estimate(text), "estimate")
    assert events == [TextDelta(text), expected]
    assert (meter.tokens_prompt, meter.tokens_completion, meter.usage_source) == expected_meter(expected)


async def test_stream_without_usage_is_estimated_from_the_whole_text(upstream, make_backend):
    pieces = ["Once", " upon", " a", " time", " — ", "fin"]
    upstream.behaviour = sse_answer(completion_chunks(pieces, "stop", None))
    backend = await make_backend(upstream.v1)

    events, meter = await run(backend, completion(stream=True))

    assert texts(events) == pieces
    assert events[-1] == Finish("stop", estimate("Once upon a time"), estimate("".join(pieces)), "estimate")
    assert meter.usage_source == "estimate"
    assert meter.text_parts == pieces


async def test_usage_without_prompt_tokens_falls_back_to_the_local_count(upstream, make_backend):
    upstream.behaviour = json_answer(completion_body("abcdefgh", {"completion_tokens": 99}))
    backend = await make_backend(upstream.v1)

    events, _ = await run(backend, completion())

    assert events[-1] == Finish("stop", estimate("Once upon a time"), 2, "estimate")


@pytest.fixture(scope="module")
def reference_vocab():
    from llama_cpp import Llama

    return Llama(model_path=str(embedded_gguf_path()), vocab_only=True, verbose=False)


def exact(vocab, text: str) -> int:
    return len(vocab.tokenize(text.encode("utf-8"), add_bos=False)) if text else 0


def reference_chat_tokens(vocab, messages: tuple[ChatMessage, ...]) -> list[int]:
    """A chat prompt's tokens as llama-cpp-python's own server makes them: the GGUF's
    template through its Jinja2ChatFormatter, tokenized with special tokens parsed."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text(token: int) -> str:
        return vocab.detokenize([token], special=True).decode()

    formatter = Jinja2ChatFormatter(vocab.metadata["tokenizer.chat_template"], text(vocab.token_eos()), text(vocab.token_bos()))
    rendered = formatter(messages=[{"role": m.role, "content": m.content} for m in messages])
    return vocab.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)


async def test_non_stream_without_usage_counts_with_the_configured_tokenizer(upstream, make_backend, reference_vocab):
    text = "Hello there, wörld! 日本語 tokens."
    upstream.behaviour = json_answer(chat_body(text, None))
    backend = await make_backend(upstream.v1, tokenizer=embedded_gguf_path())

    events, meter = await run(backend, chat())

    # The prompt is counted through the GGUF's chat template, as the model sees it.
    prompt = len(reference_chat_tokens(reference_vocab, MESSAGES))
    assert prompt > sum(exact(reference_vocab, m.content) + 4 for m in MESSAGES)
    assert events == [TextDelta(text), Finish("stop", prompt, exact(reference_vocab, text), "tokenizer")]
    assert meter.usage_source == "tokenizer"
    # The exact count differs from the estimate for this text, so the test can tell them apart.
    assert exact(reference_vocab, text) != estimate(text)


async def test_stream_without_usage_counts_with_the_configured_tokenizer(upstream, make_backend, reference_vocab):
    pieces = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog."]
    upstream.behaviour = sse_answer(completion_chunks(pieces, "length", None))
    backend = await make_backend(upstream.v1, tokenizer=embedded_gguf_path())

    events, meter = await run(backend, completion(prompt="A sentence with every letter:", stream=True))

    whole = "".join(pieces)
    expected = Finish("length", exact(reference_vocab, "A sentence with every letter:"), exact(reference_vocab, whole), "tokenizer")
    assert texts(events) == pieces
    assert events[-1] == expected
    assert (meter.tokens_prompt, meter.tokens_completion, meter.usage_source) == expected_meter(expected)


def expected_meter(finish: Finish) -> tuple[int, int, str]:
    return finish.tokens_prompt, finish.tokens_completion, finish.usage_source


# (d) (e) upstream errors ---------------------------------------------------------------


@pytest.fixture
def refused_url():
    """A 127.0.0.1 port that is bound but not listening: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@pytest.mark.parametrize("stream", [False, True])
async def test_connection_refused_is_unavailable_502(refused_url, make_backend, stream):
    backend = await make_backend(refused_url)
    meter = UsageMeter()
    prepared = await backend.prepare(chat(stream=stream))

    with pytest.raises(BackendUnavailable) as caught:
        async for _ in backend.execute(prepared, meter):
            pass

    assert caught.value.status == 502
    assert caught.value.code == "upstream_unavailable"
    assert meter.settled.is_set()


@pytest.mark.parametrize(("upstream_status", "status"), [(500, 502), (502, 502), (503, 503), (429, 503)])
@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_server_errors_are_unavailable(upstream, make_backend, upstream_status, status, stream):
    upstream.behaviour = json_answer({"error": {"message": "engine on fire", "type": "server_error"}}, upstream_status)
    backend = await make_backend(upstream.v1)

    with pytest.raises(BackendUnavailable) as caught:
        await run(backend, chat(stream=stream))

    assert caught.value.status == status
    assert "engine on fire" in str(caught.value)


@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_400_is_rejected_with_its_status_and_message(upstream, make_backend, stream):
    message = "'temperature' must be at most 2"
    upstream.behaviour = json_answer(
        {"error": {"message": message, "type": "invalid_request_error", "param": "temperature", "code": "bad_temperature"}},
        400,
    )
    backend = await make_backend(upstream.v1)

    with pytest.raises(UpstreamRejected) as caught:
        await run(backend, chat(stream=stream))

    assert caught.value.status == 400
    assert str(caught.value) == message
    assert caught.value.code == "bad_temperature"
    assert caught.value.error_type == "invalid_request_error"


async def test_upstream_4xx_without_json_body_is_rejected_with_a_generic_message(upstream, make_backend):
    async def not_found(request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, text="<html>nope</html>", content_type="text/html")

    upstream.behaviour = not_found
    backend = await make_backend(upstream.v1)

    with pytest.raises(UpstreamRejected) as caught:
        await run(backend, chat())

    assert caught.value.status == 404
    assert caught.value.code == "upstream_rejected"
    assert "404" in str(caught.value)


@pytest.mark.parametrize(
    "payload", [b"not json", b"[]", b'{"choices": []}', b'{"no": "choices"}', b'{"choices": [{"text": "x"}]}']
)
async def test_malformed_success_body_is_unavailable(upstream, make_backend, payload):
    async def malformed(request: web.Request) -> web.StreamResponse:
        return web.Response(body=payload, content_type="application/json")

    upstream.behaviour = malformed
    backend = await make_backend(upstream.v1)

    with pytest.raises(BackendUnavailable) as caught:
        await run(backend, chat())

    assert caught.value.status == 502


@pytest.mark.parametrize(
    ("payload", "stream"),
    [
        (b'{"choices": [{"message": null}]}', False),  # choice["message"].get -> AttributeError
        (b"data: [1, 2]\n\ndata: [DONE]\n\n", True),  # chunk.get on a list -> AttributeError
        (b'data: {"choices": ["text"]}\n\ndata: [DONE]\n\n', True),  # choice.get on a str
    ],
)
async def test_malformed_shapes_are_unavailable(upstream, make_backend, payload, stream):
    async def malformed(request: web.Request) -> web.StreamResponse:
        content_type = "text/event-stream" if stream else "application/json"
        return web.Response(body=payload, content_type=content_type)

    upstream.behaviour = malformed
    backend = await make_backend(upstream.v1)

    with pytest.raises(BackendUnavailable):
        await run(backend, chat(stream=stream))


async def test_execute_before_start_is_unavailable_503(upstream):
    backend = OpenAIBackend(model_config(upstream.v1))
    meter = UsageMeter()
    prepared = await backend.prepare(chat())

    with pytest.raises(BackendUnavailable) as caught:
        async for _ in backend.execute(prepared, meter):
            pass

    assert caught.value.status == 503
    assert meter.settled.is_set()


@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_dropping_mid_body_is_unavailable(upstream, make_backend, stream):
    async def dies(request: web.Request) -> web.StreamResponse:
        if stream:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b"data: " + orjson.dumps(chat_chunks(["partial"])[1]) + b"\n\n")
        else:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = 10_000
            await response.prepare(request)
            await response.write(b'{"choices": [')
        request.transport.close()  # the body is truncated: no last chunk / short of Content-Length
        return response

    upstream.behaviour = dies
    backend = await make_backend(upstream.v1)
    meter = UsageMeter()
    prepared = await backend.prepare(chat(stream=stream))
    seen: list = []

    with pytest.raises(BackendUnavailable):
        async for event in backend.execute(prepared, meter):
            seen.append(event)

    assert seen == ([TextDelta("partial")] if stream else [])
    # The upstream took the request, so what it served is counted, off the event loop,
    # before the meter settles: the prompt (through no template here: an estimate) and
    # the text that reached the client.
    await asyncio.wait_for(meter.settled.wait(), WAIT_S)
    assert meter.tokens_prompt == chat_prompt_estimate(MESSAGES)
    assert meter.tokens_completion == (estimate("partial") if stream else 0)
    assert meter.usage_source == "estimate"


async def test_long_sse_line_within_the_bound_is_accepted(upstream, make_backend):
    big = "x" * (300 * 1024)  # over aiohttp's default read buffer, under SSE_LINE_BYTES_MAX
    upstream.behaviour = sse_answer(chat_chunks([big, "y"], "stop", usage(1, 2)))
    backend = await make_backend(upstream.v1)

    events, _ = await run(backend, chat(stream=True))

    assert texts(events) == [big, "y"]


@pytest.mark.parametrize("size", [600 * 1024, SSE_LINE_BYTES_MAX + 1])
async def test_sse_line_over_the_read_limit_is_unavailable(upstream, make_backend, size):
    huge = "x" * size
    upstream.behaviour = sse_answer(chat_chunks([huge], "stop", usage(1, 1)))
    backend = await make_backend(upstream.v1)

    try:
        events, _ = await run(backend, chat(stream=True))
    except BackendUnavailable:
        return  # refused as a typed backend error: fine at any size
    # Accepted: only allowed within the module's own bound.
    assert size <= SSE_LINE_BYTES_MAX
    assert texts(events) == [huge]


# (f) timeouts --------------------------------------------------------------------------


async def test_upstream_slower_than_read_timeout_is_backend_timeout(upstream, make_backend):
    async def hangs(request: web.Request) -> web.StreamResponse:
        await upstream.release.wait()  # set only at teardown
        return web.json_response(chat_body("too late", usage(1, 1)))

    upstream.behaviour = hangs
    backend = await make_backend(upstream.v1, timeout_read_s=0.5)
    meter = UsageMeter()
    prepared = await backend.prepare(chat())

    with pytest.raises(BackendTimeout) as caught:
        async with asyncio.timeout(WAIT_S):
            async for _ in backend.execute(prepared, meter):
                pass

    assert caught.value.status == 504
    assert caught.value.code == "upstream_timeout"
    assert meter.settled.is_set()


async def test_stream_stalling_after_first_delta_is_backend_timeout(upstream, make_backend):
    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: " + orjson.dumps(chat_chunks(["first"])[1]) + b"\n\n")
        await upstream.release.wait()
        return response

    upstream.behaviour = stalls
    backend = await make_backend(upstream.v1, timeout_read_s=0.5)
    meter = UsageMeter()
    prepared = await backend.prepare(chat(stream=True))
    seen: list = []

    with pytest.raises(BackendTimeout):
        async with asyncio.timeout(WAIT_S):
            async for event in backend.execute(prepared, meter):
                seen.append(event)

    assert seen == [TextDelta("first")]
    await asyncio.wait_for(meter.settled.wait(), WAIT_S)
    assert meter.text_parts == ["first"]
    assert (meter.tokens_prompt, meter.tokens_completion) == (chat_prompt_estimate(MESSAGES), estimate("first"))


# (g) consumer closes the stream early --------------------------------------------------


async def test_closing_the_stream_early_settles_the_meter_and_closes_the_upstream(upstream, make_backend):
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = orjson.dumps(chat_chunks(["tick"])[1])
        try:
            while not upstream.release.is_set():
                await response.write(b"data: " + chunk + b"\n\n")
                await asyncio.sleep(0.01)  # pacing of the fake upstream only; nothing waits on it
        except (ConnectionError, RuntimeError):
            upstream.disconnected.set()
        return response

    upstream.behaviour = endless
    backend = await make_backend(upstream.v1)
    meter = UsageMeter()
    prepared = await backend.prepare(chat(stream=True))
    events = backend.execute(prepared, meter)

    first = await events.__anext__()
    assert first == TextDelta("tick")
    assert not meter.settled.is_set()
    await events.aclose()

    await asyncio.wait_for(meter.settled.wait(), WAIT_S)
    assert meter.text_parts[0] == "tick"
    assert meter.tokens_completion == estimate("".join(meter.text_parts)) >= 1
    assert meter.tokens_prompt == chat_prompt_estimate(MESSAGES)
    await asyncio.wait_for(upstream.disconnected.wait(), WAIT_S)


# (h) prepare and the context window ----------------------------------------------------


async def test_prepare_without_context_window_counts_nothing(upstream):
    backend = OpenAIBackend(model_config(upstream.v1))

    prepared = await backend.prepare(chat(max_tokens=123))
    assert (prepared.tokens_prompt, prepared.max_tokens) == (None, 123)
    prepared = await backend.prepare(completion())
    assert (prepared.tokens_prompt, prepared.max_tokens) == (None, None)
    assert prepared.tokens_prompt_max >= len(completion().prompt.encode())


async def test_prepare_max_tokens_defaults_to_the_remaining_window(upstream):
    backend = OpenAIBackend(model_config(upstream.v1, context_window=100))
    prompt = "x" * 160  # 40 tokens by the estimate

    prepared = await backend.prepare(completion(prompt=prompt))
    assert (prepared.tokens_prompt, prepared.max_tokens) == (40, 60)
    prepared = await backend.prepare(completion(prompt=prompt, max_tokens=60))
    assert prepared.max_tokens == 60

    prepared = await backend.prepare(chat())
    assert prepared.tokens_prompt == chat_prompt_estimate(MESSAGES)
    assert prepared.max_tokens == 100 - chat_prompt_estimate(MESSAGES)


@pytest.mark.parametrize(
    ("request_", "param"),
    [
        (completion(prompt="x" * 160, max_tokens=61), "prompt"),
        (completion(prompt="x" * 400), "prompt"),  # the prompt alone fills the window
        (chat(messages=(ChatMessage("user", "y" * 400),)), "messages"),
        (chat(max_tokens=100), "messages"),
    ],
)
async def test_prepare_over_the_context_window_is_refused(upstream, request_, param):
    backend = OpenAIBackend(model_config(upstream.v1, context_window=100))

    with pytest.raises(ContextLengthExceeded) as caught:
        await backend.prepare(request_)

    assert caught.value.status == 400
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.param == param
    assert "100 tokens" in str(caught.value)
    assert upstream.requests == []


async def test_local_count_reuses_the_prepared_prompt_count(upstream, make_backend):
    upstream.behaviour = json_answer(completion_body("abcd", None))
    backend = await make_backend(upstream.v1, context_window=100)

    events, _ = await run(backend, completion(prompt="x" * 160))

    assert events[-1] == Finish("stop", 40, 1, "estimate")


# (i) ready -----------------------------------------------------------------------------


async def test_ready_when_models_answers(upstream, make_backend):
    backend = await make_backend(upstream.v1)

    ok, reason = await backend.ready()

    assert ok is True
    assert "200" in reason
    assert [(r.method, r.path) for r in upstream.requests] == [("GET", "/v1/models")]
    assert upstream.requests[0].headers["Authorization"] == "Bearer sk-upstream-secret"


async def test_not_ready_when_models_answers_5xx(upstream, make_backend):
    upstream.behaviour = json_answer({"error": {"message": "down"}}, 503)
    backend = await make_backend(upstream.v1)

    ok, reason = await backend.ready()

    assert ok is False
    assert "503" in reason


async def test_not_ready_when_unreachable(refused_url, make_backend):
    backend = await make_backend(refused_url)

    ok, reason = await backend.ready()

    assert ok is False
    assert "unreachable" in reason


async def test_not_ready_before_start_and_after_close(upstream, make_backend):
    backend = OpenAIBackend(model_config(upstream.v1))
    assert await backend.ready() == (False, "not started")

    await backend.start()
    assert (await backend.ready())[0] is True
    await backend.close()
    assert await backend.ready() == (False, "not started")
    await backend.close()  # closing twice is harmless
