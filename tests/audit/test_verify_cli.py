"""`revstream verify` against a real host: a licensor checks real signed statements with
the CLI alone, and every way a host could cook its books is caught.

The host is a real `revstream serve` (embedded model, SQLite); its usage of past months
comes in as an import does (September, October, and September usage that arrives after
September closed), plus a few real chat completions of this month, so the log
interleaves periods; the licensor runs the real `revstream verify` in a subprocess. Tampering edits the host's database directly, as a dishonest
host would, and the licensor's verifier must fail, name the check, and keep evidence.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from sqlalchemy import Engine, text

from conftest import Server, free_port, revstream, start_server
from revstream.pricing import ModelPrice, parse_price
from revstream.settlement import draft_agreement
from revstream.store import (
    CheckpointPolicy,
    ImportReport,
    add_agreement,
    add_licensor,
    append_log,
    create_licensor_token,
    import_usage,
    init_log_key,
    list_statements,
    make_engine,
    set_model_licensor,
    set_price,
    settle,
)

SEPTEMBER = [
    {"request_id": f"sep{i}", "time": f"2026-09-{10 + i:02d}T12:00:00Z", "customer": f"c{i % 3}",
     "model": "llama-x", "tokens_prompt": 1000 * (i + 1), "tokens_completion": 500 + i, "status": "ok"}
    for i in range(8)
]
LATE_SEPTEMBER = [{**SEPTEMBER[0], "request_id": "sep-late", "time": "2026-09-30T23:00:00Z", "tokens_completion": 7}]
OCTOBER = [
    {"request_id": f"oct{i}", "time": f"2026-10-{3 + i:02d}T08:00:00Z", "customer": f"c{i % 2}",
     "model": "llama-x", "tokens_prompt": 2000 + i, "tokens_completion": 900, "status": "ok"}
    for i in range(5)
]


@dataclass
class Host:
    server: Server
    engine: Engine
    vkey: str
    token: str
    licensor_home: Path
    tmp: Path

    @property
    def db(self) -> Path:
        return self.server.home / "revstream.db"

    def statement_id(self, period: str) -> str:
        [found] = list_statements(self.engine, period)
        return found.statement_id

    def note(self, period: str) -> Path:
        """The signed statement as a licensor downloads it, with its licensor token."""
        response = httpx.get(f"{self.server.base_url}/transparency/statements/{self.statement_id(period)}",
                             headers={"authorization": f"Bearer {self.token}"}, timeout=10)
        assert response.status_code == 200, response.text
        path = self.tmp / f"statement-{period}-{time.monotonic_ns()}.note"
        path.write_text(response.text)
        return path

    def verify(self, statement: Path, state: str = "state", *extra: str) -> tuple[int, dict]:
        result = revstream("verify", "--host", self.server.base_url, "--vkey", self.vkey, "--statement",
                           str(statement), "--state", str(self.tmp / state), "--token", self.token, "--json", *extra,
                           home=self.licensor_home, check=False)
        assert result.returncode in (0, 1), result.stderr
        return result.returncode, json.loads(result.stdout)

    def settle(self, period: str) -> dict:
        [statement] = settle(self.engine, period, _now_us())
        return json.loads(statement.body)

    def index_of(self, request_id: str) -> int:
        with sqlite3.connect(self.db) as connection:
            return connection.execute("SELECT log_index FROM usage_records WHERE request_id = ?", (request_id,)).fetchone()[0]

    def leaf_index_of(self, request_id: str) -> int:
        with sqlite3.connect(self.db) as connection:
            return connection.execute("SELECT leaf_index FROM log_leaves WHERE source_id = ?", (request_id,)).fetchone()[0]

    def sql(self, *statements: str) -> None:
        with sqlite3.connect(self.db) as connection:
            for statement in statements:
                connection.execute(statement)


def _import(engine, records: list[dict]) -> ImportReport:
    lines = [json.dumps(record).encode() + b"\n" for record in records]
    return import_usage(engine, lambda: iter(lines), _now_us())


def _now_us() -> int:
    return time.time_ns() // 1000


def _open_host(tmp_path: Path, settle_october: bool = True) -> Host:
    """A host as its operator sets it up (the store calls behind `prices set`, `licensors
    add`, `agreements add`, `log init`, `licensors token`, `usage import`: the CLI commands
    are tested elsewhere and cost a process start each)."""
    server = start_server(tmp_path / "host")
    engine = make_engine(f"sqlite:///{server.home / 'revstream.db'}", server.home / "keys")
    now_us = _now_us()
    set_price(engine, ModelPrice("llama-x", "USD", parse_price("0.20"), parse_price("0.60"), date(2026, 1, 1)), now_us)
    set_price(engine, ModelPrice("llama-x", "USD", parse_price("0.30"), parse_price("0.90"),
                                 datetime(2026, 9, 15, tzinfo=timezone.utc)), now_us)
    add_licensor(engine, "Llama Labs", now_us)
    set_model_licensor(engine, "llama-x", "Llama Labs", now_us)
    add_agreement(engine, draft_agreement(licensor="Llama Labs", models=("llama-x",), currency="USD",
                                          effective_from=date(2026, 1, 1), share_bps=1500), now_us)
    vkey = init_log_key(engine, "revstream.test/log", now_us)
    token = create_licensor_token(engine, "Llama Labs", now_us)[0]
    _import(engine, SEPTEMBER)
    # Real traffic of this month lands in the log between the imported months.
    client = openai.OpenAI(base_url=server.v1, api_key=server.new_key("live"), max_retries=0)
    for _ in range(2):
        client.chat.completions.create(model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Hi"}],
                                       max_tokens=3)
    host = Host(server, engine, vkey, token, tmp_path / "licensor", tmp_path)
    host.settle("2026-09")
    assert _import(engine, LATE_SEPTEMBER).late == 1
    _import(engine, OCTOBER)
    if settle_october:
        host.settle("2026-10")
    return host


@pytest.fixture
def host(tmp_path):
    opened = _open_host(tmp_path)
    yield opened
    opened.server.stop()


def _failed(report: dict, check: str, *words: str) -> None:
    assert report["verified"] is False
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == [check], report
    for word in words:
        assert word in failed[0]["detail"], failed[0]["detail"]
    evidence = Path(report["evidence"])
    assert (evidence / "statement.note").exists() and (evidence / "report.json").exists()


def test_a_licensor_verifies_real_statements_with_the_cli_alone(host):
    code, september = host.verify(host.note("2026-09"))
    assert code == 0, september
    assert [c["name"] for c in september["checks"]] == [
        "statement signature", "checkpoint signature", "log consistency", "log entries", "statement totals",
        "continuity"]
    assert september["share_total_minor"] == host.settle("2026-09")["share_total_minor"]

    october_statement = host.settle("2026-10")
    assert [a["description"] for a in october_statement["adjustment_lines"]] == ["adjustment for 2026-09"]
    code, october = host.verify(host.note("2026-10"))
    assert code == 0, october
    assert "continues the statements verified before" in october["checks"][-1]["detail"]
    code, again = host.verify(host.note("2026-10"), "state", "--full")
    assert code == 0 and again["entries_checked"] > october["entries_checked"]

    audits = json.loads(revstream("audits", "list", "--json", home=host.licensor_home).stdout)
    assert [(a["period"], a["state"]) for a in audits] == [("2026-09", "verified"), ("2026-10", "verified")]

    # A host that cannot be reached concludes nothing: exit 2, and nothing is recorded.
    unreachable = revstream("verify", "--host", f"http://127.0.0.1:{free_port()}", "--vkey", host.vkey, "--statement",
                            str(host.note("2026-09")), "--state", str(host.tmp / "state"), "--token", host.token,
                            home=host.licensor_home, check=False)
    assert unreachable.returncode == 2 and "not checked: cannot reach" in unreachable.stderr
    assert len(json.loads(revstream("audits", "list", "--json", home=host.licensor_home).stdout)) == 2


def test_an_edited_statement_fails_its_signature(host):
    path = host.note("2026-09")
    path.write_text(path.read_text().replace('"share_total_minor":', '"share_total_minor":1', 1))
    code, report = host.verify(path)
    assert code == 1
    _failed(report, "statement signature", "signature")
    audits = json.loads(revstream("audits", "list", "--json", home=host.licensor_home).stdout)
    assert audits == []  # nothing is known about a statement whose signature fails: not recorded


def test_a_deleted_leaf_is_caught(host):
    path = host.note("2026-09")
    host.sql("DELETE FROM log_leaves WHERE source_id = 'sep3'")
    code, report = host.verify(path)
    assert code == 1
    _failed(report, "log entries", "answered 500")


def test_a_deleted_or_changed_usage_record_is_caught_by_log_check(host):
    """A leaf is stored when appended, so the log keeps proving what was served even if
    the record changes; the host's own `log check` finds a record that no longer matches."""
    path = host.note("2026-09")
    host.sql("DELETE FROM usage_records WHERE request_id = 'sep3'",
             "UPDATE usage_records SET tokens_prompt = 1 WHERE request_id = 'sep4'")
    assert host.verify(path)[0] == 0
    check = revstream("log", "check", "--json", home=host.server.home, check=False)
    assert check.returncode == 1
    found = json.loads(check.stdout)
    assert found["missing"] == [host.leaf_index_of("sep3")] and found["mismatched"] == [host.index_of("sep4")]


def _edit_leaf(host, request_id: str, edit) -> None:
    with host.engine.begin() as connection:
        data = connection.execute(text("SELECT data FROM log_leaves WHERE source_id = :id"), {"id": request_id}).scalar()
        connection.execute(text("UPDATE log_leaves SET data = :data WHERE source_id = :id"),
                           {"data": orjson.dumps(edit(orjson.loads(data)), option=orjson.OPT_SORT_KEYS), "id": request_id})


def test_changed_tokens_are_caught(host):
    path = host.note("2026-09")
    _edit_leaf(host, "sep5", lambda leaf: {**leaf, "tokens_completion": leaf["tokens_completion"] - 400})
    code, report = host.verify(path)
    assert code == 1
    _failed(report, "log entries", "fails its inclusion proof")
    assert (Path(report["evidence"]) / "failing-inclusion-proof.json").exists()
    audits = json.loads(revstream("audits", "list", "--json", home=host.licensor_home).stdout)
    assert [(a["state"], a["reason"].split(":")[0]) for a in audits] == [("failed", "log entries")]


def test_two_reordered_records_are_caught(host):
    path = host.note("2026-09")
    first, second = host.index_of("sep1"), host.index_of("sep2")
    host.sql("UPDATE log_leaves SET leaf_index = -1 WHERE source_id = 'sep1'",
             f"UPDATE log_leaves SET leaf_index = {first} WHERE source_id = 'sep2'",
             f"UPDATE log_leaves SET leaf_index = {second} WHERE source_id = 'sep1'")
    code, report = host.verify(path)
    assert code == 1
    _failed(report, "log entries", "fails its inclusion proof")


def test_a_truncated_log_is_caught(host):
    path = host.note("2026-10")
    code, _ = host.verify(path)
    assert code == 0
    # The host cuts its log back to 3 entries and signs a checkpoint of that.
    host.sql("DELETE FROM usage_records WHERE log_index >= 3", "DELETE FROM log_leaves WHERE leaf_index >= 3",
             "DELETE FROM log_subtrees WHERE (subtree_index + 1) << level > 3",
             "DELETE FROM log_checkpoints WHERE size > 3",
             "UPDATE log_state SET size = 3")
    append_log(host.engine, CheckpointPolicy(0, 1), _now_us())
    code, report = host.verify(path)
    assert code == 1
    _failed(report, "log consistency", "truncated or rolled back")


def test_a_different_tree_signed_with_the_same_key_is_caught(tmp_path):
    host = _open_host(tmp_path, settle_october=False)
    try:
        code, _ = host.verify(host.note("2026-09"))
        assert code == 0
        # The host rewrites history: one September record shrinks, the whole log is rebuilt
        # and re-signed with the same key, and October is settled on the rewritten tree.
        host.sql("UPDATE usage_records SET tokens_prompt = 1 WHERE request_id = 'sep0'",
                 "DELETE FROM log_subtrees", "DELETE FROM log_checkpoints", "DELETE FROM log_leaves",
                 "UPDATE usage_records SET log_index = NULL", "UPDATE log_state SET size = 0")
        while append_log(host.engine, CheckpointPolicy(0, 1), _now_us()).appended:
            pass
        host.settle("2026-10")
        code, report = host.verify(host.note("2026-10"))
        assert code == 1
        _failed(report, "log consistency", "forked")
        assert (Path(report["evidence"]) / "checkpoint-accepted.note").exists()
    finally:
        host.server.stop()
