"""Multi-megabyte prompts must not stall a worker's event loop (issue 12, item 7).

Three 4 MB bodies sent at once used to stall /health on the same worker for seconds: the
backend tokenized each prompt on the event loop before any limit applied. The gateway now
charges the caller's tokens-per-minute with the prompt's byte bound *before* the backend
counts anything, so a caller whose limits cannot hold such a prompt costs the worker nothing.
(That the backends' own `prepare()` tokenizes off the loop, for callers with room for it, is
the backends' part of the item; see the last test.)

/health's latency during the flood is a liveness check with a generous bound, not a benchmark.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time

import httpx
import orjson
import pytest

from fake_backend import FakeBackend
from inprocess import InProcessServer
from waiting import wait_until

FLOOD_BODIES = 3
PROMPT_BYTES = 4_000_000  # under the default 4 MiB body limit
HEALTH_LATENCY_S_MAX = 1.0
TOKENS_PER_MINUTE = 100_000
EMBEDDED = "smollm2-135m-instruct"


def flood(base_url: str, key: str, model: str) -> tuple[list[httpx.Response], float]:
    """Send FLOOD_BODIES chat requests of PROMPT_BYTES at once while /health is asked again
    and again; returns their answers and the slowest /health answer seen meanwhile."""
    body = orjson.dumps({"model": model, "max_tokens": 16,
                         "messages": [{"role": "user", "content": "a " * (PROMPT_BYTES // 2)}]})
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    flooding = threading.Event()
    latencies_s: list[float] = []

    def probe() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                started = time.monotonic()
                assert client.get(base_url + "/health").status_code == 200
                latencies_s.append(time.monotonic() - started)
                if not flooding.is_set():
                    return

    def send(_) -> httpx.Response:
        return httpx.post(base_url + "/v1/chat/completions", content=body, headers=headers, timeout=120)

    flooding.set()
    with concurrent.futures.ThreadPoolExecutor(FLOOD_BODIES + 1) as pool:
        prober = pool.submit(probe)
        wait_until(lambda: latencies_s, what="a first /health answer")
        answers = list(pool.map(send, range(FLOOD_BODIES)))
        flooding.clear()
        prober.result(120)
    return answers, max(latencies_s)


@pytest.fixture
def server(tmp_path):
    with InProcessServer(f"sqlite:///{tmp_path / 'store.db'}", tmp_path) as running:
        yield running


def test_prompts_beyond_the_callers_limits_are_refused_before_the_backend_counts_them(server):
    """`fake-tokenize` blocks the event loop for 1 s per 4 MB in prepare(), as a tokenizer on
    the loop does: none of it may run for a caller who cannot afford the prompt."""
    key = server.new_key("flooder", tokens_per_minute=TOKENS_PER_MINUTE)
    prepared = FakeBackend.prepared
    answers, slowest_s = flood(server.base_url, key, "fake-tokenize")
    assert [a.status_code for a in answers] == [429] * FLOOD_BODIES
    assert all("Request too large for tokens per minute" in a.json()["error"]["message"] for a in answers)
    assert FakeBackend.prepared == prepared, "no prompt was counted"
    assert slowest_s < HEALTH_LATENCY_S_MAX, f"/health took {slowest_s:.2f}s during the flood"
    assert server.records() == [], "refused before the backend: no usage record"


@pytest.mark.model
def test_the_embedded_model_stays_live_under_a_flood_of_prompts_beyond_the_limits(embedded_server):
    key = embedded_server.cli_json("keys", "create", "--customer", "flooder", "--tpm", str(TOKENS_PER_MINUTE))["key"]
    answers, slowest_s = flood(embedded_server.base_url, key, EMBEDDED)
    assert [a.status_code for a in answers] == [429] * FLOOD_BODIES
    assert slowest_s < HEALTH_LATENCY_S_MAX, f"/health took {slowest_s:.2f}s during the flood"


@pytest.mark.model
def test_the_embedded_model_stays_live_under_a_flood_of_prompts_within_the_limits(embedded_server, embedded_key):
    """A caller with room for the prompts gets them counted (then refused as too long for the
    model's context window); the counting must not hold the event loop meanwhile."""
    answers, slowest_s = flood(embedded_server.base_url, embedded_key, EMBEDDED)
    assert [a.json()["error"]["code"] for a in answers] == ["context_length_exceeded"] * FLOOD_BODIES
    assert slowest_s < HEALTH_LATENCY_S_MAX, f"/health took {slowest_s:.2f}s during the flood"
