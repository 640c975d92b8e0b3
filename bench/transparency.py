"""Benchmark the in-memory transparency log: appends, proof latency, full verification.

Usage: python bench/transparency.py [--leaves N] [--proofs P] [--json]
       python bench/transparency.py --store sqlite|postgres [--leaves N] [--proofs P] [--json]
       python bench/transparency.py --stored-proofs sqlite|postgres [--leaves N] [--proofs P] [--json]
       python bench/transparency.py --verify-statement [--leaves N] [--http-records M] [--json]

--stored-proofs: the subtree hashes of an N-leaf log are written to a scratch store as the
appender stores them (no records), then inclusion and consistency proofs are read from it,
against the in-memory tree's latency as baseline.
--verify-statement: `revstream verify`'s whole work for an honest signed statement of N
entries (signatures, consistency, prefix + CompactRange fold, parse and tally every entry,
recompute and compare), over an in-memory log, against hashing the same leaves alone; then
the same verification of a real statement of M entries settled by a real host and read
from a running `revstream serve` over HTTP, extrapolated linearly to N entries (printed as such).

With --store, the stored log instead: N final usage records are written to a scratch
store, then appended by `append_log` (the gateway's appender, batch by batch, signing a
checkpoint every 10,000 records); figures are appends/s (against the in-memory tree
as baseline) and proof latencies from the stored subtree hashes.

Prints figures (no assertions). Each figure is set against a baseline measured
in the same run, so ratios stay comparable across machines:
  * appends/s vs raw hashlib.sha256 over the same leaf data;
  * verifying N entries (hash every leaf, recompute the root) vs the same baseline.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _audit_bench import http_verify, stored_proofs, verify_entries  # noqa: E402
from _common import scratch_dir, scratch_store  # noqa: E402
from revstream.store import (  # noqa: E402
    LOG_APPEND_BATCH_MAX,
    CheckpointPolicy,
    append_log,
    consistency_hashes,
    inclusion_hashes,
    init_log_key,
    make_engine,
    upgrade,
)
from revstream.store._schema import usage_records  # noqa: E402
from revstream.transparency import (  # noqa: E402
    MerkleTree,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

PROGRESS_EVERY = 1_000_000
STORE_INSERT_BATCH = 10_000
STORE_CHECKPOINT_RECORDS = 10_000
POSTGRES_ADMIN_URL = "postgresql://127.0.0.1:5432/test"
_LEAF_FORMAT = (
    b'{"charge_nanos":%d,"index":%d,"model":"llama-3.1-8b","status":"ok",'
    b'"tokens_completion":211,"tokens_prompt":%d}'
)


def _leaf(index: int) -> bytes:
    """A realistic ~120-byte leaf, shaped like the canonical JSON of a usage record projection."""
    return _LEAF_FORMAT % (index * 7, index, index % 4096)


def _leaves(count: int, label: str) -> Iterator[bytes]:
    for index in range(count):
        if index and index % PROGRESS_EVERY == 0:
            print(f"  {label}: {index:,}", file=sys.stderr, flush=True)
        yield _leaf(index)


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _baseline_seconds(count: int) -> float:
    sha256 = hashlib.sha256
    start = time.perf_counter()
    for data in _leaves(count, "baseline sha256"):
        sha256(data).digest()
    return time.perf_counter() - start


def _proof_latencies(tree: MerkleTree, proofs: int, rng: random.Random) -> dict[str, float]:
    size = tree.size
    root = tree.root()
    inclusion, consistency, verify = [], [], []
    for _ in range(proofs):
        index = rng.randrange(size)
        start = time.perf_counter()
        proof = tree.inclusion_proof(index, size)
        inclusion.append(time.perf_counter() - start)
        start = time.perf_counter()
        verify_inclusion(leaf_hash(_leaf(index)), index, size, proof, root)
        verify.append(time.perf_counter() - start)
        old = rng.randrange(1, size + 1)
        start = time.perf_counter()
        proof = tree.consistency_proof(old, size)
        consistency.append(time.perf_counter() - start)
        verify_consistency(old, size, proof, tree.root(old), root)
    to_ms = 1000.0
    return {
        "inclusion_ms_p50": _percentile(inclusion, 0.5) * to_ms,
        "inclusion_ms_p99": _percentile(inclusion, 0.99) * to_ms,
        "consistency_ms_p50": _percentile(consistency, 0.5) * to_ms,
        "consistency_ms_p99": _percentile(consistency, 0.99) * to_ms,
        "verify_inclusion_ms_p50": _percentile(verify, 0.5) * to_ms,
    }


def run(leaves: int, proofs: int) -> dict[str, float]:
    """Measure everything for a tree of ``leaves`` entries; return the figures."""
    print("baseline: raw sha256 over the leaf data", file=sys.stderr)
    baseline_s = _baseline_seconds(leaves)

    print("building the in-memory tree", file=sys.stderr)
    tree = MerkleTree()
    start = time.perf_counter()
    tree.extend(_leaves(leaves, "appended"))
    build_s = time.perf_counter() - start
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print("proof latencies", file=sys.stderr)
    figures = _proof_latencies(tree, proofs, random.Random(6962))

    print("verifying all entries (hash every leaf, recompute the root)", file=sys.stderr)
    start = time.perf_counter()
    recomputed = root_hash(_leaves(leaves, "verified"))
    verify_s = time.perf_counter() - start
    if recomputed != tree.root():
        raise RuntimeError("recomputed root differs from the tree's root")

    figures.update({
        "leaves": leaves,
        "baseline_sha256_per_s": leaves / baseline_s,
        "appends_per_s": leaves / build_s,
        "append_vs_baseline_ratio": baseline_s / build_s,
        "build_s": build_s,
        "verify_all_s": verify_s,
        "verify_vs_baseline_ratio": baseline_s / verify_s,
        "max_rss_mb": max_rss_mb,
    })
    return figures


def _insert_records(engine, count: int) -> None:
    for begin in range(0, count, STORE_INSERT_BATCH):
        rows = [dict(
            request_id=f"req_{n:024x}", time_us=1_780_000_000_000_000 + n, finalized_us=1_780_000_000_000_000 + n,
            customer_id=f"cus_{n % 97}", key_id="key_bench", model="llama-3.1-8b", backend="openai",
            endpoint="chat", status="ok", tokens_prompt=n % 4096, tokens_completion=211, usage_source="backend",
            worker_id="wrk_bench", charge_nanos=n * 7, currency="USD",
        ) for n in range(begin, min(count, begin + STORE_INSERT_BATCH))]
        with engine.begin() as connection:
            connection.execute(usage_records.insert(), rows)


def run_store(store: str, records: int, proofs: int, postgres_url: str) -> dict[str, float]:
    """Append ``records`` stored usage records with the gateway's appender; time it and the proofs."""
    with scratch_store(store, postgres_url) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            init_log_key(engine, "bench.example/log")
            print(f"writing {records:,} final usage records", file=sys.stderr)
            _insert_records(engine, records)
            if store == "postgres":  # as autovacuum would after a bulk insert: the planner needs the statistics
                with engine.begin() as connection:
                    connection.exec_driver_sql("ANALYZE usage_records")
            policy = CheckpointPolicy(interval_us=60_000_000, records=STORE_CHECKPOINT_RECORDS)
            print("baseline: the same number of leaves into the in-memory tree", file=sys.stderr)
            start = time.perf_counter()
            MerkleTree().extend(_leaves(records, "in memory"))
            baseline_s = time.perf_counter() - start
            print("appending them to the stored log", file=sys.stderr)
            start = time.perf_counter()
            size, look_first = 0, True
            while size < records:  # as the gateway's appender runs: no idle look while catching up
                result = append_log(engine, policy, int(time.time() * 1e6), look_first=look_first)
                size, look_first = result.size, result.appended < LOG_APPEND_BATCH_MAX
            append_s = time.perf_counter() - start
            rng = random.Random(6962)
            inclusion, consistency = [], []
            for _ in range(proofs):
                index = rng.randrange(size)
                begin = time.perf_counter()
                inclusion_hashes(engine, index, size)
                inclusion.append(time.perf_counter() - begin)
                begin = time.perf_counter()
                consistency_hashes(engine, rng.randrange(1, size + 1), size)
                consistency.append(time.perf_counter() - begin)
        finally:
            engine.dispose()
    return {
        "store": store,
        "leaves": records,
        "appends_per_s": records / append_s,
        "append_s": append_s,
        "baseline_in_memory_appends_per_s": records / baseline_s,
        "append_vs_in_memory_ratio": baseline_s / append_s,
        "inclusion_ms_p50": _percentile(inclusion, 0.5) * 1000,
        "inclusion_ms_p99": _percentile(inclusion, 0.99) * 1000,
        "consistency_ms_p50": _percentile(consistency, 0.5) * 1000,
        "consistency_ms_p99": _percentile(consistency, 0.99) * 1000,
    }


def _main_store(args) -> None:
    figures = run_store(args.store, args.leaves, args.proofs, args.postgres_url)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"store                       {figures['store']}")
    print(f"leaves                      {figures['leaves']:,}")
    print(f"appends (in-memory tree)    {figures['baseline_in_memory_appends_per_s']:,.0f} /s  (baseline)")
    print(f"appends (stored log)        {figures['appends_per_s']:,.0f} /s  ({figures['append_s']:.2f} s, "
          f"{figures['append_vs_in_memory_ratio']:.3f}x baseline)")
    print(f"inclusion proof             p50 {figures['inclusion_ms_p50']:.3f} ms  p99 {figures['inclusion_ms_p99']:.3f} ms")
    print(f"consistency proof           p50 {figures['consistency_ms_p50']:.3f} ms  p99 {figures['consistency_ms_p99']:.3f} ms")


def _print(figures: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    for name, value in figures.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else (f"{value:,}" if isinstance(value, int) else value)
        print(f"{name:<40}{shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaves", type=int, default=10_000_000)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--store", choices=("sqlite", "postgres"), help="benchmark the stored log instead")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="admin URL for --store postgres")
    parser.add_argument("--stored-proofs", choices=("sqlite", "postgres"), help="proof latency from a stored log")
    parser.add_argument("--verify-statement", action="store_true", help="time verifying a statement of N entries")
    parser.add_argument("--http-records", type=int, default=200_000,
                        help="with --verify-statement: entries read over HTTP from a real host (0: skip)")
    args = parser.parse_args()
    if args.stored_proofs:
        _print(stored_proofs(args.stored_proofs, args.leaves, args.proofs, args.postgres_url), args.json)
        return
    if args.verify_statement:
        figures = verify_entries(args.leaves)
        if args.http_records:
            with scratch_dir("revstream-bench-http-") as workdir:
                figures.update(http_verify(args.http_records, _insert_records, workdir))
            figures["extrapolated_http_verify_s_at_leaves"] = args.leaves / figures["http_entries_per_s"]
        _print(figures, args.json)
        return
    if args.store:
        _main_store(args)
        return
    figures = run(args.leaves, args.proofs)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"leaves                      {figures['leaves']:,}")
    print(f"baseline raw sha256         {figures['baseline_sha256_per_s']:,.0f} /s")
    print(f"appends (in-memory tree)    {figures['appends_per_s']:,.0f} /s  "
          f"({figures['append_vs_baseline_ratio']:.2f}x baseline)")
    print(f"inclusion proof             p50 {figures['inclusion_ms_p50']:.3f} ms  p99 {figures['inclusion_ms_p99']:.3f} ms")
    print(f"consistency proof           p50 {figures['consistency_ms_p50']:.3f} ms  p99 {figures['consistency_ms_p99']:.3f} ms")
    print(f"verify one inclusion proof  p50 {figures['verify_inclusion_ms_p50']:.3f} ms")
    print(f"verify all entries          {figures['verify_all_s']:.1f} s  "
          f"({figures['verify_vs_baseline_ratio']:.2f}x baseline)")
    print(f"peak RSS                    {figures['max_rss_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
