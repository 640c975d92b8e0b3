"""The real CLI in a subprocess: keys, usage, db upgrade, errors."""

from __future__ import annotations

import json

from conftest import revstream


def test_keys_create_list_revoke_round_trip(tmp_path):
    created = json.loads(revstream("keys", "create", "--customer", "acme", "--json", home=tmp_path).stdout)
    assert created["key"].startswith("rs-") and created["customer"] == "acme" and created["key_id"]
    listed = json.loads(revstream("keys", "list", "--json", home=tmp_path).stdout)
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert created["key"] not in json.dumps(listed), "a listing never shows the key"
    revoked = json.loads(revstream("keys", "revoke", created["key_id"], "--json", home=tmp_path).stdout)
    assert revoked["revoked"] is not None
    table = revstream("keys", "list", home=tmp_path).stdout
    assert created["key_id"] in table and "KEY_ID" in table


def test_only_the_hash_of_a_key_is_stored(tmp_path):
    created = json.loads(revstream("keys", "create", "--customer", "acme", "--json", home=tmp_path).stdout)
    database = (tmp_path / "revstream.db").read_bytes()
    for suffix in ("-wal", "-shm"):
        extra = tmp_path / f"revstream.db{suffix}"
        if extra.exists():
            database += extra.read_bytes()
    assert created["key"].encode() not in database


def test_revoking_an_unknown_key_fails_clearly(tmp_path):
    result = revstream("keys", "revoke", "key_nope", home=tmp_path, check=False)
    assert result.returncode == 1
    assert "no API key with id key_nope" in result.stderr


def test_usage_json_is_a_list_and_bad_dates_are_refused(tmp_path):
    assert json.loads(revstream("usage", "--json", home=tmp_path).stdout) == []
    result = revstream("usage", "--since", "yesterday", home=tmp_path, check=False)
    assert result.returncode == 2 and "ISO 8601" in result.stderr


def test_db_upgrade_reports_the_revision(tmp_path):
    assert json.loads(revstream("db", "upgrade", "--json", home=tmp_path).stdout)["revision"] == "0003"


def test_a_broken_config_is_refused_naming_the_key(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nport = "eighty"\n')
    result = revstream("--config", str(config), "keys", "list", home=tmp_path, check=False)
    assert result.returncode == 2 and "server.port" in result.stderr
