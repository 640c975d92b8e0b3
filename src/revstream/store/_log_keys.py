"""The transparency log's key: created once (`init_log_key`), replaced when compromised or
retired (`rotate_log_key`), and what it signs besides checkpoints (statements). The key
itself is a key file in the host's home (see `_keys`); only its public half is in the store.
"""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, Engine, and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from ..settlement import period_bounds_us, statement_note_text
from ..transparency import TransparencyError, format_checkpoint, generate_key, sign_note
from ._errors import Conflict, NotFound
from ._keys import SIGNER_KEY, create_secret, read_secret, replace_secret
from ._log import (
    _LOG_ID,
    BASE_SIZE_META_KEY,
    ORIGIN_META_KEY,
    SIGNER_KEY_META_KEY,
    VERIFIER_KEY_META_KEY,
    LogIntegrityError,
    _append_all,
    _root,
    _signing_keys,
    pseudonym_secret,
)
from ._repo import get_meta
from ._schema import log_checkpoints, log_state, meta, period_closes, usage_records
from ._engine import writing

def _closed_until_us(connection: Connection) -> int:
    """The end of the latest period whose close has begun (0 if none): usage before it
    has been assigned to a statement, or will be as a late adjustment."""
    latest = connection.execute(select(func.max(period_closes.c.period))).scalar()
    return 0 if latest is None else period_bounds_us(latest)[1]


def init_log_key(engine: Engine, origin: str, now_us: int = 0) -> str:
    """Create the log's Ed25519 key for `origin`; returns the verifier key. The signer key
    is a key file (see `_keys`). Raises Conflict if the log has a key already.

    Usage that closed periods already settled is appended first, in the same
    transaction, and the size after it is kept as the log's settled base
    (`settled_base_size`): every leaf above it is settled by a close that ran after
    the log existed, which is what lets a verifier tell a late record from one that an
    earlier, unlogged close settled."""
    try:
        skey, vkey = generate_key(origin)
    except TransparencyError as error:
        raise ValueError(f"origin {origin!r}: {error}") from error
    secret = pseudonym_secret(engine)
    try:
        with writing(engine) as connection:
            connection.execute(meta.insert(), [
                {"key": VERIFIER_KEY_META_KEY, "value": vkey},
                {"key": ORIGIN_META_KEY, "value": origin},
            ])
            create_secret(connection, SIGNER_KEY, skey)
            size = connection.execute(
                select(log_state.c.size).where(log_state.c.log_id == _LOG_ID).with_for_update()
            ).scalar_one()
            settled = or_(usage_records.c.settled_period.is_not(None), and_(
                usage_records.c.late_period.is_(None), usage_records.c.time_us < _closed_until_us(connection)))
            size = _append_all(connection, size, secret, now_us, settled)
            connection.execute(meta.insert().values(key=BASE_SIZE_META_KEY, value=str(size)))
    except IntegrityError:
        raise Conflict("the log key exists already; `revstream log vkey` prints its verifier key") from None
    return vkey


def log_origin(connection: Connection) -> str | None:
    return connection.execute(select(meta.c.value).where(meta.c.key == ORIGIN_META_KEY)).scalar()


def sign_statement(connection: Connection, body: bytes) -> str | None:
    """A statement bound to a checkpoint, signed with the log key; None for a statement
    closed without the log (it names no checkpoint, so there is nothing to verify)."""
    value = orjson.loads(body)
    if value.get("log") is None:
        return None
    keys = _signing_keys(connection)
    if SIGNER_KEY_META_KEY not in keys:
        raise LogIntegrityError(f"statement {value.get('statement')} names a checkpoint but the log key is gone")
    return sign_note(statement_note_text(body), keys[SIGNER_KEY_META_KEY])


def settled_base_size(connection: Connection) -> int:
    """The log size below which every leaf was settled before the log had a key (0 if none)."""
    value = connection.execute(select(meta.c.value).where(meta.c.key == BASE_SIZE_META_KEY)).scalar()
    return 0 if value is None else int(value)


def log_verifier_key(engine: Engine) -> str | None:
    return get_meta(engine, VERIFIER_KEY_META_KEY)




KEY_HISTORY_META_KEY = "log_verifier_key_history"


def rotate_log_key(engine: Engine, now_us: int) -> tuple[str, str, int]:
    """Replace the log's signing key (a compromised or retired one) with a new key for the
    same origin; returns (old verifier key, new verifier key, size of the handover
    checkpoint).

    The current tree is signed at once with the new key, and also with the old key when
    this install still has it (the handover checkpoint carries both signatures), so a
    verifier holding either key can check it; every later checkpoint and statement is
    signed with the new key only. The old verifier key and the size it signed up to are
    kept (public) in `meta`."""
    with writing(engine) as connection:
        origin = log_origin(connection)
        old_vkey = connection.execute(select(meta.c.value).where(meta.c.key == VERIFIER_KEY_META_KEY)).scalar()
        if origin is None or old_vkey is None:
            raise NotFound("the log has no key yet: `revstream log init` creates one")
        old_skey = read_secret(connection, SIGNER_KEY)
        size = connection.execute(
            select(log_state.c.size).where(log_state.c.log_id == _LOG_ID).with_for_update()).scalar_one()
        new_skey, new_vkey = generate_key(origin)
        root = _root(connection, size)
        text = format_checkpoint(origin, size, root)
        note = sign_note(text, new_skey)
        if old_skey is not None:
            note += sign_note(text, old_skey).split("\n\n", 1)[1]
        connection.execute(delete(log_checkpoints).where(log_checkpoints.c.size == size))
        connection.execute(log_checkpoints.insert().values(size=size, root=root, note=note, created_us=now_us))
        history = orjson.loads(connection.execute(
            select(meta.c.value).where(meta.c.key == KEY_HISTORY_META_KEY)).scalar() or b"[]")
        history.append({"vkey": old_vkey, "until_size": size, "rotated_us": now_us})
        connection.execute(delete(meta).where(meta.c.key.in_((KEY_HISTORY_META_KEY, VERIFIER_KEY_META_KEY))))
        connection.execute(meta.insert(), [{"key": KEY_HISTORY_META_KEY, "value": orjson.dumps(history).decode()},
                                           {"key": VERIFIER_KEY_META_KEY, "value": new_vkey}])
        replace_secret(connection, SIGNER_KEY, new_skey)
    return old_vkey, new_vkey, size
