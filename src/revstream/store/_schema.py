"""Tables, as SQLAlchemy Core metadata. Alembic migrations create them; this module
is the single description the repositories query against.

Times are integer microseconds since the Unix epoch, UTC (`*_us`): exact, sortable,
the same on SQLite and PostgreSQL. Money that balances, limits and totals can grow in is a
pair of columns, whole units beside nanos (see `_amounts`).
"""

from __future__ import annotations

from ._amounts import ExactInteger, amount_columns
from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text, UniqueConstraint, text

metadata = MetaData()
# Records still pending: a small partial index, as large as the requests in flight.
PENDING = text("status = 'pending'")
# Late usage records not settled yet: a small partial index, empty most of the time.
LATE_UNSETTLED = text("late_period IS NOT NULL AND settled_period IS NULL")
# Final records not in the transparency log yet: the log's outbox, empty once caught up.
UNLOGGED = text("status != 'pending' AND log_index IS NULL")

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_us", BigInteger, nullable=False),
    # Billing: "prepaid" spends credit bought in advance; "postpaid" runs up a
    # receivable up to credit_limit_nanos. The currency is fixed by the first
    # credit or limit given.
    Column("billing_mode", String(16), nullable=False, server_default="prepaid"),
    Column("currency", String(3), nullable=True),
    *amount_columns("credit_limit", nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(40), primary_key=True),
    Column("customer_id", String(40), ForeignKey("customers.customer_id"), nullable=False),
    Column("key_sha256", String(64), nullable=False, unique=True),
    Column("key_hint", String(16), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger, nullable=True),
    Column("requests_per_minute", Integer, nullable=True),
    Column("tokens_per_minute", Integer, nullable=True),
)

usage_records = Table(
    "usage_records",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("time_us", BigInteger, nullable=False),
    Column("finalized_us", BigInteger, nullable=True),
    Column("customer_id", String(40), nullable=False),
    Column("key_id", String(40), nullable=False),
    Column("model", String(200), nullable=False),
    Column("backend", String(32), nullable=False),
    Column("endpoint", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("tokens_prompt", Integer, nullable=False),
    Column("tokens_completion", Integer, nullable=False),
    Column("usage_source", String(16), nullable=False),
    Column("ttft_ms", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("worker_id", String(40), nullable=False),
    Column("max_tokens", Integer, nullable=True),
    Column("charge_nanos", BigInteger, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("reserved_nanos", BigInteger, nullable=True),
    # While pending, the request's hold: the funding account it counts against and
    # the budget windows it occupies ("budget_id@window_start;..."). Once final, the
    # ledger entry that booked its charge.
    Column("funding_kind", String(32), nullable=True),
    Column("budget_windows", Text, nullable=True),
    Column("ledger_entry_id", String(64), nullable=True),
    # Settlement (see `_settlement`): a record still pending when its period closed, or
    # imported into a closed period, is late: `late_period` is its own period and
    # `settled_period` the later period whose statements settled it as an adjustment.
    # Records settled with their own period keep both NULL (the period's close says so).
    Column("late_period", String(7), nullable=True),
    Column("settled_period", String(7), nullable=True),
    # Position of the record's leaf in the transparency log (see `_log`); NULL until the
    # log appender picks the final record up.
    Column("log_index", BigInteger, nullable=True),
    Index("ix_usage_records_customer_time", "customer_id", "time_us"),
    Index("ix_usage_records_pending", "customer_id", sqlite_where=PENDING, postgresql_where=PENDING),
    # Covers the settle aggregation of a period: a range scan that never reads the table.
    Index("ix_usage_records_time", "time_us"),
    Index("ix_usage_records_late", "late_period", sqlite_where=LATE_UNSETTLED, postgresql_where=LATE_UNSETTLED),
    Index("ix_usage_records_unlogged", "finalized_us", "request_id", sqlite_where=UNLOGGED, postgresql_where=UNLOGGED),
)

workers = Table(
    "workers",
    metadata,
    Column("worker_id", String(40), primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("hostname", String(255), nullable=False),
    Column("started_us", BigInteger, nullable=False),
    Column("heartbeat_us", BigInteger, nullable=False),
)

prices = Table(
    "prices",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("effective_from_us", BigInteger, primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("input_nanos_per_mtok", BigInteger, nullable=False),
    Column("output_nanos_per_mtok", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

# The ledger: immutable entries and their postings (debit-positive nanos).
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("entry_id", String(64), primary_key=True),
    Column("time_us", BigInteger, nullable=False),
    Column("description", String(200), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("reverses_entry_id", String(64), nullable=True),
)

ledger_postings = Table(
    "ledger_postings",
    metadata,
    Column("posting_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("entry_id", String(64), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    *amount_columns(""),
    Index("ix_ledger_postings_entry", "entry_id"),
    Index("ix_ledger_postings_account", "owner", "kind", "currency"),
)

# Balances derived from postings, maintained in the same transaction as the postings
# (so a reservation reads one row, not a sum); `revstream ledger check` re-derives them.
account_balances = Table(
    "account_balances",
    metadata,
    Column("owner", String(64), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("currency", String(3), primary_key=True),
    *amount_columns(""),
)

budgets = Table(
    "budgets",
    metadata,
    Column("budget_id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False),
    Column("key_id", String(40), nullable=False, server_default=""),
    Column("period", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    *amount_columns("limit"),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("customer_id", "key_id", "period", name="uq_budgets_scope_period"),
)

budget_windows = Table(
    "budget_windows",
    metadata,
    Column("budget_id", String(40), primary_key=True),
    Column("window_start_us", BigInteger, primary_key=True),
    *amount_columns("spent"),
    *amount_columns("reserved"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("customer_id", String(40), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("request_sha256", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("content_type", String(100), nullable=True),
    Column("body", LargeBinary, nullable=True),
    Column("created_us", BigInteger, nullable=False),
)


# Revenue share (see `_settlement`): licensors, the licensor of each model, agreements
# (their terms as canonical JSON), one statement per agreement and period (its canonical
# JSON bytes, exactly as published), and the close of each period.
licensors = Table(
    "licensors",
    metadata,
    Column("licensor_id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_us", BigInteger, nullable=False),
)

model_licensors = Table(
    "model_licensors",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("licensor_id", String(40), ForeignKey("licensors.licensor_id"), nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

agreements = Table(
    "agreements",
    metadata,
    Column("agreement_id", String(40), primary_key=True),
    Column("licensor_id", String(40), ForeignKey("licensors.licensor_id"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("effective_from", String(10), nullable=False),
    Column("effective_to", String(10), nullable=True),
    Column("terms_json", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

statements = Table(
    "statements",
    metadata,
    Column("statement_id", String(64), primary_key=True),
    Column("agreement_id", String(40), ForeignKey("agreements.agreement_id"), nullable=False),
    Column("period", String(7), nullable=False),
    Column("licensor_id", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("share_total_minor", ExactInteger, nullable=False),
    Column("residue_nanos", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    # The statement as a signed note (see `revstream.settlement._publish`), when the log had a key at its close.
    Column("signed_note", Text, nullable=True),
    UniqueConstraint("agreement_id", "period", name="uq_statements_agreement_period"),
)

period_closes = Table(
    "period_closes",
    metadata,
    Column("period", String(7), primary_key=True),
    Column("state", String(16), nullable=False),  # "closing", then "closed"
    Column("started_us", BigInteger, nullable=False),
    Column("closed_us", BigInteger, nullable=True),
    # With a log key: the size of the checkpoint signed when the close began (every record
    # the close settles as the period's own is below it) and the previous close's size.
    Column("log_size", BigInteger, nullable=True),
    Column("log_previous_size", BigInteger, nullable=True),
)


# Transparency log (see `_log`): one head row (the lock appenders take, and the size),
# the hash of every complete subtree, the signed checkpoints, and the tokens licensors
# read the log with (only their SHA-256 is kept).
log_state = Table(
    "log_state",
    metadata,
    Column("log_id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    # Where the appender's look for waiting usage records starts (see `_log`): every record
    # finalized before it is a leaf already, except stragglers the full look catches.
    Column("outbox_floor_us", BigInteger, nullable=False, server_default="0"),
)

log_subtrees = Table(
    "log_subtrees",
    metadata,
    Column("level", Integer, primary_key=True),
    Column("subtree_index", BigInteger, primary_key=True),
    Column("hash", LargeBinary, nullable=False),
)

log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True),
    Column("root", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

licensor_tokens = Table(
    "licensor_tokens",
    metadata,
    Column("token_id", String(40), primary_key=True),
    Column("licensor_id", String(40), ForeignKey("licensors.licensor_id"), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_us", BigInteger, nullable=False),
)

# Verifier side (a licensor's install): every statement `revstream verify` checked, with the
# outcome, so the licensor's dashboard shows what was verified, what failed and why.
audited_statements = Table(
    "audited_statements",
    metadata,
    Column("origin", String(255), primary_key=True),
    Column("statement_id", String(64), primary_key=True),
    Column("host", Text, nullable=False),
    Column("licensor", String(255), nullable=False),
    Column("agreement_id", String(40), nullable=False),
    Column("period", String(7), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("share_total_minor", ExactInteger, nullable=False),
    Column("note", Text, nullable=False),
    Column("state", String(16), nullable=False),  # "verified", "failed" or "unchecked"
    Column("reason", Text, nullable=True),
    Column("checked_us", BigInteger, nullable=False),
)

# Plans, subscriptions and invoices (see `_plans`, `_invoices`). A plan never changes once
# created; a subscription row holds one plan from `started_us` to `ended_us` (a change of
# plan ends one row and starts the next at the same second). Quota windows count the
# included tokens used and reserved per subscription and window (month, or day for a free
# plan). Invoices are stored as their canonical JSON bytes; `invoice_counter` hands out
# their numbers in the transaction that inserts them, so a rollback returns the number.
NO_PLAN_STREAM = "api"
customers.append_column(Column("country", String(2), nullable=True))
usage_records.append_column(Column("stream", String(16), nullable=False, server_default=NO_PLAN_STREAM))
usage_records.append_column(Column("plan_id", String(40), nullable=True))
usage_records.append_column(Column("subscription_id", String(40), nullable=True))
# While pending: the included tokens reserved; once final: the included tokens used.
usage_records.append_column(Column("tokens_included", Integer, nullable=True))
usage_records.append_column(Column("invoice_number", BigInteger, nullable=True))
INVOICED = text("invoice_number IS NOT NULL")
Index("ix_usage_records_invoice", usage_records.c.invoice_number, sqlite_where=INVOICED, postgresql_where=INVOICED)

plans = Table(
    "plans",
    metadata,
    Column("plan_id", String(40), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    *amount_columns("fee"),
    Column("tokens_included", BigInteger, nullable=False),
    Column("overage_nanos_per_mtok", BigInteger, nullable=True),
    Column("tokens_per_day", BigInteger, nullable=False),
    Column("models", Text, nullable=False),  # JSON array of model names, [] = every model
    *amount_columns("minimum"),
    Column("discount_bps", Integer, nullable=False),
    Column("requests_per_minute", Integer, nullable=True),
    Column("tokens_per_minute", Integer, nullable=True),
    Column("created_us", BigInteger, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", String(40), primary_key=True),
    Column("customer_id", String(40), ForeignKey("customers.customer_id"), nullable=False),
    Column("plan_id", String(40), ForeignKey("plans.plan_id"), nullable=False),
    Column("started_us", BigInteger, nullable=False),
    Column("ended_us", BigInteger, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_subscriptions_customer", "customer_id", "started_us"),
)

plan_windows = Table(
    "plan_windows",
    metadata,
    Column("subscription_id", String(40), primary_key=True),
    Column("window_start_us", BigInteger, primary_key=True),
    Column("tokens_used", BigInteger, nullable=False),
    Column("tokens_reserved", BigInteger, nullable=False),
)

tax_rates = Table(
    "tax_rates",
    metadata,
    Column("country", String(2), primary_key=True),
    Column("rate_bps", Integer, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

invoice_counter = Table(
    "invoice_counter",
    metadata,
    Column("counter_id", Integer, primary_key=True),
    Column("next_number", BigInteger, nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("number", BigInteger, primary_key=True),
    Column("customer_id", String(40), ForeignKey("customers.customer_id"), nullable=False),
    Column("period", String(7), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("total_minor", ExactInteger, nullable=False),
    Column("ledger_entry_id", String(64), nullable=True),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("customer_id", "period", name="uq_invoices_customer_period"),
)

# Typed log leaves (see `_log`): the bytes of every leaf, stored when it is appended and
# never recomputed; `source_id` names the row it projects (a usage record's request id, a
# fee's id) so `log check` can re-project the row under the leaf's version.
log_leaves = Table(
    "log_leaves",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

# Fees a period's close attributes to settlement (subscription fees, commit minimum
# top-ups): each one a `fee` leaf of the log (see `_fees`). `amount_exact` is exact nanos
# as "n" or "n/d"; `models` a JSON array (the fallback of the attribution rule).
UNLOGGED_FEES = text("log_index IS NULL")
fees = Table(
    "fees",
    metadata,
    Column("fee_id", String(40), primary_key=True),
    Column("period", String(7), nullable=False),
    Column("customer_id", String(40), nullable=False),
    Column("plan_id", String(40), nullable=False),
    Column("fee_kind", String(16), nullable=False),
    Column("stream", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_exact", Text, nullable=False),
    Column("from_us", BigInteger, nullable=False),
    Column("to_us", BigInteger, nullable=False),
    Column("models", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("log_index", BigInteger, nullable=True),
    Index("ix_fees_period", "period"),
    Index("ix_fees_unlogged", "created_us", "fee_id", sqlite_where=UNLOGGED_FEES, postgresql_where=UNLOGGED_FEES),
)

# --- issue 17: witnesses (host side, see `_witnessing`) ------------------------------------
# The cosignature lines witnesses returned for the host's checkpoints, one per (checkpoint
# size, witness key); and each configured witness's work state: a lease so one worker at a
# time talks to it, and the back-off after a failure.
log_cosignatures = Table(
    "log_cosignatures",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness_vkey", String(512), primary_key=True),
    Column("line", Text, nullable=False),
    Column("timestamp_s", BigInteger, nullable=False),
    Column("received_us", BigInteger, nullable=False),
    Index("ix_log_cosignatures_witness", "witness_vkey", "size"),
)
log_witnesses = Table(
    "log_witnesses",
    metadata,
    Column("witness_vkey", String(512), primary_key=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until_us", BigInteger, nullable=False, server_default="0"),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("next_attempt_us", BigInteger, nullable=False, server_default="0"),
    Column("last_attempt_us", BigInteger, nullable=True),
    Column("last_cosigned_us", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
)

# --- issue 17: the licensor console (a licensor's own install, see `_licensor`) -------------
# The hosts a licensor works with; each statement a sync fetched with its verification
# outcome and figures (amounts as unit/nanos pairs); one row per sync of a host.
licensor_hosts = Table(
    "licensor_hosts",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("url", Text, nullable=False),
    Column("vkey", Text, nullable=False),
    Column("token_env", String(100), nullable=False),
    Column("witnesses", Text, nullable=False),  # a JSON array of cosigner verifier keys
    Column("quorum", Integer, nullable=False),
    Column("tiles_url", Text, nullable=True),
    Column("created_us", BigInteger, nullable=False),
)
licensor_statements = Table(
    "licensor_statements",
    metadata,
    Column("host", String(100), ForeignKey("licensor_hosts.name"), primary_key=True),
    Column("statement_id", String(100), primary_key=True),
    Column("period", String(7), nullable=False),
    Column("agreement_id", String(64), nullable=True),
    Column("licensor", String(255), nullable=True),
    Column("origin", Text, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("effective_from", String(10), nullable=True),
    Column("effective_to", String(10), nullable=True),
    *amount_columns("gross_total", nullable=True),
    *amount_columns("share_total", nullable=True),
    *amount_columns("minimum_top_up", nullable=True),
    *amount_columns("cap_reduction", nullable=True),
    Column("share_total_minor", ExactInteger, nullable=True),
    Column("state", String(16), nullable=False),  # "verified", "failed" or "unchecked"
    Column("reason", Text, nullable=True),
    Column("note", Text, nullable=True),
    Column("evidence", Text, nullable=True),
    Column("checked_us", BigInteger, nullable=False),
    Index("ix_licensor_statements_period", "period"),
)
licensor_syncs = Table(
    "licensor_syncs",
    metadata,
    Column("sync_id", String(40), primary_key=True),
    Column("host", String(100), nullable=False),
    Column("period", String(7), nullable=True),
    Column("started_us", BigInteger, nullable=False),
    Column("finished_us", BigInteger, nullable=False),
    Column("listed", Integer, nullable=False),
    Column("verified", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("unchecked", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Index("ix_licensor_syncs_host", "host", "started_us"),
)
