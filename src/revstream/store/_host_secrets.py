"""Secrets a host generates once and keeps as key files (see `_keys`)."""

from __future__ import annotations

import secrets
from typing import Final

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from ._engine import writing
from ._errors import Conflict
from ._keys import create_secret, key_ring_of, read_secret, require_secret

_SECRET_BYTES: Final = 32


def host_secret(engine: Engine, name: str) -> bytes:
    """A secret of 32 random bytes the host generates once (`_keys.PSEUDONYM_SECRET`,
    `_keys.MAU_SECRET`), kept in the key directory; every replica needs the same one."""
    ring = key_ring_of(engine)
    value = ring.read(name) if ring is not None else None
    if value is None:
        try:
            value = _create_once(engine, name)
        except IntegrityError:  # another transaction put it in the database first
            with writing(engine) as connection:
                value = require_secret(connection, name)
    return bytes.fromhex(value)


def _create_once(engine: Engine, name: str) -> str:
    with writing(engine) as connection:
        value = read_secret(connection, name)
        if value is None:
            value = secrets.token_hex(_SECRET_BYTES)
            try:
                create_secret(connection, name, value)
            except Conflict:  # another process made its file first
                value = require_secret(connection, name)
    return value
