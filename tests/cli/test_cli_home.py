"""One data directory whoever asks: the real CLI in subprocesses, run from different working
directories, with and without $REVSTREAM_HOME; private modes; the store named on stderr."""

from __future__ import annotations

import getpass
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from conftest import revstream

HOME_VARIABLES = ("REVSTREAM_HOME", "XDG_DATA_HOME", "REVSTREAM_DATABASE_URL", "REVSTREAM_CONFIG")


def run_as_user(user_home: Path, cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI as a user with no revstream variables set, from the directory `cwd`."""
    environment = {k: v for k, v in os.environ.items() if k not in HOME_VARIABLES}
    environment.update(HOME=str(user_home), **(env or {}))
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", "revstream", *args], capture_output=True, text=True, cwd=cwd,
                          env=environment, timeout=120)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_directory_reaches_the_same_per_user_home(tmp_path):
    user = tmp_path / "user"
    created = run_as_user(user, tmp_path / "one", "keys", "create", "--customer", "acme", "--json")
    assert created.returncode == 0, created.stderr

    listed = run_as_user(user, tmp_path / "two", "keys", "list", "--json")

    assert [key["customer"] for key in json.loads(listed.stdout)] == ["acme"]
    home = user / ".local" / "share" / "revstream"
    assert (home / "revstream.db").is_file()
    assert not (tmp_path / "one" / ".revstream").exists() and not (tmp_path / "two" / ".revstream").exists()


def test_xdg_data_home_and_the_home_option_are_honoured(tmp_path):
    user = tmp_path / "user"
    xdg = run_as_user(user, tmp_path, "keys", "create", "--customer", "a", env={"XDG_DATA_HOME": str(tmp_path / "xdg")})
    option = run_as_user(user, tmp_path, "--home", str(tmp_path / "opt"), "keys", "create", "--customer", "b")

    assert xdg.returncode == option.returncode == 0
    assert (tmp_path / "xdg" / "revstream" / "revstream.db").is_file()
    assert (tmp_path / "opt" / "revstream.db").is_file()


def test_a_mutating_command_names_its_store_and_a_reading_one_does_not(tmp_path):
    home = tmp_path / "home"
    written = revstream("keys", "create", "--customer", "acme", home=home)
    read = revstream("keys", "list", home=home)

    assert f"writing to sqlite:///{home.resolve() / 'revstream.db'} (home {home.resolve()})" in written.stderr
    assert "writing to" not in read.stderr


def test_the_store_line_names_postgresql_without_its_password(tmp_path, postgres_url):
    with_password = postgres_url.replace("://", f"://{getpass.getuser()}:s3cret-pw@", 1)

    result = revstream("credit", "add", "--customer", "acme", "--amount", "1.00", home=tmp_path,
                       env={"REVSTREAM_DATABASE_URL": with_password})

    assert "writing to postgresql+psycopg://" in result.stderr and ":***@" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_the_home_and_the_database_are_private(tmp_path):
    home = tmp_path / "home"
    revstream("keys", "create", "--customer", "acme", home=home)

    assert mode(home) == 0o700
    files = [path for path in home.iterdir() if path.is_file()]
    assert files and all(mode(path) == 0o600 for path in files), {p.name: oct(mode(p)) for p in files}


def test_an_open_home_is_tightened_with_a_warning(tmp_path):
    home = tmp_path / "home"
    revstream("keys", "create", "--customer", "acme", home=home)
    os.chmod(home, 0o755)
    os.chmod(home / "revstream.db", 0o644)

    result = revstream("keys", "list", home=home)

    assert "warning" in result.stderr and "0755" in result.stderr and "revstream.db" in result.stderr
    assert mode(home) == 0o700 and mode(home / "revstream.db") == 0o600


def test_an_old_working_directory_home_is_pointed_out(tmp_path):
    legacy = tmp_path / "project" / ".revstream"
    legacy.mkdir(parents=True)
    (legacy / "revstream.db").write_bytes(b"")

    result = run_as_user(tmp_path / "user", tmp_path / "project", "keys", "list")

    assert result.returncode == 0 and f"REVSTREAM_HOME={legacy.resolve()}" in result.stderr


def test_a_config_in_the_home_is_used_without_config(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "revstream.toml").write_text(f'[store]\ndatabase_url = "sqlite:///{tmp_path / "elsewhere.db"}"\n')

    result = revstream("keys", "create", "--customer", "acme", home=home)

    assert "elsewhere.db" in result.stderr and f"config {(home / 'revstream.toml').resolve()}" in result.stderr
    assert (tmp_path / "elsewhere.db").is_file() and not (home / "revstream.db").exists()


def test_a_serve_that_fails_does_not_make_its_config_the_homes(tmp_path):
    home = tmp_path / "home"
    bad = tmp_path / "bad.toml"
    bad.write_text('[[prices]]\nmodel = "m"\ninput = "cheap"\noutput = "0.60"\n')

    result = revstream("--config", str(bad), "serve", "--port", "1", home=home, check=False)

    assert result.returncode == 2 and not (home / "revstream.toml").exists()


def test_text_amounts_have_separators_and_json_keeps_exact_nanos(tmp_path):
    home = tmp_path / "home"
    text = revstream("credit", "add", "--customer", "acme", "--amount", "1234567.891", "--currency", "KWD", home=home).stdout
    balance = json.loads(revstream("balance", "--customer", "acme", "--json", home=home).stdout)

    assert "1,234,567.891 KWD" in text
    assert balance["available_nanos"] == 1_234_567_891_000_000
    prices = revstream("prices", "set", "--model", "m", "--input", "1200.5", "--output", "0.000001", home=home).stdout
    assert "1,200.50 USD in" in prices and "0.000001 USD out" in prices


def test_serve_refuses_a_config_other_than_the_homes_before_creating_secrets(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "revstream.toml").write_text("[server]\nport = 1\n")
    other = tmp_path / "other.toml"
    other.write_text("")

    result = revstream("--config", str(other), "serve", "--port", "1", home=home, check=False)

    assert result.returncode == 2 and "another config than this server" in result.stderr
    assert "admin token" not in result.stdout
    assert (home / "revstream.toml").read_text() == "[server]\nport = 1\n"
