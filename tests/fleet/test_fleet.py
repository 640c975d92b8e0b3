"""A fleet as `scripts/fleet.sh` runs it: three `revstream serve` replicas (separate processes,
separate homes) on one real PostgreSQL and one real Redis, behind Debian's HAProxy, each with
an `openai` backend on a fake upstream (tests/fleet/fleet_upstream.py: exact usage, slow
streams). Through the load balancer only:

* every request leaves exactly one usage record, whichever replica served it;
* a budget and a rate limit hold for the fleet, not per replica;
* a replica killed with `kill -9` mid-stream loses no money: the others close its pending
  record as `interrupted` once its lease runs out, its hold is released, the ledger balances;
* one log: every final record is exactly one leaf, every checkpoint extends the previous one,
  `revstream log check` passes, and the tiles served through the balancer give the root;
* a month settles on the fleet's store and `revstream verify` checks it through the balancer;
* stopping the script stops every process it started.

The tests run in file order on one fleet (module scope): the kill leaves two replicas.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import select

from conftest import REDIS_URL, REPO, create_postgres_database, drop_postgres_database, free_port, revstream
from revstream.money import parse_amount
from revstream.store import (
    add_credit,
    consistency_hashes,
    create_key,
    find_customer_id,
    list_usage,
    make_engine,
    set_budget,
)
from revstream.store._schema import log_checkpoints, log_leaves
from revstream.transparency import TileReader, parse_checkpoint, verify_consistency, verify_note

from .fleet_upstream import PROMPT_TOKENS

pytestmark = [pytest.mark.fleet, pytest.mark.postgres, pytest.mark.redis]

REPLICAS = 3
MODEL = "fleet"
PRICE = "1000"  # USD per million tokens, in and out: 0.001 USD a token
TOKEN_NANOS = 1_000_000
MAX_TOKENS = 4
FLEET_START_S = 240.0
LEASE_WAIT_S = 120.0  # the worker lease (30 s) and a heartbeat (5 s), on a busy machine
STOP_WAIT_S = 60.0
TOKEN_DELAY_MS = 50  # a 2,000-token stream lasts 100 s: long enough to be killed mid-way


def _config(upstream_port: int) -> str:
    return f"""
[[models]]
name = "{MODEL}"
backend = "openai"
base_url = "http://127.0.0.1:{upstream_port}/v1"
upstream_model = "fleet-upstream"

[[prices]]
model = "{MODEL}"
input = "{PRICE}"
output = "{PRICE}"
effective_from = "2020-01-01"

[transparency]
origin = "fleet.test/log"
log_append_interval_s = 0.2
checkpoint_interval_s = 1
"""


def _wait(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s}s")
        time.sleep(0.2)


def _read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        values[name] = shlex.split(value)[0] if value else ""
    return values


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Fleet:
    def __init__(self, script: subprocess.Popen, env: dict[str, str], tmp: Path) -> None:
        self.script, self.env, self.tmp = script, env, tmp
        self.url = env["FLEET_URL"]
        self.engine = make_engine(env["REVSTREAM_DATABASE_URL"], Path(env["REVSTREAM_KEYS_DIR"]))

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def pid(self, replica: str) -> int:
        return int(self.env[f"REPLICA_{replica.rsplit('-', 1)[1]}_PID"])

    def pids(self) -> list[int]:
        return [int(self.env["HAPROXY_PID"])] + [self.pid(f"replica-{i}") for i in range(1, REPLICAS + 1)]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {name: self.env[name] for name in ("REVSTREAM_DATABASE_URL", "REVSTREAM_REDIS_URL", "REVSTREAM_KEYS_DIR")}
        return revstream(*args, home=Path(self.env["REVSTREAM_HOME"]), env=env, check=check)

    def cli_json(self, *args: str):
        return json.loads(self.cli(*args, "--json").stdout)

    def customer(self, name: str, credit: str = "100.00", rpm: int | None = None) -> str:
        now_us = time.time_ns() // 1000
        key = create_key(self.engine, name, now_us, requests_per_minute=rpm)[0]
        add_credit(self.engine, name, parse_amount(credit, "USD"), "USD", now_us)
        return key

    def records(self, customer: str) -> list:
        return list_usage(self.engine, find_customer_id(self.engine, customer))

    def stop(self) -> int:
        if self.script.poll() is None:
            self.script.send_signal(signal.SIGTERM)
            try:
                self.script.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.script.pid, signal.SIGKILL)
                self.script.wait(10)
        return self.script.returncode


def _start_upstream(tmp: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = (tmp / "upstream.log").open("w")
    process = subprocess.Popen([sys.executable, str(Path(__file__).parent / "fleet_upstream.py"), "--port", str(port),
                                "--token-delay-ms", str(TOKEN_DELAY_MS)], stdout=log, stderr=subprocess.STDOUT)

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None
    _wait(ready, 30, "the fake upstream's start")
    assert process.poll() is None, (tmp / "upstream.log").read_text()
    return process, port


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fleet")
    database_url = create_postgres_database()
    upstream, upstream_port = _start_upstream(tmp)
    config = tmp / "fleet.toml"
    config.write_text(_config(upstream_port))
    output = tmp / "fleet.out"
    script = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "fleet.sh"), "--replicas", str(REPLICAS), "--port", str(free_port()),
         "--config", str(config), "--database-url", database_url, "--redis-url", REDIS_URL, "--dir", str(tmp / "fleet")],
        stdout=output.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    env_file = tmp / "fleet" / "fleet.env"
    try:
        _wait(lambda: env_file.exists() or script.poll() is not None, FLEET_START_S, "the fleet's start")
        assert script.poll() is None, f"fleet.sh exited with {script.returncode}:\n{output.read_text()}"
        fleet = Fleet(script, _read_env(env_file), tmp)
        fleet.vkey = fleet.cli("log", "init", "--origin", "fleet.test/log").stdout.strip()
        yield fleet
        fleet.engine.dispose()
    finally:
        if script.poll() is None:
            script.send_signal(signal.SIGTERM)
            try:
                script.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                os.killpg(script.pid, signal.SIGKILL)
        upstream.terminate()
        upstream.wait(10)
        drop_postgres_database(database_url)


def _call(client: openai.OpenAI, index: int) -> tuple[str | None, str, str | None]:
    """(request id or None, the replica that answered, the error code or None)."""
    try:
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": f"Count: {index}"}], max_tokens=MAX_TOKENS)
        return raw.headers["x-request-id"], raw.headers["x-revstream-replica"], None
    except openai.RateLimitError as error:
        return None, error.response.headers["x-revstream-replica"], error.code


def _crowd(fleet: Fleet, key: str, count: int, threads: int) -> list[tuple[str | None, str, str | None]]:
    client = openai.OpenAI(base_url=fleet.v1, api_key=key, max_retries=0, timeout=120)
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda index: _call(client, index), range(count)))


def test_every_request_through_the_balancer_leaves_one_usage_record(fleet):
    key = fleet.customer("spread")
    outcomes = _crowd(fleet, key, 30, 6)
    assert {replica for _, replica, _ in outcomes} == {f"replica-{i}" for i in range(1, REPLICAS + 1)}
    served = [request_id for request_id, _, _ in outcomes]
    assert None not in served
    records = _wait(lambda: (found := fleet.records("spread")) and all(r.status == "ok" for r in found) and found,
                    30, "every record final")
    assert sorted(r.request_id for r in records) == sorted(served), "exactly one usage record per served request"
    assert {r.charge_nanos for r in records} == {(PROMPT_TOKENS + MAX_TOKENS) * TOKEN_NANOS}


def test_a_budget_holds_for_the_whole_fleet(fleet):
    key = fleet.customer("crowd")
    set_budget(fleet.engine, "crowd", None, "month", parse_amount("0.30", "USD"), "USD", time.time_ns() // 1000)
    outcomes = _crowd(fleet, key, 40, 12)
    served = {request_id for request_id, _, _ in outcomes if request_id}
    assert {code for request_id, _, code in outcomes if request_id is None} <= {"insufficient_quota"}
    assert len({replica for _, replica, _ in outcomes}) > 1, "the crowd was spread over several replicas"
    records = fleet.records("crowd")
    assert {r.request_id for r in records} == served and len(records) == len(served)
    spent = sum(r.charge_nanos for r in records)
    assert 0 < len(served) < 40
    assert spent <= parse_amount("0.30", "USD"), f"spent {spent} nanos of a 0.30 USD budget"
    balance = fleet.cli_json("balance", "--customer", "crowd")
    assert balance["reserved_nanos"] == 0 and balance["spent_nanos"] == spent


def test_a_rate_limit_holds_for_the_whole_fleet_not_per_replica(fleet):
    key = fleet.customer("ratelimited", rpm=12)
    started = time.monotonic()
    outcomes = _crowd(fleet, key, 48, 12)
    elapsed_s = time.monotonic() - started
    allowed = sum(1 for request_id, _, _ in outcomes if request_id)
    assert {code for request_id, _, code in outcomes if request_id is None} == {"rate_limit_exceeded"}
    assert len({replica for _, replica, _ in outcomes}) > 1, "the crowd was spread over several replicas"
    # One bucket of 12 refilling 12 a minute, in Redis; counters per replica would allow 12 each.
    assert 12 <= allowed <= 12 + int(12 * elapsed_s / 60) + 1
    assert len(fleet.records("ratelimited")) == allowed


def test_a_replica_killed_mid_stream_loses_no_money(fleet):
    key = fleet.customer("victim", credit="10.00")
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Count to two thousand."}],
            "max_tokens": 2000, "stream": True}
    with httpx.stream("POST", fleet.v1 + "/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status_code == 200
        victim = response.headers["x-revstream-replica"]
        lines = response.iter_lines()
        while not next(lines).startswith("data: "):
            pass
        during = fleet.cli_json("balance", "--customer", "victim")
        assert during["reserved_nanos"] > 0, "the stream holds its maximum cost while it runs"
        os.kill(fleet.pid(victim), signal.SIGKILL)
        _wait(lambda: not _alive(fleet.pid(victim)), 10, f"{victim}'s end (reaped by fleet.sh)")
    [record] = fleet.records("victim")
    assert record.status == "pending", "the kill left the record pending"

    # The balancer routes around the dead replica: nothing the clients send fails.
    after = _crowd(fleet, fleet.customer("after-the-kill"), 6, 3)
    assert all(request_id for request_id, _, _ in after)
    assert victim not in {replica for _, replica, _ in after}

    # Once its lease runs out, a surviving replica closes the record: billed what was known.
    closed = _wait(lambda: (found := fleet.records("victim")) and found[0].status != "pending" and found[0],
                   LEASE_WAIT_S, f"the {victim}'s pending record closed by the others")
    assert closed.status == "interrupted"
    assert closed.charge_nanos == (closed.tokens_prompt + closed.tokens_completion) * TOKEN_NANOS
    balance = fleet.cli_json("balance", "--customer", "victim")
    assert balance["reserved_nanos"] == 0 and balance["spent_nanos"] == closed.charge_nanos
    assert fleet.cli_json("ledger", "check")["ok"] is True


def _log_caught_up(fleet: Fleet) -> dict | None:
    records = list_usage(fleet.engine)
    if any(record.status == "pending" for record in records):
        return None
    check = fleet.cli_json("log", "check")
    latest = httpx.get(fleet.url + "/checkpoint", timeout=10)
    if check["size"] != len(records) or latest.status_code != 200:
        return None
    if parse_checkpoint(verify_note(latest.text, [fleet.vkey])).size != len(records):
        return None
    return check


def test_one_log_every_final_record_once_and_every_checkpoint_consistent(fleet):
    check = _wait(lambda: _log_caught_up(fleet), 60, "the log catching up with every final record")
    assert check["ok"] is True and not check["mismatched"] and not check["missing"]
    records = list_usage(fleet.engine)
    with fleet.engine.connect() as connection:
        sources = connection.execute(select(log_leaves.c.source_id).order_by(log_leaves.c.leaf_index)).scalars().all()
        checkpoints = connection.execute(
            select(log_checkpoints.c.size, log_checkpoints.c.root).order_by(log_checkpoints.c.size)).all()
    assert sorted(sources) == sorted(record.request_id for record in records), "each final record is one leaf"
    assert len(checkpoints) > 2
    for (old, old_root), (new, new_root) in zip(checkpoints, checkpoints[1:]):
        verify_consistency(old, new, consistency_hashes(fleet.engine, old, new), bytes(old_root), bytes(new_root))
    # The same log read as tiles through the balancer (hash tiles are public).
    checkpoint = parse_checkpoint(verify_note(httpx.get(fleet.url + "/checkpoint", timeout=10).text, [fleet.vkey]))

    def fetch(path: str) -> bytes | None:
        response = httpx.get(f"{fleet.url}/{path}", timeout=10)
        return None if response.status_code == 404 else response.raise_for_status().content
    assert TileReader(checkpoint.size, fetch).root() == checkpoint.root


def _previous_month() -> str:
    return (date.today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def test_a_month_settles_on_the_fleets_store_and_verifies_through_the_balancer(fleet):
    period = _previous_month()
    fleet.cli("licensors", "add", "Fleet Labs")
    fleet.cli("models", "set", "--model", MODEL, "--licensor", "Fleet Labs")
    fleet.cli("agreements", "add", "--licensor", "Fleet Labs", "--models", MODEL, "--share-bps", "2000",
              "--from", "2020-01-01")
    usage = fleet.tmp / "imported.jsonl"
    usage.write_text("".join(json.dumps({
        "request_id": f"partner-{n}", "time": f"{period}-{n % 28 + 1:02d}T12:00:00Z", "customer": f"partner-{n % 3}",
        "model": MODEL, "tokens_prompt": 1000 + n, "tokens_completion": 100 + n, "status": "ok"}) + "\n"
        for n in range(40)))
    fleet.cli("usage", "import", str(usage))
    [statement] = fleet.cli_json("settle", "--period", period)
    token = fleet.cli_json("licensors", "token", "Fleet Labs")["token"]
    note = httpx.get(f"{fleet.url}/transparency/statements/{statement['statement']}", timeout=10,
                     headers={"authorization": f"Bearer {token}"})
    assert note.status_code == 200, note.text
    note_path = fleet.tmp / "statement.note"
    note_path.write_text(note.text)
    result = revstream("verify", "--host", fleet.url, "--vkey", fleet.vkey, "--statement", str(note_path),
                       "--token", token, "--state", str(fleet.tmp / "verifier"), "--full", "--json",
                       home=fleet.tmp / "licensor", check=False)
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["verified"], report
    assert fleet.cli_json("ledger", "check")["ok"] is True
    assert fleet.cli_json("log", "check")["ok"] is True


def test_stopping_the_script_stops_every_process_it_started(fleet):
    pids = fleet.pids()
    assert fleet.stop() == 143, "the script ends as SIGTERM asked"
    assert [pid for pid in pids if _alive(pid)] == []
    assert "fleet stopped" in (fleet.tmp / "fleet.out").read_text()
