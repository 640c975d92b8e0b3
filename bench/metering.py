"""Usage records finalized and booked per second, through the gateway's batching path.

Usage: python bench/metering.py [--records N] [--stores sqlite,postgres] [--batch N]
           [--concurrency C] [--queue N] [--delay-ms MS] [--customers K]
           [--postgres-url URL] [--quiet-wait S] [--json]

For each store (SQLite in a temporary directory; PostgreSQL in a fresh database
created on --postgres-url and dropped afterwards) the benchmark sets up real money
state: K customers with one key each, prepaid credit, a monthly budget per customer
and a price for the model. It then drives N requests through `revstream.store.UsageWriter`
exactly as the gateway does: C asyncio producers each `await writer.admit(...)` (a
priced model, so a reservation and a pending record are written) and then call
`writer.finalize(...)` (not awaited) with varied token counts; `await writer.close()`
drains the rest. Records/s counts complete admit+finalize cycles, from the first admit
until `close()` returns.

Afterwards it checks that every record is final with the expected charge, that
`check_ledger` passes, and that every reservation was released (reserved balances,
holds and budget windows back to zero).

The baseline of the same run is the raw insert rate of N rows into a simple table
through SQLAlchemy Core executemany on the same store, one transaction per batch of
--batch rows: the floor the batching path can approach. The ratio is printed.

Targets (the issue, this machine): >= 20,000 records/s on SQLite, >= 10,000 on
PostgreSQL. The benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, func, insert, select

from _common import (
    OTHER_CPU_SHARE_WARN,
    OtherLoad,
    install_uvloop,
    percentile,
    progress,
    ratio,
    scratch_store,
    wait_for_quiet,
)
from revstream.metering import FinalUsage, PendingUsage
from revstream.money import parse_amount
from revstream.pricing import ModelPrice, max_cost_nanos, provisional_charge_nanos
from revstream.store import (
    ADMITTED,
    AdmitRequest,
    UsageWriter,
    add_credit,
    check_ledger,
    create_key,
    make_engine,
    metadata,
    set_budget,
    set_price,
    upgrade,
)

account_balances, budget_windows, usage_records = (
    metadata.tables[name] for name in ("account_balances", "budget_windows", "usage_records")
)

TARGET_RECORDS_PER_S = {"sqlite": 20_000, "postgres": 10_000}
MODEL = "bench-model"
CURRENCY = "USD"
PRICE = ModelPrice.from_strings(MODEL, CURRENCY, "0.20", "0.60", date(2026, 1, 1))
CREDIT_PER_CUSTOMER = "1000000.00"
BUDGET_PER_CUSTOMER = "1000000.00"
TOKENS_PROMPT_RANGE = (20, 2_000)
MAX_COMPLETION_TOKENS = 1_024
PROGRESS_EVERY_S = 5.0
BASELINE_TABLE = "bench_baseline_rows"
POSTGRES_ADMIN_URL = "postgresql://127.0.0.1:5432/test"


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    key_id: str


# --- stores ------------------------------------------------------------------------


def store_url(store: str, stack: contextlib.ExitStack, args) -> str:
    return stack.enter_context(scratch_store(store, args.postgres_url))


def prepare_money(engine, customer_count: int) -> list[Customer]:
    """Customers with a key, prepaid credit and a monthly budget; a price for MODEL."""
    now = time.time_ns() // 1000
    set_price(engine, PRICE, now)
    customers = []
    for index in range(customer_count):
        name = f"bench-customer-{index}"
        _, key = create_key(engine, name, now)
        add_credit(engine, name, parse_amount(CREDIT_PER_CUSTOMER, CURRENCY), CURRENCY, now)
        set_budget(engine, name, None, "month", parse_amount(BUDGET_PER_CUSTOMER, CURRENCY), CURRENCY, now)
        customers.append(Customer(key.customer_id, key.key_id))
    return customers


# --- the batching path --------------------------------------------------------------


class Workload:
    """Request i: a customer, a prompt size and a completion size, the same in every run."""

    def __init__(self, customers: list[Customer], records: int) -> None:
        self.customers = customers
        self.records = records
        self.next_index = 0
        self.done = 0
        self.expected_charge_nanos = 0
        self.admit_latencies_s: list[float] = []

    def take(self) -> int | None:
        if self.next_index >= self.records:
            return None
        self.next_index += 1
        return self.next_index - 1

    def requests(self, index: int) -> tuple[AdmitRequest, FinalUsage]:
        # Deterministic and cheap (a multiplicative hash, not a seeded Random per record):
        # the benchmark measures the writer, not its own data generator.
        customer = self.customers[index % len(self.customers)]
        low, high = TOKENS_PROMPT_RANGE
        tokens_prompt = low + (index * 2_654_435_761) % (high - low + 1)
        tokens_completion = 1 + (index * 40_503) % MAX_COMPLETION_TOKENS
        now = time.time_ns() // 1000
        request_id = f"req_bench_{index:09d}"
        pending = PendingUsage(
            request_id=request_id, idempotency_key=None, time_us=now, customer_id=customer.customer_id,
            key_id=customer.key_id, model=MODEL, backend="openai", endpoint="chat",
            tokens_prompt=tokens_prompt, worker_id="wrk_bench",
        )
        final = FinalUsage(
            request_id=request_id, status="ok", tokens_prompt=tokens_prompt, tokens_completion=tokens_completion,
            usage_source="backend", finalized_us=now + 1, ttft_ms=1, duration_ms=2,
        )
        charge = min(
            provisional_charge_nanos(tokens_prompt, tokens_completion, PRICE),
            max_cost_nanos(tokens_prompt, MAX_COMPLETION_TOKENS, PRICE),
        )
        self.expected_charge_nanos += charge
        return AdmitRequest(pending, MAX_COMPLETION_TOKENS), final


async def producer(writer: UsageWriter, workload: Workload) -> None:
    while (index := workload.take()) is not None:
        request, final = workload.requests(index)
        started = time.perf_counter()
        outcome = await writer.admit(request)
        workload.admit_latencies_s.append(time.perf_counter() - started)
        if outcome.kind != ADMITTED:
            raise RuntimeError(f"request {index} was not admitted: {outcome.kind} {outcome.message}")
        writer.finalize(final)
        workload.done += 1


async def report_progress(workload: Workload, started: float) -> None:
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        elapsed = time.perf_counter() - started
        progress(f"  {workload.done:,}/{workload.records:,} admitted+finalized, {workload.done / elapsed:,.0f}/s so far")


async def drive(engine, workload: Workload, args) -> dict:
    writer = UsageWriter(engine, args.batch, args.delay_ms, args.queue)
    writer.start()
    cpu_before = os.times()
    started = time.perf_counter()
    reporter = asyncio.create_task(report_progress(workload, started))
    try:
        await asyncio.gather(*(producer(writer, workload) for _ in range(args.concurrency)))
        await writer.close()
    finally:
        reporter.cancel()
    elapsed_s = time.perf_counter() - started
    cpu_after = os.times()
    cpu_s = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    latencies_ms = [s * 1000 for s in workload.admit_latencies_s]
    return {
        "records": workload.done, "elapsed_s": elapsed_s, "records_per_s": workload.done / elapsed_s,
        "batches_written": writer.batches_written, "operations_written": writer.records_written,
        "mean_batch_operations": ratio(writer.records_written, writer.batches_written),
        "bench_process_cpu_us_per_record": cpu_s / max(workload.done, 1) * 1e6,
        "admit_latency_ms_p50": percentile(latencies_ms, 0.50), "admit_latency_ms_p99": percentile(latencies_ms, 0.99),
        "writer_last_error": writer.last_error,
    }


# --- checks ---------------------------------------------------------------------------


def verify(engine, workload: Workload) -> dict:
    ledger = check_ledger(engine)
    with engine.connect() as connection:
        records, final_charged, charge_total = connection.execute(select(
            func.count(),
            func.count().filter(usage_records.c.status == "ok", usage_records.c.charge_nanos > 0),
            func.coalesce(func.sum(usage_records.c.charge_nanos), 0),
        )).one()
        reserved_balance = connection.execute(
            select(func.coalesce(func.sum(func.abs(account_balances.c.units) + func.abs(account_balances.c.nanos)), 0))
            .where(account_balances.c.kind == "customer_reserved")
        ).scalar()
        # A hold lives on its pending record: holds left = reserved amounts still pending.
        holds_left = connection.execute(
            select(func.count()).where(usage_records.c.status == "pending", usage_records.c.reserved_nanos.is_not(None))
        ).scalar()
        window_reserved, spent_units, spent_nanos = connection.execute(select(
            func.coalesce(func.sum(func.abs(budget_windows.c.reserved_units) + func.abs(budget_windows.c.reserved_nanos)), 0),
            func.coalesce(func.sum(budget_windows.c.spent_units), 0), func.coalesce(func.sum(budget_windows.c.spent_nanos), 0),
        )).one()
        window_spent = int(spent_units) * 1_000_000_000 + int(spent_nanos)
        revenue_units, revenue_nanos = connection.execute(
            select(func.coalesce(func.sum(account_balances.c.units), 0), func.coalesce(func.sum(account_balances.c.nanos), 0))
            .where(account_balances.c.kind == "host_revenue")
        ).one()
        revenue = int(revenue_units) * 1_000_000_000 + int(revenue_nanos)
    expected = workload.expected_charge_nanos
    checks = {
        "every_record_final_with_charge": records == workload.records and final_charged == workload.records,
        "charges_as_rated": int(charge_total) == expected,
        "host_revenue_equals_charges": -int(revenue) == expected,
        "budget_spent_equals_charges": int(window_spent) == expected,
        "ledger_check_ok": ledger.ok,
        "reserved_back_to_zero": int(reserved_balance) == 0 and holds_left == 0 and int(window_reserved) == 0,
    }
    return {
        "checks": checks, "all_checks_pass": all(checks.values()), "usage_records": records,
        "final_with_charge": final_charged, "charge_total_nanos": int(charge_total), "expected_charge_nanos": expected,
        "ledger_entries": ledger.entries, "ledger_postings": ledger.postings, "holds_left": holds_left,
        "reserved_balance_nanos": int(reserved_balance), "budget_windows_reserved_nanos": int(window_reserved),
    }


# --- the baseline ---------------------------------------------------------------------


def baseline(engine, rows_total: int, batch_rows: int) -> dict:
    """Raw executemany of `rows_total` simple rows, one transaction per batch."""
    metadata = MetaData()
    table = Table(
        BASELINE_TABLE, metadata,
        Column("request_id", String(64), primary_key=True), Column("customer_id", String(40), nullable=False),
        Column("model", String(200), nullable=False), Column("time_us", BigInteger, nullable=False),
        Column("tokens_prompt", Integer, nullable=False), Column("tokens_completion", Integer, nullable=False),
        Column("charge_nanos", BigInteger, nullable=False),
    )
    metadata.create_all(engine)
    statement = insert(table)
    started = time.perf_counter()
    for first in range(0, rows_total, batch_rows):
        now = time.time_ns() // 1000
        rows = [
            {"request_id": f"req_base_{i:09d}", "customer_id": "cus_bench", "model": MODEL, "time_us": now,
             "tokens_prompt": i % 2000, "tokens_completion": i % 1000, "charge_nanos": i}
            for i in range(first, min(first + batch_rows, rows_total))
        ]
        with engine.begin() as connection:
            connection.execute(statement, rows)
    elapsed_s = time.perf_counter() - started
    metadata.drop_all(engine)
    return {"rows": rows_total, "elapsed_s": elapsed_s, "rows_per_s": rows_total / elapsed_s}


# --- one store --------------------------------------------------------------------------


def run_store(store: str, args) -> dict:
    with contextlib.ExitStack() as stack:
        url = store_url(store, stack, args)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        upgrade(engine)
        customers = prepare_money(engine, args.customers)
        progress(f"{store}: baseline, {args.records:,} rows by executemany in batches of {args.batch}")
        with OtherLoad([]) as base_load:
            base = baseline(engine, args.records, args.batch)
        base.update(base_load.figures)
        progress(f"{store}: baseline {base['rows_per_s']:,.0f} rows/s")
        progress(f"{store}: {args.records:,} requests through UsageWriter, {args.concurrency} producers")
        workload = Workload(customers, args.records)
        with OtherLoad([]) as load:
            figures = asyncio.run(drive(engine, workload, args))
        figures.update(load.figures)
        progress(f"{store}: {figures['records_per_s']:,.0f} records/s; verifying")
        checked = verify(engine, workload)
    target = TARGET_RECORDS_PER_S[store]
    return {
        "store": store, "writer": figures, "baseline": base, "verification": checked,
        "ratio_to_baseline": ratio(figures["records_per_s"], base["rows_per_s"]),
        "target_records_per_s": target, "meets_target": figures["records_per_s"] >= target,
    }


# --- output -------------------------------------------------------------------------------


def print_result(result: dict) -> None:
    writer, base, checked = result["writer"], result["baseline"], result["verification"]
    print(f"\n== {result['store']} ==")
    print(f"  records admitted+finalized : {writer['records']:,} in {writer['elapsed_s']:.2f} s")
    print(f"  records/s                  : {writer['records_per_s']:,.0f}   (target {result['target_records_per_s']:,}: "
          f"{'met' if result['meets_target'] else 'MISSED'})")
    print(f"  batches written            : {writer['batches_written']:,}   mean batch {writer['mean_batch_operations']:.1f} "
          f"operations (admits+finalizes)")
    print(f"  admit latency p50 / p99    : {writer['admit_latency_ms_p50']:.1f} / {writer['admit_latency_ms_p99']:.1f} ms")
    print(f"  bench process CPU / record : {writer['bench_process_cpu_us_per_record']:.0f} us")
    print(f"  baseline executemany rows/s: {base['rows_per_s']:,.0f}")
    print(f"  ratio records/s / baseline : {result['ratio_to_baseline']:.3f}")
    for name, ok in checked["checks"].items():
        print(f"  check {name:<28}: {'ok' if ok else 'FAILED'}")
    print(f"  ledger: {checked['ledger_entries']:,} entries, {checked['ledger_postings']:,} postings; "
          f"charges {checked['charge_total_nanos']:,} nanos (expected {checked['expected_charge_nanos']:,})")
    for label, figures in (("writer", writer), ("baseline", base)):
        if figures.get("machine_other_cpu_share", 0.0) > OTHER_CPU_SHARE_WARN:
            note = " (includes the PostgreSQL server)" if result["store"] == "postgres" else ""
            print(f"  WARNING: other processes used {figures['machine_other_cpu_share']:.0%} of the CPU "
                  f"during the {label} run{note}")


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="requests per store (default 100000)")
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    parser.add_argument("--batch", type=int, default=512, help="writer batch_records_max, and the baseline batch")
    parser.add_argument("--concurrency", type=int, default=512, help="concurrent producers (default 512)")
    parser.add_argument("--queue", type=int, default=8192, help="writer queue_records_max (default 8192)")
    parser.add_argument("--delay-ms", type=int, default=2, help="writer batch_delay_ms (default 2)")
    parser.add_argument("--customers", type=int, default=8, help="customers, one key each (default 8)")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="server to create the database on")
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="wait at most S for a quiet machine")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_uvloop()
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    share = wait_for_quiet(args.quiet_wait)
    if share > OTHER_CPU_SHARE_WARN:
        progress(f"WARNING: the machine stayed busy ({share:.0%} of the CPU used by others); figures are disturbed")
    results = [run_store(store, args) for store in stores]
    parameters = {k: getattr(args, k) for k in ("records", "batch", "concurrency", "queue", "delay_ms", "customers")}
    if args.json:
        print(json.dumps({"parameters": parameters, "cpu_count": os.cpu_count(), "results": results}, indent=2))
    else:
        print(f"parameters: {parameters}, cpus: {os.cpu_count()}")
        for result in results:
            print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
