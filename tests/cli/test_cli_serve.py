"""`serve` and the commands around a running server: the first-start hint works verbatim from
any directory against the server's own store (PostgreSQL here, the case that once answered
401), the admin token rotates on a running server, a missing model file stops `serve` at
start, and a PDF never lands on a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import SERVER_START_S, free_port, revstream

CLEAN = ("REVSTREAM_HOME", "XDG_DATA_HOME", "REVSTREAM_DATABASE_URL", "REVSTREAM_CONFIG")


def clean_environment(user_home: Path) -> dict:
    """A fresh shell of the same user: no revstream variable set, another $HOME."""
    return {**{k: v for k, v in os.environ.items() if k not in CLEAN}, "HOME": str(user_home)}


def wait_healthy(base_url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(base_url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server did not become healthy:\n{log.read_text()}")


@pytest.fixture
def postgres_server(tmp_path, postgres_url):
    """`revstream serve --config /elsewhere/pg.toml` on PostgreSQL: the config is not in the home."""
    home = tmp_path / "home"
    config = tmp_path / "etc" / "pg.toml"
    config.parent.mkdir()
    config.write_text(f'[store]\ndatabase_url = "{postgres_url}"\n')
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "revstream", "--config", str(config), "serve", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "REVSTREAM_HOME": str(home)}, cwd=tmp_path,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, process, log)
        yield base_url, home, config, log
    finally:
        process.terminate()
        process.wait(30)


def hint(log: Path, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}\s+(.+)$", log.read_text(), re.M)
    assert match, log.read_text()
    return match.group(1).strip()


def test_the_first_start_hint_works_verbatim_from_any_directory(postgres_server, tmp_path):
    base_url, home, config, log = postgres_server
    command = hint(log, "More keys:").replace("NAME", "hinted")
    elsewhere = tmp_path / "some" / "other" / "dir"
    elsewhere.mkdir(parents=True)

    result = subprocess.run(["bash", "-c", command + " --json"], capture_output=True, text=True, cwd=elsewhere,
                            env=clean_environment(tmp_path / "other-user"), timeout=120)

    assert result.returncode == 0, result.stderr
    assert "writing to postgresql+psycopg://" in result.stderr, "the key goes to the server's PostgreSQL"
    key = json.loads(result.stdout)["key"]
    assert httpx.get(base_url + "/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert (home / "revstream.toml").resolve() == config.resolve(), "the served config became the home's"
    assert not (elsewhere / ".revstream").exists()


def test_the_admin_token_rotates_on_a_running_server(postgres_server, tmp_path):
    base_url, home, _, log = postgres_server
    old = re.search(r"admin token : (rsadmin-\S+)", log.read_text()).group(1)

    def admin_status(token: str) -> int:
        return httpx.get(base_url + "/admin/keys", headers={"Authorization": f"Bearer {token}"}).status_code

    def dashboard_status(token: str) -> int:
        return httpx.get(base_url + "/dashboard/api/me", headers={"Authorization": f"Bearer {token}"}).status_code

    assert admin_status(old) == 200 and dashboard_status(old) == 200
    rotated = subprocess.run(["bash", "-c", hint(log, "Lost or leaked the admin token? Replace it:") + " --json"],
                             capture_output=True, text=True, cwd=tmp_path,
                             env=clean_environment(tmp_path / "user"), timeout=120)
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)["admin_token"]
    assert new.startswith("rsadmin-") and new != old

    # the gateway compares with the store on every request: no cache to wait for
    assert admin_status(old) in (401, 403) and dashboard_status(old) == 401
    assert admin_status(new) == 200 and dashboard_status(new) == 200
    assert new not in log.read_text(), "the new token is printed to the caller only"


def test_the_admin_module_names_the_row_the_gateway_reads():
    from revstream.cli._admin import ADMIN_TOKEN_META_KEY
    from revstream.gateway._auth import ADMIN_TOKEN_META_KEY as GATEWAY_KEY

    assert ADMIN_TOKEN_META_KEY == GATEWAY_KEY


@pytest.mark.parametrize("entry, fragment", [
    ('name = "m"\nbackend = "llamacpp"\npath = "{missing}"\n', "model file not found"),
    ('name = "m"\nbackend = "llamacpp"\npath = "{not_gguf}"\n', "is not a GGUF model file"),
    ('name = "m"\nbackend = "openai"\nbase_url = "http://127.0.0.1:9/v1"\ntokenizer = "{missing}"\n', "tokenizer"),
])
def test_a_missing_model_file_stops_serve_at_start(tmp_path, entry, fragment):
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("not a model")
    config = tmp_path / "bad.toml"
    config.write_text("[[models]]\n" + entry.format(missing=tmp_path / "nope.gguf", not_gguf=not_gguf))

    started = time.monotonic()
    result = revstream("--config", str(config), "serve", "--port", str(free_port()), home=tmp_path / "home", check=False)

    assert result.returncode == 2, result.stderr
    assert "models[0] (m)" in result.stderr and fragment in result.stderr
    assert time.monotonic() - started < 60, "it failed at start, not after a server ran"
    assert not (tmp_path / "home" / "revstream.db").exists(), "nothing was set up for a server that cannot run"


def invoice_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    revstream("plans", "add", "pro", "--kind", "subscription", "--fee", "30.00", home=home)
    revstream("subscribe", "--customer", "acme", "--plan", "pro", "--from", "2026-01-01", home=home)
    revstream("invoice", "--period", "2026-01", home=home)
    return home


def test_a_pdf_is_refused_on_a_terminal_and_written_to_a_pipe(tmp_path):
    home = invoice_home(tmp_path)
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "revstream", "invoices", "show", "1", "--format", "pdf"],
                                stdout=terminal, stderr=subprocess.PIPE, env={**os.environ, "REVSTREAM_HOME": str(home)},
                                timeout=120)
        os.set_blocking(controller, False)
        try:
            shown = os.read(controller, 65536)
        except BlockingIOError:
            shown = b""
    finally:
        os.close(terminal)
        os.close(controller)

    assert result.returncode == 2 and b"--output" in result.stderr
    assert b"%PDF" not in shown
    piped = subprocess.run([sys.executable, "-m", "revstream", "invoices", "show", "1", "--format", "pdf"],
                           capture_output=True, env={**os.environ, "REVSTREAM_HOME": str(home)}, timeout=120)
    assert piped.returncode == 0 and piped.stdout.startswith(b"%PDF-")
