"""The request pipeline with a fake backend, on a real uvicorn server in this process,
against SQLite and the real PostgreSQL."""

from __future__ import annotations

import concurrent.futures

import httpx
import openai
import pytest

from fake_backend import FakeBackend
from inprocess import InProcessServer
from waiting import wait_until


@pytest.fixture
def server(database_url, tmp_path):
    with InProcessServer(database_url, tmp_path) as running:
        yield running


def test_one_final_record_per_request_under_concurrency(server):
    client = server.client()
    request_count = 60

    def call(index: int):
        stream = index % 2 == 0
        if stream:
            return list(client.chat.completions.create(model="fake-echo", messages=[{"role": "user", "content": "a b"}], stream=True))
        return client.chat.completions.create(model="fake-echo", messages=[{"role": "user", "content": "a b"}])

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        list(pool.map(call, range(request_count)))
    records = server.records()
    assert len(records) == request_count
    assert len({r.request_id for r in records}) == request_count
    assert all(r.status == "ok" and r.tokens_prompt == 2 and r.tokens_completion == 5 for r in records)


def test_backend_down_before_generation_is_502_with_an_error_record(server):
    client = server.client()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="fake-fail-early", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_unavailable"
    assert caught.value.response.headers["x-should-retry"] == "true"
    [record] = server.records()
    assert record.status == "error" and record.tokens_completion == 0


def test_backend_failing_mid_stream_sends_an_error_event_and_records_what_was_generated(server):
    response = httpx.post(
        server.v1 + "/chat/completions", headers={"Authorization": f"Bearer {server.key}"},
        json={"model": "fake-fail-mid", "messages": [{"role": "user", "content": "x"}], "stream": True},
    )
    assert response.status_code == 200
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert '"error"' in events[-2] and "dropped the connection" in events[-2]
    [record] = server.records()
    assert record.status == "error" and record.tokens_completion == 2


def test_the_usage_record_is_pending_while_the_backend_works(server):
    client = server.client()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(client.chat.completions.create, model="fake-gate", messages=[{"role": "user", "content": "x"}])
        [pending] = wait_until(lambda: server.records(final=False), what="the pending record")
        assert pending.status == "pending" and pending.tokens_prompt == 1
        FakeBackend.gate.set()
        assert future.result(20).usage.completion_tokens == 5
    [final] = server.records()
    assert final.status == "ok"


def test_a_client_leaving_a_non_streamed_request_cancels_the_backend(server):
    cancelled_before = FakeBackend.cancelled
    server.post_and_leave("/chat/completions",
                          {"model": "fake-slow", "messages": [{"role": "user", "content": "x"}], "max_tokens": 90})
    [record] = server.records()
    assert record.status == "aborted"
    assert record.tokens_completion < 90
    assert FakeBackend.cancelled == cancelled_before + 1
