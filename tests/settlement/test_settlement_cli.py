"""The real CLI in subprocesses, on SQLite and the real PostgreSQL: from imported traffic to
a licensor statement, as the README walks a newcomer through it."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import revstream
from revstream.transparency import canonical_json

JANUARY = [
    {"request_id": "r1", "time": "2026-01-10T00:00:00Z", "customer": "acme", "model": "llama-x",
     "tokens_prompt": 1_000_000, "tokens_completion": 333_333, "status": "ok"},
    {"request_id": "r2", "time": "2026-01-20T00:00:00Z", "customer": "bob", "model": "llama-x",
     "tokens_prompt": 777_777, "tokens_completion": 1, "status": "interrupted"},
    {"request_id": "r3", "time": "2026-02-02T00:00:00Z", "customer": "acme", "model": "llama-x",
     "tokens_prompt": 10, "tokens_completion": 10, "status": "ok"},
]


@pytest.fixture
def cli(database_url, tmp_path):
    env = {"REVSTREAM_DATABASE_URL": database_url}

    def run(*args: str, check: bool = True):
        return revstream(*args, home=tmp_path, env=env, check=check)

    return run


def _jsonl(tmp_path, name, records, extra: bytes = b"") -> str:
    path = tmp_path / name
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records) + extra)
    return str(path)


def test_from_traffic_to_a_licensor_statement(cli, tmp_path):
    cli("prices", "set", "--model", "llama-x", "--input", "0.20", "--output", "0.60", "--from", "2026-01-01")
    cli("prices", "set", "--model", "llama-x", "--input", "0.30", "--output", "0.90", "--from", "2026-01-15T12:00:00Z")
    imported = json.loads(cli("usage", "import", _jsonl(tmp_path, "jan.jsonl", JANUARY), "--json").stdout)
    assert (imported["imported"], imported["duplicates"]) == (3, 0)
    again = json.loads(cli("usage", "import", _jsonl(tmp_path, "jan.jsonl", JANUARY), "--json").stdout)
    assert (again["imported"], again["duplicates"]) == (0, 3)

    licensor = json.loads(cli("licensors", "add", "Llama Labs", "--json").stdout)
    cli("models", "set", "--model", "llama-x", "--licensor", "Llama Labs")
    assert json.loads(cli("licensors", "list", "--json").stdout)[0]["models"] == ["llama-x"]
    agreement = json.loads(cli("agreements", "add", "--licensor", "Llama Labs", "--models", "llama-x",
                               "--share-bps", "1500", "--from", "2026-01-01", "--json").stdout)
    assert [a["agreement"] for a in json.loads(cli("agreements", "list", "--json").stdout)] == [agreement["agreement"]]

    settled = cli("settle", "--period", "2026-01", "--json").stdout
    [statement] = json.loads(settled)
    # 1_000_000*200 + 333_333*600 + 777_777*300 + 1*900 = 633_333_800 nanos gross; 15% = 95_000_070
    assert statement["lines"] == [{"model": "llama-x", "stream": "api", "requests": 2, "tokens_prompt": 1_777_777,
                                   "tokens_completion": 333_334, "gross_nanos": 633_333_800, "net_nanos": 633_333_800,
                                   "rate": "1500bps", "share_nanos": 95_000_070}]
    assert (statement["share_total_minor"], statement["residue_nanos"]) == (10, -4_999_930)
    assert (statement["period"], statement["licensor"], statement["agreement"]) == (
        "2026-01", "Llama Labs", agreement["agreement"])
    assert cli("settle", "--period", "2026-01", "--json").stdout == settled, "settling again is byte-identical"
    entries = json.loads(cli("ledger", "check", "--json").stdout)["entries"]

    # Late January usage, imported after January closed, is settled in February.
    late = [{**JANUARY[0], "request_id": "late1", "time": "2026-01-31T23:00:00Z", "tokens_completion": 0}]
    assert json.loads(cli("usage", "import", _jsonl(tmp_path, "late.jsonl", late), "--json").stdout)["late"] == 1
    assert json.loads(cli("ledger", "check", "--json").stdout)["entries"] == entries + 1  # its charge only
    [february] = json.loads(cli("settle", "--period", "2026-02", "--json").stdout)
    assert february["lines"][0]["share_nanos"] == 1_800  # 10*300 + 10*900 = 12_000, 15%
    assert [(a["description"], a["gross_nanos"], a["share_nanos"]) for a in february["adjustment_lines"]] == [
        ("adjustment for 2026-01", 300_000_000, 45_000_000)]
    # 1_800 + 45_000_000 carried -4_999_930: 40_001_870 -> 4 cents, 1_870 carried on.
    assert (february["share_total_minor"], february["residue_nanos"]) == (4, 1_870)
    assert (10 + 4) * 10_000_000 + 1_870 == 95_000_070 + 45_001_800

    check = json.loads(cli("ledger", "check", "--json").stdout)
    assert check["ok"] and check["entries"] == entries + 1 + 2
    listed = json.loads(cli("statements", "list", "--json").stdout)
    assert [s["period"] for s in listed] == ["2026-01", "2026-02"]

    shown = cli("statements", "show", statement["statement"]).stdout.encode()
    assert shown == canonical_json(json.loads(shown)) and json.loads(shown) == statement
    rows = list(csv.DictReader(io.StringIO(cli("statements", "show", february["statement"], "--format", "csv").stdout)))
    assert [row["kind"] for row in rows] == ["line", "adjustment", "total"]
    assert rows[-1]["share_nanos"] == str(february["share_total_nanos"])
    markdown = cli("statements", "show", february["statement"], "--format", "md").stdout
    assert "| adjustment | 2026-01 | adjustment for 2026-01 |" in markdown and licensor["name"] in markdown


def test_import_rejects_a_malformed_file_whole_with_line_numbers(cli, tmp_path):
    cli("prices", "set", "--model", "llama-x", "--input", "0.20", "--output", "0.60", "--from", "2026-01-01")
    bad = {**JANUARY[1], "request_id": "bad", "tokens_prompt": "many"}
    path = _jsonl(tmp_path, "mixed.jsonl", [JANUARY[0], bad, JANUARY[2]], extra=b"[1, 2]\n")
    result = cli("usage", "import", path, check=False)
    assert result.returncode == 2
    assert "line 2: tokens_prompt must be an integer" in result.stderr and "line 4: not a JSON object" in result.stderr
    assert json.loads(cli("usage", "--json").stdout) == []
    skipped = json.loads(cli("usage", "import", path, "--skip-invalid", "--json").stdout)
    assert (skipped["imported"], skipped["invalid"]) == (2, 2)
    assert [e["line"] for e in skipped["errors"]] == [2, 4]


def test_settle_refuses_a_period_that_has_not_ended(cli):
    result = cli("settle", "--period", "2999-01", check=False)
    assert result.returncode == 2 and "has not ended" in result.stderr
    result = cli("settle", "--period", "2026-13", check=False)
    assert result.returncode == 2 and "YYYY-MM" in result.stderr
