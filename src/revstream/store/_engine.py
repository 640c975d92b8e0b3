"""Engines and migrations. SQLite runs in WAL mode; PostgreSQL through psycopg 3."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import re

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

from ._errors import StoreError
from ._keys import KEYS_OPTION, KeyRing

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
POOL_CONNECTIONS_MAX = 16


def make_engine(database_url: str, keys_dir: Path | None = None) -> Engine:
    """An engine for `database_url`, creating the SQLite file's directory if needed. With
    `keys_dir`, the host's secrets are key files there (see `_keys`); without, the database."""
    try:
        url = make_url(database_url)
    except Exception as error:  # sqlalchemy raises ArgumentError with a terse text
        raise StoreError(f"invalid database_url {database_url!r}: {error}") from error
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url)
    elif url.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_size=POOL_CONNECTIONS_MAX, max_overflow=0, pool_pre_ping=True)
    else:
        raise StoreError(f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql+psycopg")
    return engine if keys_dir is None else engine.execution_options(**{KEYS_OPTION: KeyRing(Path(keys_dir))})


def _sqlite_engine(url) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        # Let SQLAlchemy emit BEGIN itself so transactions are real (pysqlite quirk).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        # A transaction that reads and then writes asks for `write_lock=True`:
        # BEGIN IMMEDIATE takes the write lock up front, so two worker processes
        # never deadlock upgrading read locks.
        immediate = connection.get_execution_options().get("write_lock", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction. On SQLite it begins IMMEDIATE, taking the write lock before
    the first read: a transaction that reads and then writes would otherwise fail with
    "database is locked" as soon as another writer commits in between (WAL snapshots
    cannot be upgraded). Every store function that writes uses this."""
    with engine.connect().execution_options(write_lock=True) as connection, connection.begin():
        yield connection


_REVISION = re.compile(r'^revision = "(\w+)"$', re.M)
_DOWN_REVISION = re.compile(r'^down_revision = "(\w+)"$', re.M)


def head_revision() -> str:
    """The newest migration, read from the migration files without loading alembic."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = path.read_text()
        revisions.update(_REVISION.findall(text))
        parents.update(_DOWN_REVISION.findall(text))
    heads = revisions - parents
    if len(heads) != 1:
        raise StoreError(f"the migrations must form one chain, found heads {sorted(heads)}")
    return heads.pop()


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if "alembic_version" not in inspect(connection).get_table_names():
            return None
        return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def upgrade(engine: Engine) -> str:
    """Apply every pending migration; returns the revision now in force.

    A store already at the head is answered without loading alembic, which alone takes
    most of a CLI command's start-up time."""
    head = head_revision()
    if _current_revision(engine) == head:
        return head
    from alembic import command  # only when a migration may run (see the docstring)
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return str(_current_revision(engine))


def is_current(engine: Engine) -> bool:
    return "alembic_version" in inspect(engine).get_table_names()
