"""The one-way request path (issue 11, item 5): however a request ends — refused at admission,
backend down, failure mid-stream, client gone, finished, replayed — it is finished once, its
usage record says how, and the tokens its lease did not use are back in the key's bucket.

The server runs on a clock the test holds still, so a bucket never refills by itself and every
figure below is exact: a probe request after each ending reads the bucket's level."""

from __future__ import annotations

import httpx
import pytest

from revstream.gateway._admission import TEMPLATE_TOKENS_MAX, TEMPLATE_TOKENS_PER_MESSAGE_MAX
from revstream.metering import FinalUsage, UsageStatus
from revstream.store._idempotency import AdmitKind

from fake_backend import FakeBackend
from inprocess import InProcessServer
from waiting import ManualClock, wait_until

LIMIT = 1000
PROMPT = [{"role": "user", "content": "x"}]  # one prompt token for the fake backend
PROBE = 1 + 1  # the probe's exact charge: one prompt token, max_tokens 1


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def server(tmp_path, clock):
    with InProcessServer(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, clock=clock) as running:
        running.key = running.new_key("lease", tokens_per_minute=LIMIT)
        yield running


def send(server, model: str, stream: bool = False, **extra) -> httpx.Response:
    body = {"model": model, "messages": PROMPT, "max_tokens": 10, "stream": stream}
    return httpx.post(server.v1 + "/chat/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {server.key}", **extra})


def bucket_after(server) -> int:
    """What the key's bucket held before a probe request (its remaining plus its own charge)."""
    probe = httpx.post(server.v1 + "/chat/completions", timeout=30, headers={"Authorization": f"Bearer {server.key}"},
                       json={"model": "fake-echo", "messages": PROMPT, "max_tokens": 1})
    assert probe.status_code == 200, probe.text
    return int(probe.headers["x-ratelimit-remaining-tokens"]) + PROBE


def used(server, request_id: str) -> int:
    [record] = [r for r in server.records() if r.request_id == request_id]
    return record.tokens_prompt + record.tokens_completion


@pytest.mark.parametrize("model, stream, status, error_code, http_status", [
    ("fake-echo", False, "ok", None, 200),
    ("fake-echo", True, "ok", None, 200),
    ("fake-fail-early", False, "error", "upstream_unavailable", 502),
    ("fake-fail-early", True, "error", "upstream_unavailable", 502),
    ("fake-fail-mid", True, "error", "upstream_unavailable", 200),  # the error is the stream's last event
])
def test_every_end_records_once_and_gives_back_what_was_not_used(server, model, stream, status, error_code, http_status):
    response = send(server, model, stream)
    assert response.status_code == http_status
    request_id = response.headers["x-request-id"]
    [record] = server.records()
    assert (record.request_id, record.status, record.error_code) == (request_id, status, error_code)
    assert bucket_after(server) == LIMIT - used(server, request_id)


def test_a_client_leaving_a_stream_is_finished_once_as_aborted(server):
    body = {"model": "fake-slow", "messages": PROMPT, "max_tokens": 90, "stream": True}
    with httpx.stream("POST", server.v1 + "/chat/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {server.key}"}) as response:
        request_id = response.headers["x-request-id"]
        lines = response.iter_lines()
        while not next(lines).startswith("data: "):
            pass
    record = wait_until(lambda: [r for r in server.records(final=False) if r.status != "pending"], what="the abort")[0]
    assert (record.request_id, record.status, record.error_code) == (request_id, "aborted", "client_disconnected")
    assert record.tokens_completion < 90
    assert bucket_after(server) == LIMIT - used(server, request_id)


def test_a_client_leaving_a_completion_is_finished_once_as_aborted(server):
    server.post_and_leave("/chat/completions", {"model": "fake-slow", "messages": PROMPT, "max_tokens": 90})
    record = wait_until(lambda: [r for r in server.records(final=False) if r.status != "pending"], what="the abort")[0]
    assert record.status == "aborted"
    assert bucket_after(server) == LIMIT - used(server, record.request_id)


def test_refusals_at_admission_leave_no_record_and_keep_only_a_counted_prompt(server):
    unknown = send(server, "no-such-model")
    assert unknown.status_code == 404
    too_long = httpx.post(server.v1 + "/chat/completions", headers={"Authorization": f"Bearer {server.key}"},
                          json={"model": "fake-window", "messages": PROMPT, "max_tokens": 100})
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "context_length_exceeded"
    assert server.records() == [], "refused before the backend call: no usage record"
    # The prompt was counted for it: its byte bound stays charged (1 byte and the allowances).
    assert bucket_after(server) == LIMIT - (1 + TEMPLATE_TOKENS_MAX + TEMPLATE_TOKENS_PER_MESSAGE_MAX)


def test_an_idempotent_replay_takes_nothing_but_a_request(server):
    first = send(server, "fake-echo", **{"Idempotency-Key": "once"})
    spent = used(server, first.headers["x-request-id"])
    replay = send(server, "fake-echo", **{"Idempotency-Key": "once"})
    assert replay.headers["idempotent-replayed"] == "true" and replay.content == first.content
    assert not [r for r in server.records() if r.request_id == replay.headers["x-request-id"]], "no second record"
    assert bucket_after(server) == LIMIT - spent


def test_the_injected_clock_times_the_usage_record(server, clock):
    clock.advance(3600)
    response = send(server, "fake-echo")
    [record] = server.records()
    assert record.time_us == clock.now_us and record.finalized_us == clock.now_us
    assert response.json()["created"] == clock.now_us // 1_000_000
    assert FakeBackend.kind == record.backend


def test_statuses_and_admission_kinds_are_the_stored_strings():
    assert [str(s) for s in UsageStatus] == ["pending", "ok", "aborted", "error", "interrupted"]
    assert [str(k) for k in AdmitKind] == ["admitted", "denied", "replay", "running", "mismatch"]
    final = FinalUsage("req_1", "ok", 1, 2, "backend", 0)
    assert final.status is UsageStatus.OK and final.status == "ok"
    with pytest.raises(ValueError):
        FinalUsage("req_1", "pending", 1, 2, "backend", 0)
