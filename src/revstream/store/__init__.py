"""Storage: one repository layer over SQLAlchemy Core (SQLite by default, PostgreSQL
in production). Storage never decides business rules. See `_errors` for the errors."""

from ._engine import make_engine, upgrade
from ._errors import Conflict, NotFound, StoreError
from ._accounts import (
    Balance,
    add_credit,
    customer_balance,
    list_budgets,
    read_funding,
    set_budget,
    set_credit_limit,
    set_prepaid,
)
from ._ledger import LedgerCheck, balances_of, check_ledger, post_entries
from ._idempotency import ADMITTED, DENIED, MISMATCH, REPLAY, RUNNING, AdmitOutcome, AdmitRequest, StoredResponse
from ._metering import (
    admit_batch,
    discard_batch,
    finalize_batch,
    recover_interrupted,
)
from ._prices import ensure_prices, list_prices, load_prices, set_price
from ._repo import (
    KeyRow,
    create_key,
    find_customer_id,
    find_key,
    forget_crashed_local_workers,
    get_meta,
    heartbeat,
    set_key_limits,
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
    "ADMITTED",
    "DENIED",
    "MISMATCH",
    "REPLAY",
    "RUNNING",
    "AdmitOutcome",
    "AdmitRequest",
    "Balance",
    "Conflict",
    "KeyRow",
    "LedgerCheck",
    "StoredResponse",
    "add_credit",
    "admit_batch",
    "balances_of",
    "check_ledger",
    "customer_balance",
    "discard_batch",
    "ensure_prices",
    "finalize_batch",
    "list_budgets",
    "list_prices",
    "load_prices",
    "post_entries",
    "read_funding",
    "recover_interrupted",
    "set_budget",
    "set_credit_limit",
    "set_key_limits",
    "set_prepaid",
    "set_price",
    "NotFound",
    "StoreError",
    "UsageWriter",
    "UsageWriterClosed",
    "create_key",
    "find_customer_id",
    "find_key",
    "forget_crashed_local_workers",
    "get_meta",
    "heartbeat",
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
