"""`revstream ledger check` names what is wrong in text mode too, and re-prices every usage
record (tokens × the price in force) on a host without a log, so an edited token count or
charge is caught (issue 12 item 3)."""

from __future__ import annotations

import json
import sqlite3

from conftest import revstream

RECORDS = "\n".join(json.dumps(record) for record in [
    {"request_id": "r1", "time": "2026-01-10T09:00:00Z", "customer": "acme", "model": "m", "tokens_prompt": 1200,
     "tokens_completion": 300, "status": "ok"},
    {"request_id": "r2", "time": "2026-01-11T09:00:00Z", "customer": "acme", "model": "m", "tokens_prompt": 10,
     "tokens_completion": 7, "status": "ok"},
]) + "\n"


def test_an_edited_token_count_is_caught_and_named(tmp_path) -> None:
    home = tmp_path / "home"
    revstream("prices", "set", "--model", "m", "--input", "0.20", "--output", "0.60", "--from", "2026-01-01", home=home)
    usage = tmp_path / "usage.jsonl"
    usage.write_text(RECORDS)
    revstream("usage", "import", str(usage), home=home)
    ok = revstream("ledger", "check", home=home)
    assert ok.stdout.startswith("ledger OK:") and "2 usage records re-priced" in ok.stdout
    with sqlite3.connect(home / "revstream.db") as connection:  # the tokens shrink, the charge stays
        connection.execute("UPDATE usage_records SET tokens_completion = 3 WHERE request_id = 'r1'")
    broken = revstream("ledger", "check", home=home, check=False)
    assert broken.returncode == 3
    assert "usage record r1 is charged 420000 nanos but its tokens cost 241800 at the price in force" in broken.stdout
    found = json.loads(revstream("ledger", "check", "--json", home=home, check=False).stdout)
    assert found["repricing_mismatches"] == [{"request_id": "r1", "charged_nanos": 420000, "expected_nanos": 241800}]


def test_a_charge_that_differs_from_its_entry_is_named_in_text(tmp_path) -> None:
    home = tmp_path / "home"
    revstream("prices", "set", "--model", "m", "--input", "0.20", "--output", "0.60", "--from", "2026-01-01", home=home)
    usage = tmp_path / "usage.jsonl"
    usage.write_text(RECORDS)
    revstream("usage", "import", str(usage), home=home)
    with sqlite3.connect(home / "revstream.db") as connection:
        connection.execute("UPDATE usage_records SET charge_nanos = 1 WHERE request_id = 'r2'")
    broken = revstream("ledger", "check", home=home, check=False)
    assert broken.returncode == 3
    assert "booked" in broken.stdout and "usage record r2 is charged 1 nanos" in broken.stdout
