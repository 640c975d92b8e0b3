"""Benchmark the licensor console's sync: statements verified per second across N hosts.

Usage: python bench/console.py [--hosts N] [--months K] [--records R] [--json] [--quiet-wait S]

Starts N real hosts (`revstream serve` over a fake upstream, each its own home and SQLite
store), each with an agreement for one licensor, K settled months of R imported usage
records and its log; then, for the same statements:

  * baseline: `verify_statement` in this process over every host's statements, one after
    the other, with the host's JSON endpoints and a fresh state: what N × K runs of
    `revstream verify` do, minus the process starts;
  * console: `revstream licensor sync`'s work (`sync_host` for each host, a fresh console
    store): list the host's statements, download each signed note, verify it with the same
    verifier, record the outcome and the evidence.

Figures: statements/s and log entries/s for each, and console / baseline (the console's own
cost: listing, downloads, outcome and audit rows), medians of alternated runs after a
warm-up. No assertions; about two minutes for the defaults. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    Children,
    OtherLoad,
    fake_model_config,
    progress,
    ratio,
    scratch_dir,
    start_fake_upstream,
    start_gateway,
    wait_for_quiet,
)

from revstream.audit import ConsoleHost, TransparencyClient, verify_statement  # noqa: E402
from revstream.cli._licensor_sync import sync_host  # noqa: E402
from revstream.pricing import ModelPrice, parse_price  # noqa: E402
from revstream.settlement import draft_agreement  # noqa: E402
from revstream.store import (  # noqa: E402
    add_agreement,
    add_licensor,
    add_licensor_host,
    create_licensor_token,
    import_usage,
    init_log_key,
    make_engine,
    set_model_licensor,
    set_price,
    settle,
    upgrade,
)

LICENSOR = "Bench Labs"
MODEL = "bench-model"


def _now_us() -> int:
    return time.time_ns() // 1000


def _prepare(home: Path, number: int, months: int, records: int) -> dict:
    """A host's store with `months` settled months; its log key and a licensor token."""
    home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{home / 'revstream.db'}")
    upgrade(engine)
    now = _now_us()
    set_price(engine, ModelPrice(MODEL, "USD", parse_price("0.20"), parse_price("0.60"), date(2025, 1, 1)), now)
    add_licensor(engine, LICENSOR, now)
    set_model_licensor(engine, MODEL, LICENSOR, now)
    add_agreement(engine, draft_agreement(licensor=LICENSOR, models=(MODEL,), currency="USD",
                                          effective_from=date(2025, 1, 1), share_bps=1500), now)
    vkey = init_log_key(engine, f"host{number}.bench/log", now)
    token = create_licensor_token(engine, LICENSOR, now)[0]
    for month in range(1, months + 1):
        period = f"2025-{month:02d}"
        lines = [json.dumps({"request_id": f"h{number}-{period}-{n}", "time": f"{period}-{n % 28 + 1:02d}T10:00:00Z",
                             "customer": f"c{n % 50}", "model": MODEL, "tokens_prompt": 1000 + n,
                             "tokens_completion": 200, "status": "ok"}).encode() + b"\n" for n in range(records)]
        import_usage(engine, lambda lines=lines: iter(lines), _now_us())
        settle(engine, period, _now_us())
    engine.dispose()
    return {"vkey": vkey, "token": token}


def _median_run(runs: list[dict]) -> dict:
    ordered = sorted(runs, key=lambda run: run["statements_per_s"])
    return {**ordered[len(ordered) // 2], "runs_statements_per_s": [run["statements_per_s"] for run in runs]}


def _baseline(hosts: list[ConsoleHost], tokens: dict, workdir: Path) -> dict:
    statements = entries = 0
    with OtherLoad([]) as load:
        started = time.perf_counter()
        for host in hosts:
            client = TransparencyClient(host.url, tokens[host.token_env])
            try:
                listed = sorted(client.statements(), key=lambda s: s["period"])
                for summary in listed:
                    note = client.statement_note(summary["statement"])
                    report = verify_statement(note, host.vkey, client, workdir / "baseline" / host.name)
                    if not report.ok:
                        raise SystemExit(f"baseline: {summary['statement']} did not verify: {report.reason}")
                    statements += 1
                    entries += report.entries_checked
            finally:
                client.close()
        elapsed_s = time.perf_counter() - started
    return {"statements": statements, "entries": entries, "seconds": round(elapsed_s, 3),
            "statements_per_s": round(statements / elapsed_s, 2), "entries_per_s": round(entries / elapsed_s),
            **load.figures}


def _console(hosts: list[ConsoleHost], tokens: dict, workdir: Path) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{workdir / 'console.db'}")
    upgrade(engine)
    for host in hosts:
        add_licensor_host(engine, host)
    with OtherLoad([]) as load:
        started = time.perf_counter()
        records = [sync_host(engine, host, workdir / "console", environ=tokens) for host in hosts]
        elapsed_s = time.perf_counter() - started
    engine.dispose()
    verified = sum(record.verified for record in records)
    if any(record.failed or record.unchecked or record.error for record in records):
        raise SystemExit(f"console: not every statement verified: {records}")
    return {"statements": verified, "seconds": round(elapsed_s, 3), "statements_per_s": round(verified / elapsed_s, 2),
            **load.figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=2, help="hosts (each a `revstream serve`)")
    parser.add_argument("--months", type=int, default=6, help="settled months (statements) per host")
    parser.add_argument("--records", type=int, default=2000, help="usage records per month")
    parser.add_argument("--repeats", type=int, default=3, help="alternated runs of each; medians are reported")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quiet-wait", type=float, default=120.0)
    args = parser.parse_args()

    progress("waiting for a quiet machine")
    wait_for_quiet(args.quiet_wait)
    with scratch_dir("revstream-bench-console-") as workdir, Children() as children:
        upstream, _ = start_fake_upstream(children, workdir)
        hosts, tokens = [], {}
        for number in range(args.hosts):
            progress(f"host {number}: {args.months} months of {args.records} records, settled")
            home = workdir / f"host{number}"
            prepared = _prepare(home, number, args.months, args.records)
            url, _, _ = start_gateway(children, home, fake_model_config(upstream))
            tokens[f"HOST{number}_TOKEN"] = prepared["token"]
            hosts.append(ConsoleHost(f"host{number}", url, prepared["vkey"], f"HOST{number}_TOKEN",
                                     created_us=_now_us()))
        progress("warm-up: one verification per host (hosts' caches, this process's imports)")
        _baseline(hosts, tokens, workdir / "warm-up")
        baselines, consoles = [], []
        for repeat in range(args.repeats):  # alternated, medians reported
            progress(f"run {repeat + 1}/{args.repeats}: baseline (verify_statement loop), then console (sync)")
            baselines.append(_baseline(hosts, tokens, workdir / f"run{repeat}"))
            consoles.append(_console(hosts, tokens, workdir / f"run{repeat}"))
        baseline, console = _median_run(baselines), _median_run(consoles)
    console["ratio_to_baseline"] = round(ratio(console["statements_per_s"], baseline["statements_per_s"]), 3)
    console["entries_per_s"] = round(baseline["entries"] / console["seconds"])
    figures = {"hosts": args.hosts, "months": args.months, "records_per_month": args.records,
               "baseline_verify": baseline, "console_sync": console}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"licensor console sync: {args.hosts} hosts x {args.months} statements of {args.records} records")
    for label, figure in (("baseline  verify_statement loop", baseline), ("console   licensor sync", console)):
        warning = "  (machine busy: disturbed)" if figure["machine_other_cpu_share"] > 0.10 else ""
        print(f"  {label:<32} {figure['statements_per_s']:>8.2f} statements/s  {figure['entries_per_s']:>9} "
              f"entries/s{warning}")
    print(f"  console / baseline = {console['ratio_to_baseline']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
