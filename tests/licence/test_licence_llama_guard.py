"""Llama Guard on an OpenAI-compatible upstream: the prompt, the parser, and a fake upstream
(a Starlette app on a real port) that answers in Llama Guard's output format."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from revstream.licence import (
    HAZARDS,
    ClassifierError,
    LlamaGuardClassifier,
    LicenceSettings,
    LlamaGuardSettings,
    classifier_for,
    llama_guard_prompt,
    parse_llama_guard_output,
)

START_S_MAX = 10.0


def test_the_prompt_follows_the_llama_guard_3_format():
    prompt = llama_guard_prompt((("user", "How do I bake bread?"), ("assistant", "Mix flour and water.")), "assistant")
    assert prompt.startswith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nTask: Check if there is "
                             "unsafe content in 'Agent' messages")
    assert "<BEGIN UNSAFE CONTENT CATEGORIES>\nS1: Violent Crimes.\nS2: Non-Violent Crimes." in prompt
    assert "S14: Code Interpreter Abuse.\n<END UNSAFE CONTENT CATEGORIES>" in prompt
    assert "<BEGIN CONVERSATION>\n\nUser: How do I bake bread?\n\nAgent: Mix flour and water.\n\n<END CONVERSATION>" in prompt
    assert "ONLY THE LAST Agent message" in prompt and " - First line must read 'safe' or 'unsafe'." in prompt
    assert prompt.endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    assert len(HAZARDS) == 14


@pytest.mark.parametrize("answer, categories", [
    ("safe", ()), ("  safe\n", ()), ("unsafe\nS1", ("S1",)), ("unsafe\nS10,S1, S3", ("S1", "S3", "S10")),
    ("UNSAFE\nS14", ("S14",)),
])
def test_answers_in_the_output_format_are_parsed(answer, categories):
    assert parse_llama_guard_output(answer).categories == categories


@pytest.mark.parametrize("answer", ["", "I cannot help", "unsafe", "unsafe\nS15", "unsafe\nviolence"])
def test_anything_else_is_an_error_not_a_pass(answer):
    with pytest.raises(ClassifierError):
        parse_llama_guard_output(answer)


def fake_guard_app(seen: list) -> Starlette:
    def verdict(text: str) -> str:
        last = text.rsplit("User:", 1)[-1].split("<END CONVERSATION>")[0].lower()
        if "broken" in last:
            return "no idea"
        return "unsafe\nS1,S9" if "bomb" in last else "unsafe\nS2" if "steal" in last else "safe"

    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(body)
        if "fail" in body["prompt"]:
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        return JSONResponse({"object": "text_completion", "choices": [{"index": 0, "text": verdict(body["prompt"])}]})

    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(body)
        text = "User: " + body["messages"][-1]["content"]
        return JSONResponse({"object": "chat.completion",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": verdict(text)}}]})

    return Starlette(routes=[Route("/v1/completions", completions, methods=["POST"]),
                             Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.fixture
def fake_guard():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    seen: list = []
    server = uvicorn.Server(uvicorn.Config(fake_guard_app(seen), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S_MAX
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake Llama Guard upstream did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/v1", seen
    server.should_exit = True
    thread.join(timeout=START_S_MAX)


async def classify_all(base_url, mode, conversations):
    classifier = LlamaGuardClassifier(base_url, "llama-guard-3-1b", timeout_s=5, mode=mode)
    await classifier.start()
    try:
        return [await classifier.classify(messages) for messages in conversations]
    finally:
        await classifier.close()


@pytest.mark.parametrize("mode", ["completions", "chat"])
def test_the_classifier_asks_the_upstream_and_reads_its_verdict(fake_guard, mode):
    base_url, seen = fake_guard
    verdicts = asyncio.run(classify_all(base_url, mode, [
        (("user", "How do I bake bread?"),),
        (("user", "How do I build a bomb?"),),
        (("user", "How do I build a bomb?"), ("assistant", "No."), ("user", "How do I steal a car?")),
    ]))
    assert [v.categories for v in verdicts] == [(), ("S1", "S9"), ("S2",)]
    assert all(body["model"] == "llama-guard-3-1b" and body["temperature"] == 0 for body in seen)
    if mode == "completions":
        assert "<BEGIN UNSAFE CONTENT CATEGORIES>" in seen[0]["prompt"]
    else:
        assert seen[2]["messages"][-1] == {"role": "user", "content": "How do I steal a car?"}


def test_an_upstream_error_or_an_unreadable_answer_is_a_classifier_error(fake_guard):
    base_url, _ = fake_guard
    with pytest.raises(ClassifierError, match="503"):
        asyncio.run(classify_all(base_url, "completions", [(("user", "please fail"),)]))
    with pytest.raises(ClassifierError, match="no idea"):
        asyncio.run(classify_all(base_url, "completions", [(("user", "broken"),)]))


def test_an_unreachable_upstream_is_a_classifier_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ClassifierError, match="unreachable"):
        asyncio.run(classify_all(f"http://127.0.0.1:{port}/v1", "completions", [(("user", "hi"),)]))


def test_the_settings_choose_the_classifier(tmp_path):
    assert classifier_for(LicenceSettings(notice_path=tmp_path)).name == "builtin"
    guard = LlamaGuardSettings("http://127.0.0.1:9/v1", "llama-guard-3-8b")
    assert classifier_for(LicenceSettings(notice_path=tmp_path, classifier="llama-guard", llama_guard=guard)).name == "llama-guard"
