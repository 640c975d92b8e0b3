"""Repositories: the store's queries, as plain functions over an Engine or Connection.
Business rules live above this layer; these functions only read and write rows."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..keys import hash_secret, key_hint, new_api_key, new_id
from ..metering import STATUS_INTERRUPTED, STATUS_PENDING, FinalUsage, UsageRecord
from ._errors import NotFound
from ._schema import api_keys, customers, meta, usage_records, workers
from ._engine import writing

USAGE_PAGE_RECORDS_MAX = 10_000
RECOVERY_BATCH_RECORDS_MAX = 1_000


@dataclass(frozen=True, slots=True)
class KeyRow:
    key_id: str
    customer_id: str
    customer: str
    key_hint: str
    created_us: int
    revoked_us: int | None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


# --- meta -------------------------------------------------------------------

def get_meta(engine: Engine, key: str) -> str | None:
    with engine.connect() as connection:
        return connection.execute(select(meta.c.value).where(meta.c.key == key)).scalar()


def put_meta_if_absent(engine: Engine, key: str, value: str) -> bool:
    """Store `value` unless the key exists; True if this call stored it."""
    try:
        with writing(engine) as connection:
            connection.execute(insert(meta).values(key=key, value=value))
        return True
    except IntegrityError:
        return False


# --- customers and keys ---------------------------------------------------------

def ensure_customer(connection: Connection, name: str, now_us: int) -> str:
    existing = connection.execute(select(customers.c.customer_id).where(customers.c.name == name)).scalar()
    if existing:
        return existing
    customer_id = new_id("cus")
    connection.execute(insert(customers).values(customer_id=customer_id, name=name, created_us=now_us))
    return customer_id


def create_key(
    engine: Engine, customer: str, now_us: int,
    requests_per_minute: int | None = None, tokens_per_minute: int | None = None,
) -> tuple[str, KeyRow]:
    """A new key for `customer` (created if new). The key itself is returned once."""
    key = new_api_key()
    key_id = new_id("key")
    with writing(engine) as connection:
        customer_id = ensure_customer(connection, customer, now_us)
        connection.execute(
            insert(api_keys).values(
                key_id=key_id, customer_id=customer_id, key_sha256=hash_secret(key),
                key_hint=key_hint(key), created_us=now_us, revoked_us=None,
                requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
            )
        )
    return key, KeyRow(key_id, customer_id, customer, key_hint(key), now_us, None, requests_per_minute, tokens_per_minute)


def set_key_limits(engine: Engine, key_id: str, requests_per_minute: int | None, tokens_per_minute: int | None) -> KeyRow:
    """Set (or with None, lift) a key's rate limits."""
    with writing(engine) as connection:
        connection.execute(
            update(api_keys).where(api_keys.c.key_id == key_id)
            .values(requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute)
        )
        row = connection.execute(_key_query().where(api_keys.c.key_id == key_id)).first()
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    return KeyRow(*row)


def _key_query():
    return select(
        api_keys.c.key_id, api_keys.c.customer_id, customers.c.name, api_keys.c.key_hint,
        api_keys.c.created_us, api_keys.c.revoked_us, api_keys.c.requests_per_minute, api_keys.c.tokens_per_minute,
    ).join(customers, customers.c.customer_id == api_keys.c.customer_id)


def list_keys(engine: Engine, customer: str | None = None) -> list[KeyRow]:
    query = _key_query().order_by(api_keys.c.created_us, api_keys.c.key_id)
    if customer is not None:
        query = query.where(customers.c.name == customer)
    with engine.connect() as connection:
        return [KeyRow(*row) for row in connection.execute(query)]


def find_key(engine: Engine, key_sha256: str) -> KeyRow | None:
    with engine.connect() as connection:
        row = connection.execute(_key_query().where(api_keys.c.key_sha256 == key_sha256)).first()
    return KeyRow(*row) if row else None


def revoke_key(engine: Engine, key_id: str, now_us: int) -> KeyRow:
    with writing(engine) as connection:
        connection.execute(
            update(api_keys).where(and_(api_keys.c.key_id == key_id, api_keys.c.revoked_us.is_(None)))
            .values(revoked_us=now_us)
        )
        row = connection.execute(_key_query().where(api_keys.c.key_id == key_id)).first()
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    return KeyRow(*row)


def find_customer_id(engine: Engine, name: str) -> str:
    with engine.connect() as connection:
        customer_id = connection.execute(select(customers.c.customer_id).where(customers.c.name == name)).scalar()
    if customer_id is None:
        raise NotFound(f"no customer named {name!r}")
    return customer_id


# --- usage records ---------------------------------------------------------------

def list_usage(
    engine: Engine, customer_id: str | None = None, since_us: int | None = None,
    limit: int = USAGE_PAGE_RECORDS_MAX,
) -> list[UsageRecord]:
    query = select(*[usage_records.c[f] for f in UsageRecord.__slots__]).order_by(
        usage_records.c.time_us, usage_records.c.request_id
    ).limit(min(limit, USAGE_PAGE_RECORDS_MAX))
    if customer_id is not None:
        query = query.where(usage_records.c.customer_id == customer_id)
    if since_us is not None:
        query = query.where(usage_records.c.time_us >= since_us)
    with engine.connect() as connection:
        return [UsageRecord(*row) for row in connection.execute(query)]


# --- worker leases and crash recovery -------------------------------------------

def register_worker(engine: Engine, worker_id: str, now_us: int) -> None:
    with writing(engine) as connection:
        connection.execute(
            insert(workers).values(
                worker_id=worker_id, pid=os.getpid(), hostname=socket.gethostname(),
                started_us=now_us, heartbeat_us=now_us,
            )
        )


def heartbeat(engine: Engine, worker_id: str, now_us: int) -> None:
    with writing(engine) as connection:
        connection.execute(update(workers).where(workers.c.worker_id == worker_id).values(heartbeat_us=now_us))


def unregister_worker(engine: Engine, worker_id: str) -> None:
    with writing(engine) as connection:
        connection.execute(delete(workers).where(workers.c.worker_id == worker_id))


def stale_pending(connection: Connection, now_us: int, lease_us: int) -> list[FinalUsage]:
    """Pending records whose worker is gone (no heartbeat within `lease_us`), as the
    `interrupted` final records that close them with what is known: the prompt tokens."""
    live = select(workers.c.worker_id).where(workers.c.heartbeat_us >= now_us - lease_us)
    rows = connection.execute(
        select(usage_records.c.request_id, usage_records.c.tokens_prompt)
        # No ORDER BY: it would make SQLite walk the whole table in key order instead of
        # the small partial index of pending records (a stall under the write lock).
        .where(usage_records.c.status == STATUS_PENDING, usage_records.c.worker_id.not_in(live))
        .limit(RECOVERY_BATCH_RECORDS_MAX)
    ).all()
    return [
        FinalUsage(
            request_id=row.request_id, status=STATUS_INTERRUPTED, tokens_prompt=row.tokens_prompt,
            tokens_completion=0, usage_source="backend", finalized_us=now_us, error_code="worker_lost",
        )
        for row in rows
    ]


def forget_crashed_local_workers(engine: Engine) -> int:
    """Drop the leases of workers on this host whose process no longer exists, so a
    restart after a crash closes their pending records at once instead of waiting for
    the lease to run out. (A reused pid only delays that to the lease.)"""
    with writing(engine) as connection:
        rows = connection.execute(
            select(workers.c.worker_id, workers.c.pid).where(workers.c.hostname == socket.gethostname())
        ).all()
        dead = [row.worker_id for row in rows if not _process_exists(row.pid)]
        if dead:
            connection.execute(delete(workers).where(workers.c.worker_id.in_(dead)))
    return len(dead)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def forget_dead_workers(connection: Connection, now_us: int, lease_us: int) -> None:
    connection.execute(delete(workers).where(workers.c.heartbeat_us < now_us - lease_us))
