"""The optional upstream classifier: its request, its reply, and the asymmetric combination."""

from __future__ import annotations

import pytest
from openai.types.chat import ChatCompletion

from revstream.ads import (
    ClassifierError,
    Sensitivity,
    UpstreamClassifier,
    combine,
    parse_upstream_reply,
    read_conversation,
    upstream_request,
    upstream_unavailable,
)


def reply(content: str) -> dict:
    """A reply exactly as an OpenAI-compatible server sends it (built through the SDK's own type)."""
    return ChatCompletion.model_validate({
        "id": "x", "object": "chat.completion", "created": 0, "model": "guard",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }).model_dump()


def test_the_request_is_an_ordinary_chat_completion():
    body = upstream_request(["Hello", "x" * 20_000], "guard-model")
    assert body["model"] == "guard-model" and body["temperature"] == 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert len(body["messages"][1]["content"]) < 16_100  # the latest 16,000 characters only
    assert "self_harm" in body["messages"][0]["content"]


def test_replies_are_read_strictly():
    assert parse_upstream_reply(reply('{"topics": ["health", "minors"]}')).topics == ("health", "minors")
    assert parse_upstream_reply(reply('```json\n{"topics": []}\n```')) == Sensitivity()
    for bad in ('{"topics": ["weather"]}', "no", '{"labels": []}', '{"topics": "health"}'):
        with pytest.raises(ClassifierError):
            parse_upstream_reply(reply(bad))
    with pytest.raises(ClassifierError):
        parse_upstream_reply({"choices": []})


def test_upstream_can_only_add():
    local = Sensitivity(("health",), ("doctor",))
    assert combine(local, Sensitivity()).topics == ("health",)
    assert combine(Sensitivity(), Sensitivity(("politics",))).topics == ("politics",)
    assert combine(Sensitivity(), upstream_unavailable()).blocks_ads


def test_the_wrapped_classifier(classifier):
    calls = []

    def post(body):
        calls.append(body)
        return reply('{"topics": ["mental_health"]}')

    def failing(body):
        raise ClassifierError("timeout")

    neutral = read_conversation(["Everything feels grey lately."])
    assert UpstreamClassifier(classifier, "guard", post).classify(neutral).topics == ("mental_health",)
    assert UpstreamClassifier(classifier, "guard", failing).classify(neutral).unjudged == "upstream_failed"
    sensitive = read_conversation(["I was diagnosed with diabetes."])
    assert UpstreamClassifier(classifier, "guard", post).classify(sensitive).topics == ("health",)
    assert len(calls) == 1  # a conversation the local classifier already refused is not sent upstream
