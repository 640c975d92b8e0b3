"""The recitation registry's costs: index build and memory, lookups, and the guard per token.

Usage: python bench/recitation.py [--windows N] [--no-model] [--json]

* Index: N random windows (default 10 million) over 10,000 works are built into a
  `WindowIndex` (sort), written to a scratch file and mapped back. Reported: build rate,
  resident memory per million windows while building (the peak, with the sort's scratch)
  and once built, file bytes per million windows, the time to map the file, and the
  figures extrapolated to 100 million windows (n log n for the build).
* Fingerprinting: words/s and windows/s of `fingerprint_text` on 400,000 words of prose.
* Lookups: 1,000,000 window hashes (half of them in the index) looked up in the mapped
  file, vectorized (`contains_many`) and one by one (`lookup`, what the guard does per
  word). Target (issue 16): at least 1,000,000 windows/s.
* Guard: 50,000 token-sized pieces of neutral prose fed through `Guard.feed` with the
  mapped index and 120 registered works, against the same-run baseline of the raw token
  loop (appending each piece to the response).
* Model (unless --no-model): SmolLM2 through llama-cpp-python, greedy, 128 tokens, one
  thread, with and without the guard on each decoded token, runs alternating; the ratio
  of tokens/s. Target (issue 16): the guarded run keeps at least 95%.

Each figure is printed with its ratio to the baseline or the target; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from _common import OTHER_CPU_SHARE_WARN, OtherLoad, progress, ratio, scratch_dir, wait_for_quiet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "recitation"))
import recitation_fixtures as fixtures  # noqa: E402  (the committed fixture set)

from revstream.recitation import (  # noqa: E402
    Catalog,
    FingerprintKey,
    Guard,
    WindowIndex,
    fingerprint_text,
    new_work,
)

LOOKUPS = 1_000_000
SINGLE_LOOKUPS = 200_000
GUARD_TOKENS = 50_000
FINGERPRINT_WORDS = 400_000
WORKS = 10_000
MODEL_TOKENS = 128
MODEL_RUNS = 3
LOOKUPS_PER_S_TARGET = 1_000_000
TOKENS_RATIO_TARGET = 0.95
EXTRAPOLATE_WINDOWS = 100_000_000
KEY = FingerprintKey(b"bench-recitation-fingerprint-key", 16)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_index(windows: int, workdir: Path) -> tuple[dict, WindowIndex, np.ndarray]:
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 2**64, size=windows, dtype=np.uint64)
    works = rng.integers(1, WORKS + 1, size=windows, dtype=np.int64)
    before, peak_before = rss_bytes(), peak_rss_bytes()
    started = time.perf_counter()
    index = WindowIndex.build(hashes, works, KEY.window_words, KEY.key_id)
    build_s = time.perf_counter() - started
    built_rss = rss_bytes() - before
    peak = max(0, peak_rss_bytes() - max(before, peak_before))
    path = workdir / "bench.rwi"
    started = time.perf_counter()
    index.write(path)
    write_s = time.perf_counter() - started
    del index
    started = time.perf_counter()
    mapped = WindowIndex.open(path)
    open_ms = (time.perf_counter() - started) * 1000
    size = path.stat().st_size
    per_million = 1_000_000 / windows
    scale = EXTRAPOLATE_WINDOWS / windows * math.log(EXTRAPOLATE_WINDOWS) / math.log(windows)
    return {
        "windows": windows, "build_s": build_s, "build_windows_per_s": windows / build_s, "write_s": write_s,
        "file_bytes": size, "file_bytes_per_million_windows": size * per_million,
        "rss_bytes_per_million_windows_built": built_rss * per_million,
        "rss_peak_bytes_per_million_windows_building": (peak or built_rss) * per_million,
        "open_ms": open_ms,
        "extrapolated_100m": {"file_bytes": 64 + 12 * EXTRAPOLATE_WINDOWS, "build_s": build_s * scale,
                              "rss_peak_bytes": (peak or built_rss) * EXTRAPOLATE_WINDOWS / windows},
    }, mapped, hashes


def bench_fingerprint() -> dict:
    text = " ".join(fixtures.work_text(n) for n in range(1, 1000))
    words_count = len(text.split())
    while words_count < FINGERPRINT_WORDS:
        text, words_count = text + " " + text, words_count * 2
    started = time.perf_counter()
    fingerprint = fingerprint_text(text, KEY)
    elapsed = time.perf_counter() - started
    return {"words": fingerprint.words, "windows": len(fingerprint.hashes), "seconds": elapsed,
            "words_per_s": fingerprint.words / elapsed, "windows_per_s": fingerprint.words / KEY.window_words / elapsed}


def bench_lookups(index: WindowIndex, present: np.ndarray) -> dict:
    rng = np.random.default_rng(2)
    queries = np.concatenate([rng.choice(present, LOOKUPS // 2), rng.integers(0, 2**64, LOOKUPS // 2, dtype=np.uint64)])
    rng.shuffle(queries)
    started = time.perf_counter()
    found = index.contains_many(queries)
    batch_s = time.perf_counter() - started
    singles = queries[:SINGLE_LOOKUPS].tolist()
    started = time.perf_counter()
    hits = sum(1 for h in singles if index.lookup(h))
    single_s = time.perf_counter() - started
    return {"batch_lookups_per_s": LOOKUPS / batch_s, "batch_hit_share": float(found.mean()),
            "single_lookups_per_s": SINGLE_LOOKUPS / single_s, "single_lookup_us": single_s / SINGLE_LOOKUPS * 1e6,
            "single_hit_share": hits / SINGLE_LOOKUPS,
            "batch_ratio_to_target": LOOKUPS / batch_s / LOOKUPS_PER_S_TARGET,
            "single_ratio_to_target": SINGLE_LOOKUPS / single_s / LOOKUPS_PER_S_TARGET}


def fixture_catalog(extra: WindowIndex | None) -> Catalog:
    works = fixtures.read_works()
    indexes = [WindowIndex.build([h for w in works for h in fingerprint_text(w["text"], KEY).hashes],
                                 [w["number"] for w in works for _ in fingerprint_text(w["text"], KEY).hashes],
                                 KEY.window_words, KEY.key_id)]
    if extra is not None:
        indexes.append(extra)
    registered = [new_work(w["number"], w["work_id"], w["title"], w["holder_id"], w["holder"], window_words=16,
                           mode=w["mode"]) for w in works]
    return Catalog(KEY, indexes, registered)


def neutral_tokens(count: int) -> list[str]:
    text = " ".join(fixtures.neutral_answer(p) for p in fixtures.read_prompts())
    pieces = re.findall(r"\s*\S{1,4}", text)
    return (pieces * (count // len(pieces) + 1))[:count]


def bench_guard(catalog: Catalog) -> dict:
    tokens = neutral_tokens(GUARD_TOKENS)
    baseline, guarded = [], []
    for _ in range(3):  # alternate, keep the medians
        started = time.perf_counter()
        sent = []
        for token in tokens:
            sent.append(token)
        baseline.append((time.perf_counter() - started) / len(tokens))
        started = time.perf_counter()
        guard, sent = Guard(catalog), []
        for token in tokens:
            emit = guard.feed(token)
            if emit.stop:
                raise RuntimeError("a neutral text was stopped")
            sent.append(emit.text)
        sent.append(guard.finish().text)
        guarded.append((time.perf_counter() - started) / len(tokens))
        if "".join(sent) != "".join(tokens):
            raise RuntimeError("the guard changed a neutral text")
    base_us, guard_us = statistics.median(baseline) * 1e6, statistics.median(guarded) * 1e6
    return {"tokens": len(tokens), "baseline_us_per_token": base_us, "guard_us_per_token": guard_us,
            "guard_added_us_per_token": guard_us - base_us, "guard_over_baseline": ratio(guard_us, base_us)}


def bench_model(catalog: Catalog) -> dict:
    import codecs

    import llama_cpp

    from revstream.backends import embedded_gguf_path

    llama = llama_cpp.Llama(model_path=str(embedded_gguf_path()), n_ctx=2048, n_threads=1, verbose=False)
    prompt = llama.tokenize(b"The history of the lighthouse keepers of the northern coast", add_bos=True)

    def run(guarded: bool) -> float:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        guard = Guard(catalog) if guarded else None
        llama.set_seed(1234)
        started, count = time.perf_counter(), 0
        for token in llama.generate(prompt, top_k=0, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
            text = decoder.decode(llama.detokenize([token]))
            if guard is not None:
                guard.feed(text)
            count += 1
            if count >= MODEL_TOKENS:
                break
        if guard is not None:
            guard.finish()
        return count / (time.perf_counter() - started)

    run(False), run(True)  # warm-up
    plain, guarded = [], []
    for _ in range(MODEL_RUNS):
        plain.append(run(False))
        guarded.append(run(True))
    plain_tps, guarded_tps = statistics.median(plain), statistics.median(guarded)
    return {"tokens": MODEL_TOKENS, "runs": MODEL_RUNS, "plain_tokens_per_s": plain_tps,
            "guarded_tokens_per_s": guarded_tps, "guarded_over_plain": ratio(guarded_tps, plain_tps),
            "target_met": ratio(guarded_tps, plain_tps) >= TOKENS_RATIO_TARGET}


def disturbed(figures: dict) -> list[str]:
    return [name for name, section in figures.items()
            if section.get("machine_other_cpu_share", 0.0) > OTHER_CPU_SHARE_WARN]


def print_human(figures: dict) -> None:
    index, lookups, guard, fp = figures["index"], figures["lookups"], figures["guard"], figures["fingerprint"]
    mib = 1024 * 1024
    print(f"index of {index['windows']:,} windows (16-word windows, 12 bytes each on disk)")
    print(f"  build (sort)               {index['build_windows_per_s'] / 1e6:8.2f} M windows/s  ({index['build_s']:.2f} s)")
    print(f"  file                       {index['file_bytes_per_million_windows'] / mib:8.2f} MiB per million windows")
    print(f"  memory once built          {index['rss_bytes_per_million_windows_built'] / mib:8.2f} MiB per million windows")
    print(f"  memory peak while building {index['rss_peak_bytes_per_million_windows_building'] / mib:8.2f} MiB per million windows")
    print(f"  map the file at start      {index['open_ms']:8.2f} ms")
    extra = index["extrapolated_100m"]
    print(f"  100 million windows (extrapolated): file {extra['file_bytes'] / 1024**3:.2f} GiB, build "
          f"~{extra['build_s']:.0f} s, peak memory ~{extra['rss_peak_bytes'] / 1024**3:.1f} GiB")
    print(f"fingerprinting: {fp['words_per_s'] / 1e6:.2f} M words/s ({fp['windows_per_s'] / 1e3:.0f} k windows/s) "
          f"on {fp['words']:,} words")
    print(f"lookups in the mapped file (half present)")
    print(f"  vectorized                 {lookups['batch_lookups_per_s'] / 1e6:8.2f} M/s   "
          f"(target 1 M/s: x{lookups['batch_ratio_to_target']:.2f})")
    print(f"  one by one (the guard)     {lookups['single_lookups_per_s'] / 1e6:8.2f} M/s   "
          f"(target 1 M/s: x{lookups['single_ratio_to_target']:.2f}; {lookups['single_lookup_us']:.2f} us each)")
    print(f"guard on {guard['tokens']:,} token-sized pieces (120 works + the index above)")
    print(f"  raw token loop             {guard['baseline_us_per_token']:8.3f} us/token")
    print(f"  guarded                    {guard['guard_us_per_token']:8.3f} us/token  "
          f"(x{guard['guard_over_baseline']:.0f} the raw loop; +{guard['guard_added_us_per_token']:.2f} us/token)")
    model = figures.get("model")
    if model:
        verdict = "meets" if model["target_met"] else "MISSES"
        print(f"SmolLM2-135M, {model['tokens']} greedy tokens, 1 thread, medians of {model['runs']} runs")
        print(f"  plain {model['plain_tokens_per_s']:.1f} tokens/s, guarded {model['guarded_tokens_per_s']:.1f} tokens/s: "
              f"ratio {model['guarded_over_plain']:.3f} (target >= {TOKENS_RATIO_TARGET}: {verdict})")
    noisy = disturbed(figures)
    if noisy:
        print(f"WARNING: other processes used more than {OTHER_CPU_SHARE_WARN:.0%} of the machine's CPU during: "
              f"{', '.join(noisy)}; those figures are disturbed (see machine_other_cpu_share in the JSON)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=10_000_000, help="windows in the index (default 10 million)")
    parser.add_argument("--no-model", action="store_true", help="skip the run of the embedded model")
    parser.add_argument("--quiet-wait", type=float, default=60.0,
                        help="seconds to wait at most for other work on the machine to calm down first (default 60)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures: dict = {}
    wait_for_quiet(args.quiet_wait)
    with scratch_dir("revstream-bench-recitation-") as workdir:
        progress(f"building an index of {args.windows:,} windows")
        with OtherLoad([]) as load:
            figures["index"], mapped, hashes = bench_index(args.windows, workdir)
        figures["index"].update(load.figures)
        progress("fingerprinting prose")
        with OtherLoad([]) as load:
            figures["fingerprint"] = bench_fingerprint()
        figures["fingerprint"].update(load.figures)
        progress("lookups")
        with OtherLoad([]) as load:
            figures["lookups"] = bench_lookups(mapped, hashes)
        figures["lookups"].update(load.figures)
        del hashes
        catalog = fixture_catalog(mapped)
        progress("guard per token")
        with OtherLoad([]) as load:
            figures["guard"] = bench_guard(catalog)
        figures["guard"].update(load.figures)
        if not args.no_model:
            progress("the embedded model with and without the guard")
            with OtherLoad([]) as load:
                figures["model"] = bench_model(catalog)
            figures["model"].update(load.figures)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_human(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
