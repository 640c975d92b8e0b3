"""A witness's state directory: its key and its per-log state, on disk.

Layout of ``DIR``::

    witness.key    the signer key (``PRIVATE+KEY+name+id+base64(0x01 || seed)``), mode 0600
    witness.vkey   its cosigner verifier key (0x04), for operators to hand out
    state.json     the latest cosigned checkpoint per log (see ``_state``)
    evidence/      requests refused with 422 although the log signed them (a split view, a
                   fork, or a bad proof): possibly signed proof of misbehaviour, kept for
                   auditors (tlog-witness lets a witness log these)
    lock           held (flock) by the one witness process serving this directory

Every write goes to a temporary file that is fsynced, renamed over the old file, and the
directory fsynced, so a crash leaves either the old or the new state, never a torn one.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from pathlib import Path

from ..transparency import FormatError, cosigner_vkey, generate_cosigner_key
from ._errors import StateError
from ._state import WitnessState, state_from_json, state_to_json

__all__ = ("StateDirectory", "init_witness_key")

KEY_FILE = "witness.key"
VKEY_FILE = "witness.vkey"
STATE_FILE = "state.json"
LOCK_FILE = "lock"
EVIDENCE_DIR = "evidence"
EVIDENCE_FILES_MAX = 1000
"""Refused requests kept as evidence (each at most 16 KiB); later ones are only logged."""
STATE_FILE_BYTES_MAX = 256 * 1024 * 1024
"""Largest state file read (WITNESS_LOGS_MAX logs at well under 1 KiB each fit many times over)."""


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view):]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def init_witness_key(directory: Path, name: str, seed: bytes | None = None) -> str:
    """Create ``directory`` (0700) and a new witness key in it; return the cosigner vkey.

    Refuses (:class:`StateError`) if the directory already has a key: a witness keeps its
    key for life, since the key is what licensors trust.
    """
    directory = Path(directory)
    try:
        skey, vkey = generate_cosigner_key(name, seed)
    except FormatError as error:
        raise StateError(f"witness name: {error}") from None
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if (directory / KEY_FILE).exists():
            raise StateError(f"{directory / KEY_FILE} already exists; a witness keeps its key")
        _write_atomically(directory / KEY_FILE, (skey + "\n").encode(), 0o600)
        _write_atomically(directory / VKEY_FILE, (vkey + "\n").encode(), 0o644)
    except OSError as error:
        raise StateError(f"cannot write the witness key in {directory}: {error}") from None
    return vkey


class StateDirectory:
    """The state directory of one running witness (holds its lock while open)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_descriptor: int | None = None

    def __enter__(self) -> StateDirectory:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        """Take the directory's lock; :class:`StateError` if another witness holds it."""
        if not (self.path / KEY_FILE).is_file():
            raise StateError(f"no witness key in {self.path}: run `revstream witness init --state {self.path}` first")
        try:
            descriptor = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise StateError(f"cannot open {self.path / LOCK_FILE}: {error}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(descriptor)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StateError(f"another witness is serving {self.path}") from None
            raise StateError(f"cannot lock {self.path / LOCK_FILE}: {error}") from None
        self._lock_descriptor = descriptor

    def close(self) -> None:
        if self._lock_descriptor is not None:
            os.close(self._lock_descriptor)  # releases the flock
            self._lock_descriptor = None

    def read_key(self) -> tuple[str, str]:
        """(signer key, cosigner vkey); :class:`StateError` if missing or malformed."""
        try:
            skey = (self.path / KEY_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise StateError(f"no witness key in {self.path}: run `revstream witness init --state {self.path}` "
                             "first") from None
        except OSError as error:
            raise StateError(f"cannot read {self.path / KEY_FILE}: {error}") from None
        try:
            return skey, cosigner_vkey(skey)
        except FormatError as error:
            raise StateError(f"{self.path / KEY_FILE}: {error}") from None

    def load(self) -> WitnessState:
        """The saved state, or an empty one if none was saved yet."""
        path = self.path / STATE_FILE
        try:
            with path.open("rb") as file:
                data = file.read(STATE_FILE_BYTES_MAX + 1)
        except FileNotFoundError:
            return WitnessState()
        except OSError as error:
            raise StateError(f"cannot read {path}: {error}") from None
        if len(data) > STATE_FILE_BYTES_MAX:
            raise StateError(f"{path} is larger than {STATE_FILE_BYTES_MAX} bytes")
        return state_from_json(data)

    def save(self, state: WitnessState) -> None:
        """Write ``state`` durably (temporary file, fsync, rename, fsync the directory)."""
        if self._lock_descriptor is None:
            raise StateError("the state directory is not open (locked) for writing")
        _write_atomically(self.path / STATE_FILE, state_to_json(state))

    def record_evidence(self, body: bytes, now_s: int) -> Path | None:
        """Keep a refused, log-signed request; None once EVIDENCE_FILES_MAX are kept."""
        directory = self.path / EVIDENCE_DIR
        directory.mkdir(mode=0o700, exist_ok=True)
        if sum(1 for _ in directory.iterdir()) >= EVIDENCE_FILES_MAX:
            return None
        path = directory / f"{now_s}-{hashlib.sha256(body).hexdigest()[:16]}.txt"
        _write_atomically(path, body)
        return path
