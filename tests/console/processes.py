"""Real processes for the issue-17 tests, set up as their operators would:

* witnesses: a key made as `revstream witness init` makes it, then `revstream witness serve`
  in a subprocess following the hosts' logs;
* hosts: a home with a config naming the witnesses, a store prepared with the calls behind
  `prices set`, `licensors add`, `agreements add`, `log init` and `licensors token` (each
  CLI command costs a process start; they are tested elsewhere), then `revstream serve`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx

from conftest import Server, free_port, start_server
from revstream.pricing import ModelPrice, parse_price
from revstream.settlement import draft_agreement
from revstream.store import (
    add_agreement,
    add_licensor,
    create_licensor_token,
    import_usage,
    init_log_key,
    make_engine,
    set_model_licensor,
    set_price,
    settle,
    upgrade,
)
from revstream.witness import init_witness_key

START_S = 60.0
WAIT_S = 60.0
LICENSOR = "Llama Labs"


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass
class WitnessProcess:
    name: str
    state: Path
    vkey: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.state.parent / f"{self.state.name}.toml"

    def follow(self, *logs: tuple[str, str]) -> None:
        """Follow these logs (origin, log verifier key); takes effect at the next start."""
        self.config.write_text("".join(f'[[log]]\norigin = "{origin}"\nvkeys = ["{vkey}"]\n\n' for origin, vkey in logs))

    def start(self) -> "WitnessProcess":
        log = (self.state.parent / f"{self.state.name}.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "revstream", "witness", "serve", "--config", str(self.config), "--state",
             str(self.state), "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"witness {self.name} exited ({self.process.returncode})")
            try:
                httpx.get(f"{self.url}/{'0' * 64}/checkpoint", timeout=1.0)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"witness {self.name} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def evidence(self) -> list[Path]:
        folder = self.state / "evidence"
        return sorted(folder.iterdir()) if folder.exists() else []


def make_witness(tmp: Path, name: str) -> WitnessProcess:
    state = tmp / name.replace("/", "_")
    return WitnessProcess(name, state, init_witness_key(state, name))


@dataclass
class Host:
    """A host's home and store, prepared; `start` serves it."""

    home: Path
    origin: str
    vkey: str
    token: str
    config: str
    server: Server | None = None

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.home / 'revstream.db'}"

    def engine(self):
        return make_engine(self.database_url, self.home / "keys")

    def start(self) -> Server:
        self.server = start_server(self.home, config=self.config)
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def url(self) -> str:
        return self.server.base_url

    def import_usage(self, records: list[dict]) -> None:
        engine = self.engine()
        lines = [json.dumps(record).encode() + b"\n" for record in records]
        import_usage(engine, lambda: iter(lines), now_us())
        engine.dispose()

    def settle(self, period: str) -> list[dict]:
        engine = self.engine()
        statements = settle(engine, period, now_us())
        engine.dispose()
        return [json.loads(statement.body) for statement in statements]

    def health(self) -> dict:
        return httpx.get(self.url + "/health", timeout=10).json()

    def checkpoint(self) -> str:
        response = httpx.get(self.url + "/transparency/checkpoint", headers={"authorization": f"Bearer {self.token}"},
                             timeout=10)
        assert response.status_code == 200, response.text
        return response.text

    def statement_note(self, statement_id: str, path: Path) -> Path:
        response = httpx.get(f"{self.url}/transparency/statements/{statement_id}",
                             headers={"authorization": f"Bearer {self.token}"}, timeout=10)
        assert response.status_code == 200, response.text
        path.write_text(response.text)
        return path

    def wait_witnessed(self, size: int) -> dict:
        """Wait until the host publishes a witnessed checkpoint of at least ``size`` leaves."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            witnessing = self.health()["transparency_log"]["witnessing"]
            if (witnessing.get("published_size") or 0) >= size:
                return witnessing
            time.sleep(0.2)
        raise AssertionError(f"no witnessed checkpoint of {size} leaves: {witnessing}")


def host_config(origin: str, witnesses: tuple[WitnessProcess, ...] = (), quorum: int | None = None) -> str:
    lines = ["[transparency]", f'origin = "{origin}"', "log_append_interval_s = 0.2",
             "checkpoint_interval_s = 3600", "witness_timeout_s = 2.0"]
    if quorum is not None:
        lines.append(f"witness_quorum = {quorum}")
    if witnesses:
        lines.append("witnesses = [" + ", ".join(f'{{url = "{w.url}", vkey = "{w.vkey}"}}' for w in witnesses) + "]")
    return "\n".join(lines) + "\n"


def prepare_host(home: Path, origin: str, model: str, currency: str, *, input_price: str, output_price: str,
                 witnesses: tuple[WitnessProcess, ...] = (), quorum: int | None = None,
                 agreement_from: date = date(2026, 1, 1), **agreement) -> Host:
    """A host's store: a priced model licensed by LICENSOR under ``agreement`` (the keywords of
    `draft_agreement`), its log key, a licensor token; the config names its witnesses."""
    home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{home / 'revstream.db'}", home / "keys")
    upgrade(engine)
    at = now_us()
    set_price(engine, ModelPrice(model, currency, parse_price(input_price), parse_price(output_price),
                                 date(2026, 1, 1)), at)
    add_licensor(engine, LICENSOR, at)
    set_model_licensor(engine, model, LICENSOR, at)
    add_agreement(engine, draft_agreement(licensor=LICENSOR, models=(model,), currency=currency,
                                          effective_from=agreement_from, **agreement), at)
    vkey = init_log_key(engine, origin, at)
    token = create_licensor_token(engine, LICENSOR, at)[0]
    engine.dispose()
    return Host(home, origin, vkey, token, host_config(origin, witnesses, quorum))


def usage(prefix: str, model: str, period: str, count: int, tokens_prompt: int, tokens_completion: int) -> list[dict]:
    return [{"request_id": f"{prefix}-{n}", "time": f"{period}-{n % 27 + 1:02d}T10:00:00Z", "customer": f"c{n % 3}",
             "model": model, "tokens_prompt": tokens_prompt + n, "tokens_completion": tokens_completion,
             "status": "ok"} for n in range(count)]
