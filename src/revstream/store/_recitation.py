"""The rights registry, stored (issue 16): holders, works, the host's fingerprint key and the
recitation events.

A work is two things kept in step: its row in `recitation_works` (who, what, how) and its
window hashes in the host's index directory (`revstream.recitation.IndexDirectory`). Adding
writes the row and then the index inside one transaction, so a failed index write leaves no
row; removing takes the hashes out of the index first, then marks the row removed (a guard
that reloads in between only sees a work without hashes). The text of a work is never stored:
`register_work` takes a `Fingerprint`.

Events are written by the usage writer in the transaction that finalizes their response's
usage record (`event_rows`), and become `recitation` leaves through the log source in
`_log_sources`.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from sqlalchemy import Connection, Engine, delete, func, insert, literal, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from ..keys import hash_secret, new_id
from ..periods import period_bounds_us
from ..recitation import (
    LIMIT_WORDS_DEFAULT,
    MODE_BLOCK,
    Fingerprint,
    FingerprintKey,
    IndexDirectory,
    RecitationEvent,
    Work,
    hash_hex,
    new_fingerprint_key,
    new_work,
    next_work_number,
    parse_fingerprint_key,
)
from ._engine import writing
from ._errors import Conflict, NotFound
from ._keys import RECITATION_KEY, create_secret, key_ring_of, read_secret, require_secret
from ._recitation_schema import recitation_events, recitation_holders, recitation_works

HOLDER_TOKEN_PREFIX = "rshold-"
TOKEN_BYTES = 32
EVENTS_PAGE_MAX = 10_000
"""Most events one `holder_events` call returns."""


@dataclass(frozen=True, slots=True)
class HolderRow:
    holder_id: str
    name: str
    has_token: bool
    created_us: int


@dataclass(frozen=True, slots=True)
class WorkRow:
    work_id: str
    number: int
    holder_id: str
    holder: str
    title: str
    mode: str
    limit_words: int | None  # None: the host's limit
    windows: int
    words: int
    created_us: int
    removed_us: int | None

    def work(self, host_limit_words: int = LIMIT_WORDS_DEFAULT) -> Work:
        limit = host_limit_words if self.limit_words is None else self.limit_words
        return Work(self.number, self.work_id, self.title, self.holder_id, self.holder, self.mode, limit)


# --- the fingerprint key ------------------------------------------------------------------

def fingerprint_key(engine: Engine) -> FingerprintKey:
    """The host's fingerprint key, made once (a key file beside the log's keys)."""
    ring = key_ring_of(engine)
    text = ring.read(RECITATION_KEY) if ring is not None else None
    if text is None:
        try:
            with writing(engine) as connection:
                text = read_secret(connection, RECITATION_KEY)
                if text is None:
                    text = new_fingerprint_key().text()
                    try:
                        create_secret(connection, RECITATION_KEY, text)
                    except Conflict:  # another process made its file first
                        text = require_secret(connection, RECITATION_KEY)
        except IntegrityError:  # another transaction put it in the database first
            with writing(engine) as connection:
                text = require_secret(connection, RECITATION_KEY)
    return parse_fingerprint_key(text)


def index_directory(engine: Engine, path: Path) -> IndexDirectory:
    """The host's index directory at `path`, created empty for its key if needed."""
    return IndexDirectory.create(path, fingerprint_key(engine))


# --- holders --------------------------------------------------------------------------------

def add_holder(engine: Engine, name: str, now_us: int) -> HolderRow:
    name = name.strip()
    if not name or len(name) > 200 or any(ch in name for ch in "\r\n\0"):
        raise ValueError("a holder's name is one line of 1 to 200 characters")
    holder_id = new_id("hld")
    try:
        with writing(engine) as connection:
            connection.execute(insert(recitation_holders).values(holder_id=holder_id, name=name, created_us=now_us))
    except IntegrityError:
        raise Conflict(f"a rights holder named {name!r} exists already") from None
    return HolderRow(holder_id, name, False, now_us)


def _holder(connection: Connection, name: str):
    row = connection.execute(select(recitation_holders).where(recitation_holders.c.name == name)).first()
    if row is None:
        raise NotFound(f"no rights holder named {name!r} (add it with `revstream holders add`)")
    return row


def new_holder_token(engine: Engine, name: str) -> tuple[str, str]:
    """A new bearer token for the holder (replacing any earlier one); returns (token, holder id)."""
    token = HOLDER_TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    with writing(engine) as connection:
        holder = _holder(connection, name)
        connection.execute(update(recitation_holders).where(recitation_holders.c.holder_id == holder.holder_id)
                           .values(token_sha256=hash_secret(token)))
    return token, holder.holder_id


def find_holder_by_token(engine: Engine, token: str) -> str | None:
    """The holder id a bearer token belongs to, or None."""
    if not token.startswith(HOLDER_TOKEN_PREFIX):
        return None
    found = holder_of_token_sha256(engine, hash_secret(token))
    return None if found is None else found[0]


def holder_of_token_sha256(engine: Engine, token_sha256: str) -> tuple[str, str] | None:
    """(holder id, name) of the holder whose token has this SHA-256, or None."""
    with engine.connect() as connection:
        row = connection.execute(select(recitation_holders.c.holder_id, recitation_holders.c.name)
                                 .where(recitation_holders.c.token_sha256 == token_sha256)).first()
    return None if row is None else (row.holder_id, row.name)


def list_holders(engine: Engine) -> list[HolderRow]:
    with engine.connect() as connection:
        rows = connection.execute(select(recitation_holders).order_by(recitation_holders.c.name)).all()
    return [HolderRow(r.holder_id, r.name, r.token_sha256 is not None, r.created_us) for r in rows]


# --- works ----------------------------------------------------------------------------------

_WORK_COLUMNS = (*recitation_works.c, recitation_holders.c.name.label("holder"))


def _work_row(row) -> WorkRow:
    return WorkRow(row.work_id, row.number, row.holder_id, row.holder, row.title, row.mode, row.limit_words,
                   row.windows, row.words, row.created_us, row.removed_us)


def _works_query():
    return select(*_WORK_COLUMNS).join(recitation_holders,
                                       recitation_holders.c.holder_id == recitation_works.c.holder_id)


def register_work(engine: Engine, directory: IndexDirectory, holder: str, title: str, fingerprint: Fingerprint,
                  now_us: int, *, mode: str = MODE_BLOCK, limit_words: int | None = None) -> WorkRow:
    """Register a work from its fingerprint: its row (committed first, so a guard that reloads
    on the index's change finds it), then its hashes in the index; if the index refuses them,
    the row is deleted again. `limit_words` None: the host's limit, whatever it is then."""
    try:
        row = _insert_work(engine, directory, holder, title, fingerprint, now_us, mode, limit_words)
    except IntegrityError:  # another `works add` took the same number at the same moment (PostgreSQL)
        raise Conflict("another work was registered at the same moment: run `works add` again") from None
    try:
        directory.add_work(row.number, fingerprint)
    except BaseException:
        with writing(engine) as connection:
            connection.execute(delete(recitation_works).where(recitation_works.c.work_id == row.work_id))
        raise
    return row


def _insert_work(engine: Engine, directory: IndexDirectory, holder: str, title: str, fingerprint: Fingerprint,
                 now_us: int, mode: str, limit_words: int | None) -> WorkRow:
    with writing(engine) as connection:
        holder_row = _holder(connection, holder)
        highest = connection.execute(select(func.max(recitation_works.c.number))).scalar()
        number = next_work_number(n for n in (highest, *directory.work_numbers()) if n is not None)
        checked_limit = LIMIT_WORDS_DEFAULT if limit_words is None else limit_words
        work = new_work(number, new_id("wrk"), title, holder_row.holder_id, holder_row.name,
                        window_words=fingerprint.window_words, mode=mode, limit_words=checked_limit)
        row = WorkRow(work.work_id, number, work.holder_id, work.holder, work.title, work.mode, limit_words,
                      len(fingerprint.hashes), fingerprint.words, now_us, None)
        connection.execute(insert(recitation_works).values(
            work_id=row.work_id, number=number, holder_id=row.holder_id, title=row.title, mode=row.mode,
            limit_words=limit_words, windows=row.windows, words=row.words, created_us=now_us))
    return row


def list_works(engine: Engine, include_removed: bool = False, holder_id: str | None = None) -> list[WorkRow]:
    query = _works_query().order_by(recitation_works.c.number)
    if not include_removed:
        query = query.where(recitation_works.c.removed_us.is_(None))
    if holder_id is not None:
        query = query.where(recitation_works.c.holder_id == holder_id)
    with engine.connect() as connection:
        return [_work_row(row) for row in connection.execute(query)]


def works_in_force(engine: Engine, host_limit_words: int = LIMIT_WORDS_DEFAULT) -> tuple[Work, ...]:
    """What the guard's catalog holds: every work not removed."""
    return tuple(row.work(host_limit_words) for row in list_works(engine))


def remove_work(engine: Engine, directory: IndexDirectory, work_id: str, now_us: int) -> WorkRow:
    with engine.connect() as connection:
        row = connection.execute(_works_query().where(recitation_works.c.work_id == work_id)).first()
    if row is None or row.removed_us is not None:
        raise NotFound(f"no registered work {work_id!r}")
    directory.remove_work(row.number)  # its hashes leave the disk first
    with writing(engine) as connection:
        connection.execute(update(recitation_works).where(recitation_works.c.work_id == work_id)
                           .values(removed_us=now_us))
    return dataclasses.replace(_work_row(row), removed_us=now_us)


# --- events ---------------------------------------------------------------------------------

def event_rows(events: Iterable[RecitationEvent]) -> list[tuple[object, dict]]:
    """Events as (table, values) rows for the usage writer, which inserts them in the
    transaction that finalizes their response's usage record."""
    return [(recitation_events, {
        "event_id": new_id("rev"), "request_id": e.request_id, "time_us": e.time_us, "model": e.model,
        "work_id": e.work_id, "holder_id": e.holder_id, "window_hash": hash_hex(e.window_hash), "action": e.action,
    }) for e in events]


def recitation_row_event(row) -> RecitationEvent:
    """A stored event row as the core's value (what its leaf projects)."""
    return RecitationEvent(row.request_id, row.time_us, row.model, row.work_id, row.holder_id,
                           int(row.window_hash, 16), row.action)


def _event_conditions(holder_id: str | None, period: str | None) -> list:
    conditions = [] if holder_id is None else [recitation_events.c.holder_id == holder_id]
    if period is not None:
        start_us, end_us = period_bounds_us(period)
        conditions += [recitation_events.c.time_us >= start_us, recitation_events.c.time_us < end_us]
    return conditions


def work_event_counts(engine: Engine, holder_id: str | None = None,
                      period: str | None = None) -> dict[str, dict[str, int]]:
    """Events per work id and action (every holder's with None), optionally of one month."""
    query = (select(recitation_events.c.work_id, recitation_events.c.action, func.count())
             .where(*_event_conditions(holder_id, period))
             .group_by(recitation_events.c.work_id, recitation_events.c.action))
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as connection:
        for work_id, action, count in connection.execute(query):
            counts.setdefault(work_id, {})[action] = count
    return counts


def holder_events(engine: Engine, holder_id: str | None, period: str | None = None, *,
                  after: tuple[int, str] | None = None, limit: int = EVENTS_PAGE_MAX,
                  newest_first: bool = False) -> list[dict]:
    """Recitation events of a holder's works (every holder's with None), optionally of one
    calendar month (`YYYY-MM`): oldest first from just after `after` (time µs, event id: the
    last event of the previous page), or the newest first; at most `limit` (<= EVENTS_PAGE_MAX)."""
    order = (recitation_events.c.time_us, recitation_events.c.event_id)
    conditions = _event_conditions(holder_id, period)
    if after is not None:
        conditions.append(tuple_(*order) > tuple_(literal(after[0]), literal(after[1])))
    query = (select(recitation_events, recitation_works.c.title)
             .join(recitation_works, recitation_works.c.work_id == recitation_events.c.work_id, isouter=True)
             .where(*conditions)
             .order_by(*((column.desc() for column in order) if newest_first else order))
             .limit(min(limit, EVENTS_PAGE_MAX)))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [{"event_id": r.event_id, "request_id": r.request_id, "time_us": r.time_us, "model": r.model,
             "work_id": r.work_id, "title": r.title, "holder_id": r.holder_id, "window_hash": r.window_hash,
             "action": r.action, "log_index": r.log_index, "settled_period": r.settled_period} for r in rows]
