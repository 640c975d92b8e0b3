"""The logs a witness follows: origin and trusted log verifier keys (pure; parses TOML text).

A configuration file lists each log once::

    [[log]]
    origin = "host.example/revstream"
    vkeys = ["host.example/revstream+0123abcd+AQ..."]   # Ed25519 note keys (0x01), 1 to 8

More than one key lets a log rotate its key; a checkpoint needs a valid signature from one.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..transparency import ProofError, parse_verifier_key
from ._errors import ConfigError

__all__ = ("LOG_VKEYS_MAX", "WITNESS_LOGS_MAX", "LogConfig", "WitnessConfig", "parse_witness_config", "witness_config")

WITNESS_LOGS_MAX = 1000
"""Most logs one witness follows (its state file is rewritten whole per cosignature: ~0.5 MB here)."""
LOG_VKEYS_MAX = 8
"""Most trusted keys per log (rotation overlap)."""


@dataclass(frozen=True, slots=True)
class LogConfig:
    """A log the witness follows: its checkpoint origin and its trusted note verifier keys."""

    origin: str
    vkeys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    """Every followed log, by origin (a read-only mapping)."""

    logs: Mapping[str, LogConfig]


def _check_log(log: LogConfig) -> LogConfig:
    origin = log.origin
    if not isinstance(origin, str) or not origin or "\n" in origin or any(ord(char) < 0x20 for char in origin):
        raise ConfigError(f"log origin {origin!r} must be a non-empty line")
    vkeys = log.vkeys
    if isinstance(vkeys, str) or not isinstance(vkeys, (tuple, list)) or not 1 <= len(vkeys) <= LOG_VKEYS_MAX:
        raise ConfigError(f"log {origin!r} needs 1 to {LOG_VKEYS_MAX} verifier keys (a list)")
    for vkey in vkeys:
        try:
            parse_verifier_key(vkey)
        except ProofError as error:
            raise ConfigError(f"log {origin!r}: {error}") from None
    return LogConfig(origin=origin, vkeys=tuple(vkeys))


def witness_config(logs: Iterable[LogConfig]) -> WitnessConfig:
    """Check each log (origin, keys) and index them; :class:`ConfigError` on a bad or repeated log."""
    by_origin: dict[str, LogConfig] = {}
    for log in logs:
        checked = _check_log(log)
        if checked.origin in by_origin:
            raise ConfigError(f"log {checked.origin!r} is configured twice")
        by_origin[checked.origin] = checked
        if len(by_origin) > WITNESS_LOGS_MAX:
            raise ConfigError(f"a witness follows at most {WITNESS_LOGS_MAX} logs")
    return WitnessConfig(logs=MappingProxyType(by_origin))


def parse_witness_config(text: str) -> WitnessConfig:
    """Parse the TOML configuration (``[[log]]`` tables with ``origin`` and ``vkeys``)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"not valid TOML: {error}") from None
    unknown = set(raw) - {"log"}
    if unknown:
        raise ConfigError(f"unknown top-level keys {sorted(unknown)}; expected [[log]] tables")
    tables = raw.get("log", [])
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise ConfigError("`log` must be an array of tables ([[log]])")
    logs = []
    for table in tables:
        extra = set(table) - {"origin", "vkeys"}
        if extra or "origin" not in table or "vkeys" not in table:
            raise ConfigError(f"each [[log]] has exactly `origin` and `vkeys`, got {sorted(table)}")
        logs.append(LogConfig(origin=table["origin"], vkeys=table["vkeys"]))
    return witness_config(logs)
