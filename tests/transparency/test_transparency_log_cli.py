"""`revstream log init|vkey|checkpoint` and `revstream licensors token`, through the real CLI."""

from __future__ import annotations

import json

from sqlalchemy import insert, update

from conftest import revstream
from revstream.store import CheckpointPolicy, append_log, make_engine
from revstream.store._schema import usage_records
from revstream.transparency import parse_checkpoint, verify_note

NOW_US = 1_780_000_000_000_000


def test_log_key_checkpoint_and_licensor_token(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    env = {"REVSTREAM_DATABASE_URL": url}

    def cli(*args: str, check: bool = True):
        return revstream(*args, home=tmp_path, env=env, check=check)

    assert cli("log", "vkey", check=False).returncode == 1
    init = json.loads(cli("log", "init", "--origin", "audit.example/log", "--json").stdout)
    vkey = init["vkey"]
    assert init["origin"] == "audit.example/log" and vkey.startswith("audit.example/log+")
    assert cli("log", "vkey").stdout.strip() == vkey
    again = cli("log", "init", check=False)
    assert again.returncode == 1 and "exists already" in again.stderr
    assert cli("log", "checkpoint", check=False).returncode == 1

    engine = make_engine(url, tmp_path / "keys")
    with engine.begin() as connection:
        connection.execute(insert(usage_records), [dict(
            request_id=f"req_{n}", time_us=NOW_US, finalized_us=NOW_US + n, customer_id="cus_a", key_id="key_a",
            model="m1", backend="fake", endpoint="chat", status="ok", tokens_prompt=n, tokens_completion=1,
            usage_source="backend", worker_id="w", charge_nanos=5, currency="USD") for n in range(3)])
    append_log(engine, CheckpointPolicy(interval_us=1, records=1), NOW_US)
    engine.dispose()
    shown = json.loads(cli("log", "checkpoint", "--json").stdout)
    assert parse_checkpoint(verify_note(shown["note"], [vkey])).size == shown["size"] == 3
    assert cli("log", "checkpoint").stdout == shown["note"]

    cli("licensors", "add", "Audit Labs")
    token = json.loads(cli("licensors", "token", "Audit Labs", "--json").stdout)
    assert token["token"].startswith("rslic-") and token["licensor"] == "Audit Labs"
    assert cli("licensors", "token", "Nobody", check=False).returncode == 1
    outputs = "".join(cli(*args).stdout for args in (("log", "vkey"), ("log", "checkpoint")))
    assert "PRIVATE+KEY" not in outputs + json.dumps(init)

    checked = json.loads(cli("log", "check", "--json").stdout)
    assert (checked["ok"], checked["size"], checked["mismatched"]) == (True, 3, [])
    engine = make_engine(url, tmp_path / "keys")
    with engine.begin() as connection:
        connection.execute(update(usage_records).where(usage_records.c.request_id == "req_1").values(tokens_prompt=99))
    engine.dispose()
    damaged = cli("log", "check", "--json", check=False)
    assert damaged.returncode == 1 and json.loads(damaged.stdout)["mismatched"] == [1]
    assert "LOG DAMAGED" in cli("log", "check", check=False).stderr
