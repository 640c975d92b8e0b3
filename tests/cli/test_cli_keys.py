"""The real CLI in a subprocess: keys, usage, db upgrade, errors."""

from __future__ import annotations

import json

from pathlib import Path

import revstream as revstream_package

from conftest import revstream, start_server


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


def test_db_upgrade_reports_the_newest_revision(tmp_path):
    versions = Path(revstream_package.__file__).parent / "store" / "migrations" / "versions"
    newest = max(path.name.split("_")[0] for path in versions.glob("[0-9]*.py"))
    assert json.loads(revstream("db", "upgrade", "--json", home=tmp_path).stdout)["revision"] == newest


def test_a_broken_config_is_refused_naming_the_key(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nport = "eighty"\n')
    result = revstream("--config", str(config), "keys", "list", home=tmp_path, check=False)
    assert result.returncode == 2 and "server.port" in result.stderr


def test_prices_declared_in_the_config_file_are_applied_at_start(tmp_path):
    config = (
        '[[prices]]\nmodel = "smollm2-135m-instruct"\ninput = "0.20"\noutput = "0.60"\ncurrency = "USD"\nfrom = "2026-01-01"\n'
        '[[models]]\nname = "smollm2-135m-instruct"\nbackend = "llamacpp"\npath = "embedded"\n'
    )
    server = start_server(tmp_path / "home", config=config)
    try:
        [price] = server.cli_json("prices", "list")
        assert price["input_nanos_per_mtok"] == 200_000_000 and price["output_nanos_per_mtok"] == 600_000_000
        assert price["effective_from"] == "2026-01-01T00:00:00Z"
    finally:
        server.stop()


def test_a_bad_declared_price_is_refused_naming_it(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[[prices]]\nmodel = "m"\ninput = "cheap"\noutput = "0.60"\n')
    result = revstream("--config", str(config), "serve", "--port", "1", home=tmp_path, check=False)
    assert result.returncode == 2 and "prices[0] (m)" in result.stderr


def test_licensors_and_agreements_declared_in_the_config_file_are_added_once(tmp_path):
    config = (
        '[[licensors]]\nname = "Meta"\nmodels = ["smollm2-135m-instruct"]\n'
        '[[agreements]]\nlicensor = "Meta"\nmodels = ["smollm2-135m-instruct"]\nshare_bps = 1500\n'
        'tiers = "0:1500,100000:2000"\nminimum = "10.00"\nfrom = 2026-01-01\n'
        '[[models]]\nname = "smollm2-135m-instruct"\nbackend = "llamacpp"\npath = "embedded"\n'
    )
    for _ in range(2):  # the second start finds them and adds nothing
        server = start_server(tmp_path / "home", config=config)
        server.stop()
    [agreement] = server.cli_json("agreements", "list")
    assert agreement["licensor"] == "Meta" and agreement["share_bps"] == 1500
    assert agreement["minimum_nanos"] == 10_000_000_000
    assert agreement["tiers"] == [[0, 1500], [100_000_000_000_000, 2000]]
    assert [row["name"] for row in server.cli_json("licensors", "list")] == ["Meta"]
