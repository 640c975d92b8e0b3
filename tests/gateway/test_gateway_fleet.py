"""The money invariants on a real fleet: several worker processes of the real server,
the real PostgreSQL and the real Redis, the embedded model; and a worker killed with -9."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time

import httpx
import openai
import pytest

from conftest import REDIS_URL, start_server
from waiting import wait_until

pytestmark = [pytest.mark.model, pytest.mark.postgres, pytest.mark.redis]

MODEL = "smollm2"
PRICE = "1000"  # USD per million tokens, in and out: 0.001 USD a token
TOKEN_NANOS = 1_000_000


def fleet_config(database_url: str, redis_prefix: str) -> str:
    return (
        f'[store]\ndatabase_url = "{database_url}"\nredis_url = "{REDIS_URL}"\n'
    )


@pytest.fixture
def fleet(tmp_path, postgres_url):
    server = start_server(tmp_path / "home", config=fleet_config(postgres_url, tmp_path.name), workers=3)
    server.cli("prices", "set", "--model", "smollm2-135m-instruct", "--input", PRICE, "--output", PRICE, "--from", "2020-01-01")
    yield server
    server.stop()


def test_a_hundred_and_twenty_parallel_requests_never_overspend_a_small_budget(fleet):
    key = fleet.new_key("crowd")
    fleet.cli("credit", "add", "--customer", "crowd", "--amount", "100.00")
    fleet.cli("budgets", "set", "--customer", "crowd", "--period", "month", "--amount", "0.60")
    client = openai.OpenAI(base_url=fleet.v1, api_key=key, max_retries=0, timeout=300)

    def call(index: int):
        try:
            raw = client.completions.with_raw_response.create(
                model=MODEL, prompt=f"Count: {index},", max_tokens=4, temperature=0
            )
            return raw.headers["x-request-id"]
        except openai.RateLimitError as error:
            assert error.code == "insufficient_quota"
            return None

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        outcomes = list(pool.map(call, range(120)))
    served = {request_id for request_id in outcomes if request_id}
    records = fleet.cli_json("usage", "--customer", "crowd")
    assert {r["request_id"] for r in records} == served, "exactly one usage record per served request"
    assert len(records) == len(served)
    spent = sum(r["charge_nanos"] for r in records)
    assert spent <= 600_000_000, f"spent {spent} nanos of a 0.60 budget"
    assert 0 < len(served) < 120
    assert all(r["charge_nanos"] == (r["tokens_prompt"] + r["tokens_completion"]) * TOKEN_NANOS for r in records)
    balance = fleet.cli_json("balance", "--customer", "crowd")
    assert balance["reserved_nanos"] == 0 and balance["spent_nanos"] == spent
    assert fleet.cli_json("ledger", "check")["ok"] is True


def test_a_rate_limit_holds_for_the_whole_fleet_not_per_worker(fleet):
    key_info = fleet.cli_json("keys", "create", "--customer", "ratelimited", "--rpm", "12")
    fleet.cli("credit", "add", "--customer", "ratelimited", "--amount", "100.00")
    client = openai.OpenAI(base_url=fleet.v1, api_key=key_info["key"], max_retries=0, timeout=300)

    def call(index: int) -> bool:
        try:
            client.completions.create(model=MODEL, prompt="Hi", max_tokens=1)
            return True
        except openai.RateLimitError as error:
            assert error.code == "rate_limit_exceeded"
            return False

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        allowed = sum(pool.map(call, range(48)))
    elapsed_s = time.monotonic() - started
    # A bucket of 12 refilling 12 a minute: at most 12 + 12 * elapsed / 60, with 3 workers
    # that would each allow 12 if the counters were per worker.
    assert allowed <= 12 + int(12 * elapsed_s / 60) + 1
    assert allowed >= 12


def test_kill_9_of_a_worker_mid_stream_leaks_nothing(tmp_path, postgres_url):
    home = tmp_path / "home"
    config = f'[store]\ndatabase_url = "{postgres_url}"\n'
    server = start_server(home, config=config, workers=1)
    try:
        server.cli("prices", "set", "--model", "smollm2-135m-instruct", "--input", PRICE, "--output", PRICE, "--from", "2020-01-01")
        key = server.new_key("victim")
        server.cli("credit", "add", "--customer", "victim", "--amount", "10.00")
        body = {"model": MODEL, "prompt": "1, 2, 3,", "max_tokens": 1500, "stream": True, "temperature": 0}
        with httpx.stream("POST", server.v1 + "/completions", json=body,
                          headers={"Authorization": f"Bearer {key}"}, timeout=60) as response:
            request_id = response.headers["x-request-id"]
            # Read one event but keep the connection open (leaving the loop would close it).
            lines = response.iter_lines()
            while not next(lines).startswith("data: "):
                pass
            during = server.cli_json("balance", "--customer", "victim")
            assert during["reserved_nanos"] > 0, "the request holds its maximum cost while it runs"
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(30)
    finally:
        server.stop()
    [record] = server.cli_json("usage", "--customer", "victim")
    assert record["status"] == "pending", "the crash left the record pending"

    restarted = start_server(home, config=config, workers=1)
    try:
        def closed() -> dict | None:
            [record] = restarted.cli_json("usage", "--customer", "victim")
            return record if record["status"] != "pending" else None

        record = wait_until(closed, 60, "the crashed worker's record closed")
        assert record["request_id"] == request_id
        assert record["status"] == "interrupted" and record["error_code"] == "worker_lost"
        assert record["charge_nanos"] == record["tokens_prompt"] * TOKEN_NANOS, "billed for what is known"
        balance = restarted.cli_json("balance", "--customer", "victim")
        assert balance["reserved_nanos"] == 0, "the hold came back"
        assert balance["available_nanos"] == 10_000_000_000 - record["charge_nanos"]
        assert restarted.cli_json("ledger", "check")["ok"] is True
    finally:
        restarted.stop()
