"""Shared fixtures: real servers on free ports, real PostgreSQL databases.

A test server is `python -m revstream serve` in a subprocess with its own data
directory, driven over HTTP exactly as a customer would drive it.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get("REVSTREAM_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REVSTREAM_TEST_REDIS", "redis://127.0.0.1:6379/0")
SERVER_START_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def revstream(*args: str, home: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess."""
    environment = {**os.environ, "REVSTREAM_HOME": str(home), **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "revstream", *args], capture_output=True, text=True, env=environment, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"revstream {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


@dataclass
class Server:
    base_url: str
    home: Path
    process: subprocess.Popen
    env: dict = field(default_factory=dict)
    log_path: Path | None = None
    config_path: Path | None = None

    @property
    def v1(self) -> str:
        return self.base_url + "/v1"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        config = ("--config", str(self.config_path)) if self.config_path else ()
        return revstream(*config, *args, home=self.home, env=self.env, check=check)

    def cli_json(self, *args: str):
        return json.loads(self.cli(*args, "--json").stdout)

    def new_key(self, customer: str) -> str:
        return self.cli_json("keys", "create", "--customer", customer)["key"]

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_server(home: Path, config: str | None = None, env: dict | None = None, workers: int = 1) -> Server:
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [sys.executable, "-m", "revstream"]
    config_path = None
    if config is not None:
        config_path = home / "revstream.toml"
        config_path.write_text(config)
        args += ["--config", str(config_path)]
    args += ["serve", "--port", str(port), "--workers", str(workers)]
    environment = {**os.environ, "REVSTREAM_HOME": str(home), **(env or {})}
    log_path = home / "server.log"
    log = log_path.open("w")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=environment)
    server = Server(f"http://127.0.0.1:{port}", home, process, env or {}, log_path, config_path)
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.base_url + "/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"server did not become healthy in {SERVER_START_S}s:\n{server.log()}")


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory) -> Server:
    """One server on the embedded default (SQLite, llama.cpp SmolLM2), for the whole session."""
    server = start_server(tmp_path_factory.mktemp("embedded"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def embedded_key(embedded_server) -> str:
    return embedded_server.new_key("acme")


def create_postgres_database() -> str:
    name = "revstream_test_" + secrets.token_hex(6)
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> str:
    """A fresh, empty PostgreSQL database on the real server, dropped afterwards."""
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """Each test using this runs once on SQLite and once on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture
def migrated_engine(database_url):
    """A store at the newest revision on each of SQLite and the real PostgreSQL."""
    from revstream.store import make_engine, upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def statement_verifier(base_url: str, vkey: str, token: str, statement_id: str, tmp: Path):
    """A licensor's view of one signed statement: its note as the host serves it, and
    `verify(text=note)`, which runs the real `revstream verify` on a (possibly doctored) copy
    with a fresh verifier state each time and returns (exit code, its JSON report)."""
    note = httpx.get(f"{base_url}/transparency/statements/{statement_id}",
                     headers={"authorization": f"Bearer {token}"}, timeout=30).text
    runs = iter(range(1_000_000))

    def verify(text: str = note) -> tuple[int, dict]:
        run = next(runs)
        path = tmp / f"statement-{run}.note"
        path.write_text(text)
        result = revstream("verify", "--host", base_url, "--vkey", vkey, "--statement", str(path), "--state",
                           str(tmp / f"state-{run}"), "--token", token, "--json", home=tmp / "licensor", check=False)
        return result.returncode, json.loads(result.stdout)

    return note, verify


WAIT_S = 60.0
"""Generous bound on anything a test waits for; never a timing assertion."""


def wait_until(condition, what: str, timeout_s: float = WAIT_S):
    """Poll `condition` until it returns something true (returned), or fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Clock:
    """The request path's time: µs since the epoch, set by the test (the real time while None)."""

    def __init__(self, now_us: int | None = None) -> None:
        self.now_us = now_us

    def __call__(self) -> int:
        return self.now_us if self.now_us is not None else time.time_ns() // 1000


class ServedGateway:
    """`create_app(config)` served by uvicorn in a thread of this process, on a free port, over
    a migrated store: a real gateway a test drives over HTTP and reads through `engine`."""

    start_timeout_s = WAIT_S

    def __init__(self, config, backends: dict | None = None, clock=None) -> None:
        import threading

        import uvicorn

        from revstream.gateway import create_app
        from revstream.store import make_engine, upgrade

        self.config = config
        self.engine = make_engine(config.store.database_url, config.keys_dir)
        upgrade(self.engine)
        self.clock = clock
        self.port = free_port()
        self.app = create_app(config, backends=backends, clock=clock)
        self.server = uvicorn.Server(uvicorn.Config(self.app, port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_until(lambda: self.server.started, "the gateway's start", self.start_timeout_s)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT_S)
        self.engine.dispose()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_key(self, customer: str) -> str:
        from revstream.store import create_key

        return create_key(self.engine, customer, time.time_ns() // 1000)[0]
