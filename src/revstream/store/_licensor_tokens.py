"""Licensor tokens: bearer tokens a licensor reads the transparency log with.

Like API keys, a token is shown once and only its SHA-256 is stored.
"""

from __future__ import annotations

from sqlalchemy import Engine, insert, select

from ..keys import hash_secret, new_id, new_licensor_token
from ._agreements import _licensor_id
from ._schema import licensor_tokens
from ._engine import writing


def create_licensor_token(engine: Engine, licensor: str, now_us: int) -> tuple[str, str]:
    """A new token for the licensor named `licensor`; returns (token, token id)."""
    token = new_licensor_token()
    token_id = new_id("ltk")
    with writing(engine) as connection:
        licensor_id = _licensor_id(connection, licensor)
        connection.execute(insert(licensor_tokens).values(
            token_id=token_id, licensor_id=licensor_id, token_sha256=hash_secret(token), created_us=now_us,
        ))
    return token, token_id


def find_licensor_token(engine: Engine, token_sha256: str) -> str | None:
    """The licensor id a token hash belongs to, or None."""
    with engine.connect() as connection:
        return connection.execute(
            select(licensor_tokens.c.licensor_id).where(licensor_tokens.c.token_sha256 == token_sha256)
        ).scalar()
