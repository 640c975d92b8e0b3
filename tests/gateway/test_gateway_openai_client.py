"""The embedded default, driven with the official `openai` client over real HTTP."""

from __future__ import annotations

import httpx
import openai
import pytest

from waiting import wait_until

MODEL = "smollm2-135m-instruct"
HELLO = [{"role": "user", "content": "Say hello."}]

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def client(embedded_server, embedded_key) -> openai.OpenAI:
    return openai.OpenAI(base_url=embedded_server.v1, api_key=embedded_key, max_retries=0, timeout=120)


def usage_of(server, request_id: str) -> dict:
    records = server.cli_json("usage")
    matches = [r for r in records if r["request_id"] == request_id]
    assert len(matches) == 1, f"expected exactly one usage record for {request_id}, found {len(matches)}"
    return matches[0]


def test_models_lists_the_embedded_model_and_its_alias(client):
    ids = {model.id for model in client.models.list()}
    assert {MODEL, "smollm2"} <= ids


def test_chat_completion_has_exact_usage_and_one_usage_record(client, embedded_server):
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=HELLO, max_tokens=8, temperature=0)
    completion = raw.parse()
    request_id = raw.headers["x-request-id"]
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason in ("stop", "length")
    usage = completion.usage
    assert 0 < usage.completion_tokens <= 8
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    record = usage_of(embedded_server, request_id)
    assert record["status"] == "ok"
    assert (record["tokens_prompt"], record["tokens_completion"]) == (usage.prompt_tokens, usage.completion_tokens)


def test_max_tokens_bounds_the_completion_exactly(client):
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Write a long story about a dragon."}],
        max_completion_tokens=5, temperature=0,
    )
    assert completion.usage.completion_tokens == 5
    assert completion.choices[0].finish_reason == "length"


def test_stream_with_include_usage_ends_with_a_usage_chunk(client, embedded_server):
    stream = client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=12, temperature=0, stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = chunks[-1]
    assert final.choices == []
    assert final.usage.completion_tokens > 0
    assert [c for c in chunks if c.choices][-1].choices[0].finish_reason in ("stop", "length")
    assert all(c.usage is None for c in chunks[:-1])
    # The stream says the same thing as the non-streamed completion with the same seed.
    same = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=12, temperature=0)
    assert same.choices[0].message.content == text
    assert same.usage.completion_tokens == final.usage.completion_tokens


def test_stream_without_include_usage_has_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=4, stream=True))
    assert chunks and all(c.choices for c in chunks)


def test_seed_makes_sampling_repeatable(client):
    def sample():
        return client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Name a fruit."}],
            max_tokens=10, temperature=1.0, top_p=0.9, seed=1234,
        ).choices[0].message.content

    assert sample() == sample()


def test_stop_sequence_ends_the_text_before_it(client):
    completion = client.completions.create(
        model=MODEL, prompt="1, 2, 3, 4, 5, 6,", max_tokens=20, temperature=0, stop=[" 8"],
    )
    choice = completion.choices[0]
    assert " 8" not in choice.text
    assert choice.finish_reason == "stop"


def test_completions_endpoint(client):
    completion = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=6, temperature=0)
    assert completion.object == "text_completion"
    assert completion.usage.completion_tokens <= 6
    assert completion.usage.prompt_tokens > 0


def test_unknown_model_is_404_model_not_found(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-5", messages=HELLO)
    assert caught.value.code == "model_not_found"
    assert caught.value.body["param"] == "model"


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": -0.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 2.5}, "max_tokens"),
        ({"stop": 7}, "stop"),
        ({"n": 2}, "n"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(client, extra, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO, extra_body=extra)
    assert caught.value.body["param"] == param
    assert caught.value.body["type"] == "invalid_request_error"


def test_bad_messages_are_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "wizard", "content": "hi"}])
    assert caught.value.body["param"] == "messages[0].role"


def test_prompt_longer_than_the_context_window_is_400(client):
    long_prompt = "word " * 3000
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": long_prompt}])
    assert caught.value.code == "context_length_exceeded"
    assert "maximum context length is 2048 tokens" in caught.value.message


def test_max_tokens_beyond_the_window_is_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=4000)
    assert caught.value.code == "context_length_exceeded"


def test_missing_unknown_and_revoked_keys_are_401(embedded_server):
    def call(key):
        bare = openai.OpenAI(base_url=embedded_server.v1, api_key=key, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            bare.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=1)
        body = caught.value.body
        assert set(body) >= {"message", "type", "param", "code"}
        return caught.value

    assert call("rs-not-a-real-key").code == "invalid_api_key"
    response = httpx.post(embedded_server.v1 + "/chat/completions", json={"model": MODEL, "messages": HELLO})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert response.headers["x-request-id"].startswith("req_")

    created = embedded_server.cli_json("keys", "create", "--customer", "to-revoke")
    working = openai.OpenAI(base_url=embedded_server.v1, api_key=created["key"], max_retries=0)
    assert working.models.list().data
    embedded_server.cli("keys", "revoke", created["key_id"])
    # Revocation reaches a worker within its key cache interval (2 s by default).

    def refused() -> bool:
        try:
            working.models.list()
        except openai.AuthenticationError:
            return True
        return False

    wait_until(refused, 10, "the revocation")
    call(created["key"])


def test_invalid_json_is_400_in_the_openai_error_format(embedded_server, embedded_key):
    response = httpx.post(
        embedded_server.v1 + "/chat/completions", content=b"{not json",
        headers={"Authorization": f"Bearer {embedded_key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and "not valid JSON" in error["message"]
    assert "x-request-id" in response.headers


def test_every_response_carries_a_request_id(embedded_server, embedded_key):
    for path in ("/health", "/metrics", "/v1/models", "/nope"):
        response = httpx.get(embedded_server.base_url + path, headers={"Authorization": f"Bearer {embedded_key}"})
        assert response.headers["x-request-id"].startswith("req_"), path
