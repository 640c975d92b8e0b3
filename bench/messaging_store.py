"""Messages quoted, held, delivered and booked per second through the store, on SQLite and
PostgreSQL, against the metering benchmark's record rate in the same run.

Usage: python bench/messaging_store.py [--messages N] [--single M] [--batch B] [--records R]
           [--stores sqlite,postgres] [--postgres-url URL] [--quiet-wait S] [--json]

For each store: one business with prepaid credit, a whatsapp channel, 64 contacts with
opt-ins, a marketing and a utility template, the scenario rate card. Then, on a fresh store
each:

* batched (the path the HTTP routes and webhooks feed): N messages in batches of B:
  `send_messages` (quote, hold in the ledger and budgets, the message rows, the
  conversations' windows; one transaction per batch), `set_platform_ids` (one statement) and
  `apply_statuses(delivered)` (the charges and platform costs booked, the tiers counted;
  one transaction per batch);
* one at a time: M messages, each `send_message`, `set_platform_id`, `apply_statuses` of
  one status (three transactions a message: what the store did before batching).

Messages/s counts send and delivery together. Afterwards `check_ledger` must pass. The
baseline is `bench/metering.py`'s records/s (UsageWriter, batched admit+finalize) on the
same store with R records. The issue's target: >= 10,000 messages/s on SQLite. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import metering
from _common import OtherLoad, progress, ratio, scratch_store, wait_for_quiet
from revstream.messaging import StatusUpdate, parse_rate_card_csv
from revstream.store import (
    SEND_BATCH_MAX,
    SendRequest,
    add_channel,
    add_contact,
    add_credit,
    add_template,
    apply_statuses,
    check_ledger,
    customer_balance,
    import_rate_card,
    make_engine,
    record_opt_in,
    send_message,
    send_messages,
    set_platform_id,
    set_platform_ids,
    upgrade,
)

RATE_CARD = Path(__file__).resolve().parent.parent / "tests" / "messaging" / "fixtures" / "ratecard_scenarios.csv"
START_US = 1_752_138_000_000_000  # 2025-07-10T09:00:00Z, inside the card's validity
CONTACTS = 64
TARGET_MESSAGES_PER_S = 10_000


def prepare(engine) -> tuple[str, str, list[str]]:
    add_credit(engine, "acme", 10**15, "USD", START_US)
    channel = add_channel(engine, "acme", "whatsapp", START_US, phone_number_id="1234567", app_secret_env="SECRET",
                          market="IN", country="GB")["channel_id"]
    import_rate_card(engine, parse_rate_card_csv(RATE_CARD.read_text()), START_US)
    contacts = [f"+9198000{i:05d}" for i in range(CONTACTS)]
    for address in contacts:
        add_contact(engine, channel, address, "IN", START_US)
        for scope in ("messaging", "marketing"):
            record_opt_in(engine, channel, address, scope, True, START_US - 1)
    add_template(engine, "acme", "spring_sale", "en_US", "marketing", "Sale {{1}}", START_US - 1, "approved")
    add_template(engine, "acme", "order_update", "en_US", "utility", "Order {{1}}", START_US - 1, "approved")
    return customer_balance(engine, "acme").customer_id, channel, contacts


def _request(customer_id: str, channel: str, contacts: list[str], index: int) -> SendRequest:
    template = "spring_sale" if index % 2 else "order_update"
    return SendRequest(customer_id, channel, contacts[index % CONTACTS], START_US + index, "model",
                       template=template, parameters=(str(index),))


def _figures(engine, count: int, started: float) -> dict:
    elapsed = time.perf_counter() - started
    return {"messages": count, "elapsed_s": elapsed, "messages_per_s": count / elapsed,
            "ledger_ok": check_ledger(engine).ok}


def drive_single(engine, count: int) -> dict:
    customer_id, channel, contacts = prepare(engine)
    started = time.perf_counter()
    for index in range(count):
        at_us = START_US + index
        sent = send_message(engine, _request(customer_id, channel, contacts, index))
        platform_id = "wamid." + sent.message["id"]
        set_platform_id(engine, sent.message["id"], platform_id)
        apply_statuses(engine, channel, (StatusUpdate(platform_id, "1234567", "delivered", at_us + 1),), at_us + 2)
    return _figures(engine, count, started)


def drive_batched(engine, count: int, batch: int) -> dict:
    customer_id, channel, contacts = prepare(engine)
    started = time.perf_counter()
    for first in range(0, count, batch):
        indexes = range(first, min(first + batch, count))
        now_us = START_US + indexes[-1]
        outcomes = send_messages(engine, [_request(customer_id, channel, contacts, i) for i in indexes], now_us)
        refused = [o for o in outcomes if isinstance(o, Exception)]
        if refused:
            raise SystemExit(f"a send was refused: {refused[0]}")
        ids = [(o.message["id"], "wamid." + o.message["id"]) for o in outcomes]
        set_platform_ids(engine, ids)
        apply_statuses(engine, channel, tuple(StatusUpdate(platform_id, "1234567", "delivered", now_us + 1)
                                              for _, platform_id in ids), now_us + 2)
        if first and first % (20 * batch) == 0:
            progress(f"  {first:,} messages, {first / (time.perf_counter() - started):,.0f}/s")
    return _figures(engine, count, started)


def _on_fresh_store(store: str, args, drive, *arguments) -> dict:
    with scratch_store(store, args.postgres_url) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            with OtherLoad([]) as load:
                figures = drive(engine, *arguments)
            figures.update(load.figures)
        finally:
            engine.dispose()
    return figures


def run_store(store: str, args) -> dict:
    progress(f"{store}: {args.messages:,} messages sent and delivered in batches of {args.batch}")
    batched = _on_fresh_store(store, args, drive_batched, args.messages, args.batch)
    progress(f"{store}: {args.single:,} messages sent and delivered one at a time")
    single = _on_fresh_store(store, args, drive_single, args.single) if args.single else None
    progress(f"{store}: metering baseline, {args.records:,} records")
    base = metering.run_store(store, metering.parse_args(["--records", str(args.records), "--postgres-url",
                                                            args.postgres_url]))
    records_per_s = base["writer"]["records_per_s"]
    return {"store": store, "messaging": batched, "one_at_a_time": single, "batch": args.batch,
            "metering_records_per_s": records_per_s,
            "ratio_to_metering": ratio(batched["messages_per_s"], records_per_s),
            "target_messages_per_s": TARGET_MESSAGES_PER_S if store == "sqlite" else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages sent in batches per store (default 20000)")
    parser.add_argument("--single", type=int, default=500, help="messages sent one at a time per store (default 500; 0: none)")
    parser.add_argument("--batch", type=int, default=SEND_BATCH_MAX,
                        help=f"messages per batch (default {SEND_BATCH_MAX}, the store's bound)")
    parser.add_argument("--records", type=int, default=20_000, help="metering baseline records (default 20000)")
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    parser.add_argument("--postgres-url", default=metering.POSTGRES_ADMIN_URL, help="server to create databases on")
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="wait at most S for a quiet machine")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    wait_for_quiet(args.quiet_wait)
    results = [run_store(store.strip(), args) for store in args.stores.split(",") if store.strip()]
    if args.json:
        print(json.dumps({"benchmark": "messaging_store", "results": results}, indent=2))
        return 0
    for result in results:
        figures = result["messaging"]
        print(f"\n== {result['store']} ==")
        print(f"  messages sent+delivered : {figures['messages']:,} in {figures['elapsed_s']:.2f} s "
              f"(batches of {result['batch']})")
        print(f"  messages/s              : {figures['messages_per_s']:,.0f}"
              + (f"   (target {result['target_messages_per_s']:,})" if result["target_messages_per_s"] else ""))
        if result["one_at_a_time"]:
            single = result["one_at_a_time"]
            print(f"  one at a time           : {single['messages_per_s']:,.0f}/s ({single['messages']:,} messages, "
                  f"ledger {'ok' if single['ledger_ok'] else 'FAILED'})")
        print(f"  metering records/s      : {result['metering_records_per_s']:,.0f}")
        print(f"  ratio                   : {result['ratio_to_metering']:.3f}")
        print(f"  ledger check            : {'ok' if figures['ledger_ok'] else 'FAILED'}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
