"""The verifier's memory, one JSON file per log origin in the state directory.

It keeps the largest checkpoint the verifier accepted (so a host that later shows a
smaller or forked tree is caught), the statements it verified (the carry-in residue and
the log range of the next one must continue them), and the lowest log index at which it
saw usage of each later period (a later statement must not start after it: no entry of
its period may hide before its declared range). Failures leave an evidence folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

STATE_VERSION = 1


def _file_name(origin: str, vkey: str) -> str:
    """One file per log: its origin for people, the verifier key's hash so that two hosts
    using the same origin name never share a state."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", origin)[:80]
    return f"{readable}-{hashlib.sha256(vkey.encode()).hexdigest()[:16]}.json"


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


@dataclass
class VerifierState:
    directory: Path
    origin: str
    vkey: str
    accepted_checkpoint: str | None = None
    statements: dict[str, dict] = field(default_factory=dict)
    first_index: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path, origin: str, vkey: str) -> "VerifierState":
        path = directory / _file_name(origin, vkey)
        if not path.exists():
            return cls(directory, origin, vkey)
        value = orjson.loads(path.read_bytes())
        if value.get("version") != STATE_VERSION or value.get("origin") != origin or value.get("vkey") != vkey:
            raise ValueError(f"{path} is not a revstream verifier state for {origin!r} and this key")
        return cls(directory, origin, vkey, value.get("accepted_checkpoint"), value.get("statements") or {},
                   value.get("first_index") or {})

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        value = {"version": STATE_VERSION, "origin": self.origin, "vkey": self.vkey,
                 "accepted_checkpoint": self.accepted_checkpoint,
                 "statements": self.statements, "first_index": self.first_index}
        _write_atomically(self.directory / _file_name(self.origin, self.vkey),
                          orjson.dumps(value, option=orjson.OPT_INDENT_2))

    def previous_statement(self, agreement_id: str, period: str) -> dict | None:
        """The verified statement of the same agreement for the latest period before ``period``."""
        earlier = [s for s in self.statements.values() if s["agreement"] == agreement_id and s["period"] < period]
        return max(earlier, key=lambda s: s["period"]) if earlier else None


def keep_evidence(directory: Path, statement_id: str, files: dict[str, str | bytes]) -> Path:
    """Write a failure's evidence into a new folder under ``directory/evidence`` and return it."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = f"{re.sub(r'[^A-Za-z0-9._-]+', '_', statement_id)}-{stamp}"
    folder, suffix = directory / "evidence" / base, 1
    while folder.exists():
        suffix += 1
        folder = directory / "evidence" / f"{base}-{suffix}"
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder
