"""Real witnesses: `python -m revstream witness serve` in a subprocess on a free port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from revstream.transparency import MerkleTree, format_checkpoint, generate_key, sign_note

WITNESS_START_S = 60.0
STOP_WAIT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "revstream", *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"revstream {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


@dataclass
class Witness:
    """A witness's state directory and config; ``start`` runs its server, ``stop`` ends it."""

    state: Path
    config: Path
    vkey: str
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Witness:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "revstream", "witness", "serve", "--config", str(self.config),
             "--state", str(self.state), "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + WITNESS_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"witness exited ({self.process.returncode}):\n{self.log_path.read_text()}")
            try:
                httpx.get(f"{self.url}/{'0' * 64}/checkpoint", timeout=1.0)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"witness did not start:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


@dataclass
class Log:
    """A host's log: the pure MerkleTree and an Ed25519 log key."""

    origin: str
    skey: str
    vkey: str
    tree: MerkleTree = field(default_factory=MerkleTree)

    def grow_to(self, size: int, tag: bytes = b"record") -> None:
        while self.tree.size < size:
            self.tree.append(b'{"kind":"usage","n":%d,"tag":"%s"}' % (self.tree.size, tag))

    def checkpoint(self, size: int | None = None) -> str:
        size = self.tree.size if size is None else size
        return sign_note(format_checkpoint(self.origin, size, self.tree.root(size)), self.skey)

    def proof_from(self, new_size: int):
        return lambda old_size: self.tree.consistency_proof(old_size, new_size) if old_size else ()


@pytest.fixture
def log() -> Log:
    skey, vkey = generate_key("host.test/revstream", seed=b"H" * 32)
    return Log("host.test/revstream", skey, vkey)


@pytest.fixture
def witnesses(tmp_path, log) -> Iterator[Callable[..., Witness]]:
    """``make(name)``: a witness (key from `revstream witness init`) that follows ``log``, started."""
    made: list[Witness] = []

    def make(name: str = "witness.test/w1", logs: tuple[Log, ...] | None = None) -> Witness:
        state = tmp_path / name.replace("/", "_")
        created = json.loads(cli("witness", "init", "--state", str(state), "--name", name, "--json").stdout)
        config = tmp_path / f"{name.replace('/', '_')}.toml"
        config.write_text("".join(f'[[log]]\norigin = "{followed.origin}"\nvkeys = ["{followed.vkey}"]\n\n'
                                  for followed in (logs or (log,))))
        witness = Witness(state=state, config=config, vkey=created["vkey"], log_path=tmp_path / f"{state.name}.log")
        made.append(witness)
        return witness.start()

    yield make
    for witness in made:
        witness.stop()
