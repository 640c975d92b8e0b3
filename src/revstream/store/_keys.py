"""The host's secrets: key files in the home, never the shared database.

The transparency log's Ed25519 signing key, the pseudonym secret (which turns customers
into the keyed pseudonyms of the log) and the key of end users' hashes (monthly active
users) are read from files in a key directory (default
``HOME/keys``; ``[transparency] keys_dir``), each 0600 in a 0700 directory, or from the
environment (``REVSTREAM_LOG_SIGNER_KEY``, ``REVSTREAM_PSEUDONYM_SECRET``), which wins. Every
replica of a fleet needs the same two secrets: copy the key directory, point ``keys_dir`` at
a shared path, or set the variables.

A store opened with a key directory moves secrets an older revstream kept in the database's
``meta`` table into their files the first time it reads them, and deletes them from the
database. A store opened without one (a library use, a test) keeps them in ``meta``, as
before; it cannot read secrets that were moved to a key directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Mapping

from sqlalchemy import Connection, Engine, delete, select

from ..config import write_private_file
from ._errors import Conflict, StoreError
from ._schema import meta

SIGNER_KEY: Final = "log-signer.key"
PSEUDONYM_SECRET: Final = "pseudonym.secret"
MAU_SECRET: Final = "mau.secret"
"""The key of end users' hashes for monthly active users (see `revstream.licence`)."""
ADS_SECRET: Final = "ads.secret"
"""ads (issue 13): the key of click tokens, conversation keys and click networks' pseudonyms."""
# Where an older revstream kept each one, in `meta`.
LEGACY_META_KEYS: Final = {SIGNER_KEY: "log_signer_key", PSEUDONYM_SECRET: "log_pseudonym_secret",
                           MAU_SECRET: "licence_mau_secret",
                           ADS_SECRET: "ads_secret"}
ENVIRONMENT: Final = {SIGNER_KEY: "REVSTREAM_LOG_SIGNER_KEY", PSEUDONYM_SECRET: "REVSTREAM_PSEUDONYM_SECRET",
                      MAU_SECRET: "REVSTREAM_MAU_SECRET",
                      ADS_SECRET: "REVSTREAM_ADS_SECRET"}
# --- recitation (issue 16): the host's fingerprint key (`rfk1:...`), published to rights
# holders (not a secret) but kept as a key file: every replica must hash with the same one.
RECITATION_KEY: Final = "recitation.key"
LEGACY_META_KEYS[RECITATION_KEY] = "recitation_fingerprint_key"  # never in meta; read_secret asks
ENVIRONMENT[RECITATION_KEY] = "REVSTREAM_HOST_FINGERPRINT_KEY"
# --- end recitation
KEYS_DIR_MODE: Final = 0o700
KEYS_OPTION: Final = "revstream_keys"
"""The engine's execution option that carries its `KeyRing`."""


class SecretMissing(StoreError):
    """A secret the store needs is in neither the key directory, the environment nor the database."""


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Where one install keeps its secrets: a directory of key files, and the environment."""

    directory: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def read(self, name: str) -> str | None:
        value = self.environ.get(ENVIRONMENT[name])
        if value:
            return value.strip()
        path = self.directory / name
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None

    def create(self, name: str, value: str) -> None:
        """Write a new secret's file (0600); Conflict if one is there already. Two processes
        racing to create it cannot both win: the file appears by a hard link, which never
        replaces an existing one."""
        self.directory.mkdir(mode=KEYS_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self.directory, KEYS_DIR_MODE)
        if self.environ.get(ENVIRONMENT[name]):
            raise Conflict(f"the secret {name} comes from ${ENVIRONMENT[name]} already")
        staged = self.directory / f".{name}.{os.getpid()}.new"
        write_private_file(staged, (value + "\n").encode("utf-8"))
        try:
            os.link(staged, self.directory / name)
        except FileExistsError:
            raise Conflict(f"the secret {name} exists already in {self.directory}") from None
        finally:
            staged.unlink(missing_ok=True)

    def replace(self, name: str, value: str) -> None:
        self.directory.mkdir(mode=KEYS_DIR_MODE, parents=True, exist_ok=True)
        write_private_file(self.directory / name, (value + "\n").encode("utf-8"))


def key_ring_of(bind: Engine | Connection) -> KeyRing | None:
    return bind.get_execution_options().get(KEYS_OPTION)


def read_secret(connection: Connection, name: str) -> str | None:
    """A secret from the key ring (moving one the database still holds into its file first),
    or from the database when the store has no key ring."""
    ring = key_ring_of(connection)
    legacy = connection.execute(select(meta.c.value).where(meta.c.key == LEGACY_META_KEYS[name])).scalar()
    if ring is None:
        return legacy
    value = ring.read(name)
    if value is None and legacy is not None:
        ring.create(name, legacy)
        connection.execute(delete(meta).where(meta.c.key == LEGACY_META_KEYS[name]))
        return legacy
    if value is not None and legacy is not None:
        if value != legacy:
            raise StoreError(f"the database still holds a different {name} than {ring.directory}: "
                             f"resolve by hand (the file is the one in force)")
        connection.execute(delete(meta).where(meta.c.key == LEGACY_META_KEYS[name]))
    return value


def create_secret(connection: Connection, name: str, value: str) -> None:
    """Store a new secret: its key file, or the database without a key ring. Conflict if it exists."""
    if read_secret(connection, name) is not None:
        raise Conflict(f"the secret {name} exists already")
    ring = key_ring_of(connection)
    if ring is None:
        connection.execute(meta.insert().values(key=LEGACY_META_KEYS[name], value=value))
    else:
        ring.create(name, value)


def replace_secret(connection: Connection, name: str, value: str) -> None:
    """Put a new value in place of a secret (a rotated key)."""
    ring = key_ring_of(connection)
    if ring is None:
        connection.execute(delete(meta).where(meta.c.key == LEGACY_META_KEYS[name]))
        connection.execute(meta.insert().values(key=LEGACY_META_KEYS[name], value=value))
    else:
        ring.replace(name, value)


def require_secret(connection: Connection, name: str) -> str:
    value = read_secret(connection, name)
    if value is None:
        ring = key_ring_of(connection)
        where = f"{ring.directory / name} or ${ENVIRONMENT[name]}" if ring else "the database (no key directory given)"
        raise SecretMissing(f"the secret {name} is not in {where}: copy the key directory of the host that made it")
    return value
