"""Settle a month of usage: import N records, then time `settle` on SQLite and PostgreSQL.

Usage: python bench/settlement.py [--records N] [--stores sqlite,postgres]
           [--postgres-url URL] [--json]

For each store (a temporary SQLite file; a fresh PostgreSQL database created on
--postgres-url and dropped afterwards) the benchmark sets prices (with a price change in
the middle of the month), a licensor, two models and two agreements (a flat share and
marginal tiers), then:

* **import**: N usage records of January 2026 as JSON Lines, generated in memory and fed
  through the import path (`revstream.store.import_usage`: the same validation pass,
  rating, batching, bulk insert and ledger booking as `revstream usage import`, without
  the file on disk);
* **baseline**: a bare `SELECT model, COUNT(*), SUM(tokens_prompt), SUM(tokens_completion)
  ... WHERE time_us in the month GROUP BY model` over the same rows: the least any settle
  must read;
* **settle**: `revstream.store.settle(engine, "2026-01", now)`: the close, the grouped
  aggregation per price interval, the statements and the ledger entries.

On PostgreSQL the table is `VACUUM ANALYZE`d after the import (as autovacuum would), so
baseline and settle read a table in its steady state. Prints records/s for import and
settle, and settle's time as a ratio of the baseline's. Target: settle 10 million records
in at most 30 s on each store. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import text  # noqa: E402

from _common import progress, ratio, scratch_store  # noqa: E402
from revstream.pricing import ModelPrice  # noqa: E402
from revstream.settlement import Agreement, parse_tiers  # noqa: E402
from revstream.store import (  # noqa: E402
    add_agreement,
    add_licensor,
    check_ledger,
    import_usage,
    make_engine,
    set_model_licensor,
    set_price,
    settle,
    upgrade,
)

PERIOD = "2026-01"
PERIOD_START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
PERIOD_US = 31 * 86_400_000_000
MODELS = ("llama-a", "llama-b")
CUSTOMERS = 100
SETTLE_TARGET_S = 30.0
POSTGRES_ADMIN_URL = "postgresql://127.0.0.1:5432/test"


def prepare(engine, now_us: int) -> None:
    for model in MODELS:
        set_price(engine, ModelPrice.from_strings(model, "USD", "0.20", "0.60", date(2026, 1, 1)), now_us)
        set_price(engine, ModelPrice.from_strings(model, "USD", "0.25", "0.75", datetime(2026, 1, 16, tzinfo=timezone.utc)), now_us)
    add_licensor(engine, "Llama Labs", now_us)
    for model in MODELS:
        set_model_licensor(engine, model, "Llama Labs", now_us)
    add_agreement(engine, Agreement("Llama Labs", "draft", MODELS[:1], "USD", date(2026, 1, 1), share_bps=1500), now_us)
    add_agreement(engine, Agreement("Llama Labs", "draft", MODELS[1:], "USD", date(2026, 1, 1),
                                    tiers=parse_tiers("0:1000,1000:1500,10000:2000", "USD")), now_us)


def usage_lines(records: int) -> Iterator[bytes]:
    """``records`` JSON lines spread evenly over the month (deterministic)."""
    step_us = PERIOD_US // max(records, 1)
    for index in range(records):
        moment = datetime.fromtimestamp((PERIOD_START_US + index * step_us) / 1_000_000, tz=timezone.utc)
        yield (
            f'{{"request_id":"bench-{index:09d}","time":"{moment.isoformat()}","customer":"c{index % CUSTOMERS}",'
            f'"model":"{MODELS[index % 2]}","tokens_prompt":{20 + index % 1_981},'
            f'"tokens_completion":{1 + index % 1_024},"status":"ok"}}\n'
        ).encode()


def baseline(engine) -> float:
    started = time.perf_counter()
    with engine.connect() as connection:
        connection.execute(text(
            "SELECT model, COUNT(*), SUM(tokens_prompt), SUM(tokens_completion) FROM usage_records "
            "WHERE time_us >= :start AND time_us < :end GROUP BY model"
        ), {"start": PERIOD_START_US, "end": PERIOD_START_US + PERIOD_US}).all()
    return time.perf_counter() - started


def run_store(store: str, url: str, records: int) -> dict:
    engine = make_engine(url)
    try:
        upgrade(engine)
        now_us = time.time_ns() // 1000
        prepare(engine, now_us)
        progress(f"{store}: importing {records} records")
        started = time.perf_counter()
        report = import_usage(engine, lambda: usage_lines(records), now_us)
        import_s = time.perf_counter() - started
        if store == "postgres":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE usage_records")
        else:
            with engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
        baseline_s = baseline(engine)
        progress(f"{store}: imported in {import_s:.1f} s; baseline scan {baseline_s:.2f} s; settling")
        started = time.perf_counter()
        statements = settle(engine, PERIOD, now_us)
        settle_s = time.perf_counter() - started
        settled = sum(s.json()["usage"]["records"] for s in statements)
        return {
            "store": store, "records": records, "imported": report.imported, "settled_records": settled,
            "import_s": round(import_s, 2), "import_records_per_s": round(records / import_s),
            "baseline_scan_s": round(baseline_s, 3), "settle_s": round(settle_s, 3),
            "settle_records_per_s": round(records / settle_s), "settle_vs_baseline": round(ratio(settle_s, baseline_s), 2),
            "settle_target_s": SETTLE_TARGET_S, "ledger_ok": check_ledger(engine).ok,
            "share_total_minor": [s.share_total_minor for s in statements],
        }
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for store in args.stores.split(","):
        with scratch_store(store, args.postgres_url) as url:
            results.append(run_store(store, url, args.records))
    if args.json:
        print(json.dumps({"benchmark": "settlement", "results": results}, indent=2))
        return 0
    for r in results:
        print(f"{r['store']:8} {r['records']:>11,} records  import {r['import_s']:8.1f} s ({r['import_records_per_s']:,}/s)"
              f"  settle {r['settle_s']:7.2f} s ({r['settle_records_per_s']:,}/s)  baseline scan {r['baseline_scan_s']:.2f} s"
              f"  settle/baseline {r['settle_vs_baseline']}  target <= {SETTLE_TARGET_S:.0f} s  ledger ok {r['ledger_ok']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
