"""Benchmark the in-memory transparency log: appends, proof latency, full verification.

Usage: python bench/transparency.py [--leaves N] [--proofs P] [--json]

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

from revstream.transparency import (
    MerkleTree,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

PROGRESS_EVERY = 1_000_000
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaves", type=int, default=10_000_000)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
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
