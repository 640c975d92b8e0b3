"""Storage: one repository layer over SQLAlchemy Core (SQLite by default, PostgreSQL
in production). Storage never decides business rules. See `_errors` for the errors."""

from ._engine import make_engine, upgrade
from ._errors import Conflict, NotFound, StoreError
from ._repo import (
    KeyRow,
    close_interrupted,
    create_key,
    discard_pending,
    finalize,
    find_customer_id,
    find_key,
    get_meta,
    heartbeat,
    insert_pending,
    list_keys,
    list_usage,
    put_meta_if_absent,
    register_worker,
    revoke_key,
    unregister_worker,
)
from ._schema import metadata
from ._writer import UsageWriter, UsageWriterClosed

__all__ = [
    "Conflict",
    "KeyRow",
    "NotFound",
    "StoreError",
    "UsageWriter",
    "UsageWriterClosed",
    "close_interrupted",
    "create_key",
    "discard_pending",
    "finalize",
    "find_customer_id",
    "find_key",
    "get_meta",
    "heartbeat",
    "insert_pending",
    "list_keys",
    "list_usage",
    "make_engine",
    "metadata",
    "put_meta_if_absent",
    "register_worker",
    "revoke_key",
    "unregister_worker",
    "upgrade",
]
