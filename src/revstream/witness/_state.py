"""What a witness remembers per log, and its JSON form (pure).

Per origin: the size and root of the latest checkpoint it cosigned, and that checkpoint as
a note carrying the log signature(s) it verified and its own cosignature (served to
monitors at ``GET /<sha256(origin) hex>/checkpoint``).

JSON: ``{"format": "revstream-witness-state", "version": 1, "logs": {origin: {"size": int,
"root": base64, "checkpoint": note}}}``. Sizes are JSON integers (exact up to 2^64-1 here).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import orjson

from ..transparency import EMPTY_ROOT, HASH_SIZE, TREE_SIZE_MAX, FormatError, parse_checkpoint
from ._errors import StateError

__all__ = ("STATE_FORMAT", "STATE_VERSION", "LogState", "WitnessState", "state_from_json", "state_to_json")

STATE_FORMAT = "revstream-witness-state"
STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class LogState:
    """The latest checkpoint the witness cosigned for one log."""

    size: int
    root: bytes
    checkpoint: str


@dataclass(frozen=True, slots=True)
class WitnessState:
    """Every log's :class:`LogState`, by origin (read-only); a new value per update."""

    logs: Mapping[str, LogState] = field(default_factory=lambda: MappingProxyType({}))

    def with_log(self, origin: str, log: LogState) -> WitnessState:
        return WitnessState(logs=MappingProxyType({**self.logs, origin: log}))


def state_to_json(state: WitnessState) -> bytes:
    logs = {origin: {"size": log.size, "root": base64.b64encode(log.root).decode("ascii"),
                     "checkpoint": log.checkpoint} for origin, log in sorted(state.logs.items())}
    return orjson.dumps({"format": STATE_FORMAT, "version": STATE_VERSION, "logs": logs},
                        option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def _log_from_json(origin: str, value: object) -> LogState:
    if not isinstance(value, dict) or set(value) != {"size", "root", "checkpoint"}:
        raise StateError(f"state of log {origin!r} must have exactly size, root and checkpoint")
    size, root_text, note = value["size"], value["root"], value["checkpoint"]
    if type(size) is not int or not 0 <= size <= TREE_SIZE_MAX or not isinstance(note, str):
        raise StateError(f"state of log {origin!r}: bad size or checkpoint")
    try:
        root = base64.b64decode(str(root_text), validate=True)
        checkpoint = parse_checkpoint(note[: note.rfind("\n\n") + 1])
    except (binascii.Error, ValueError, FormatError) as error:
        raise StateError(f"state of log {origin!r}: {error}") from None
    if len(root) != HASH_SIZE or (checkpoint.origin, checkpoint.size, checkpoint.root) != (origin, size, root):
        raise StateError(f"state of log {origin!r}: the stored checkpoint does not match size and root")
    if size == 0 and root != EMPTY_ROOT:
        raise StateError(f"state of log {origin!r}: size 0 without the empty root")
    return LogState(size=size, root=root, checkpoint=note)


def state_from_json(data: bytes) -> WitnessState:
    """Parse and check a state file's bytes; :class:`StateError` if anything is off."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise StateError(f"state file is not JSON: {error}") from None
    if not isinstance(value, dict) or value.get("format") != STATE_FORMAT:
        raise StateError("not a revstream witness state file")
    if value.get("version") != STATE_VERSION:
        raise StateError(f"unknown witness state version {value.get('version')!r} (this witness reads {STATE_VERSION})")
    logs = value.get("logs")
    if not isinstance(logs, dict):
        raise StateError("state file: `logs` must be an object")
    return WitnessState(logs=MappingProxyType({origin: _log_from_json(origin, log) for origin, log in logs.items()}))
