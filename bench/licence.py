"""Licence compliance on the request path: MAU updates per second and the built-in
acceptable-use classifier's latency, each beside a same-run baseline; the same through the
gateway's own hook and through `revstream serve` (see `_licence_gateway.py`); and the
classifier's precision and recall on the labelled prompts.

Usage: python bench/licence.py [--updates N] [--rounds R] [--repeat K] [--gateway-requests N]
                               [--no-gateway] [--quiet-wait S] [--json]

MAU: N distinct end users (ids prepared beforehand) are added to a `MauCounter` as the gateway
would, `counter.add(end_user_hash(secret, user_id))`: once on the exact path (a set), once on
the HyperLogLog path (a counter whose exact bound is 1). Baseline: the bare keyed hash,
`hmac.digest(secret, user_id, "sha256")`, over the same ids. Target: >= 100,000 updates/s.

Classifier: each labelled prompt (tests/licence/data, tuned and held-out sets) is classified K
times; latency per call is timed with perf_counter_ns (wall clock) and thread_time_ns (this
thread's CPU time, which leaves out preemption by other processes); p50 and p99 are reported for
the prompts as written (tens of bytes) and padded to about 4 KiB of benign text. Baseline: `prompt.lower()`,
the least any text check does, timed the same way. Target: p99 <= 2 ms.

Through the gateway: `MauBuffer.observe`, the per-request MAU update of the gateway hook
(target >= 100,000/s), beside the bare HMAC; the whole `screen_request` hook per call; and the
classifier's added latency per request through `revstream serve` (classifier "builtin" minus
"none", target p99 <= 2 ms) beside the gateway's own p50/p99 and the upstream's, same run.

Rounds alternate baseline and measured runs and report medians. The script prints figures and
asserts nothing; a run where other processes used over 10% of the CPU is marked disturbed.
"""

from __future__ import annotations

import argparse
import hmac
import json
import statistics
import sys
import time
from pathlib import Path

from _common import OTHER_CPU_SHARE_WARN, OtherLoad, percentile, progress, ratio, wait_for_quiet

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from revstream.licence import HAZARD_CODES, BuiltinClassifier, MauCounter, end_user_hash, end_user_id  # noqa: E402
from _licence_gateway import gateway_latency, hook_latency, hook_rates  # noqa: E402

DATA = REPO / "tests" / "licence" / "data"
SECRET = b"bench secret, thirty-two bytes!!"
PADDED_CHARS = 4096
PADDING = "Please summarize the following meeting notes about the quarterly roadmap and the hiring plan. "


def labelled(name: str) -> list[tuple[str, frozenset[str]]]:
    rows = [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(row["prompt"], frozenset(row["labels"])) for row in rows]


def mau_rate(user_ids: list[str], exact_users_max: int) -> float:
    counter = MauCounter("2025-03", exact_users_max)
    add, started = counter.add, time.perf_counter()
    for user_id in user_ids:
        add(end_user_hash(SECRET, user_id))
    elapsed = time.perf_counter() - started
    if counter.method != ("exact" if exact_users_max >= len(user_ids) else "hll"):
        raise RuntimeError("the counter took the wrong path")
    return len(user_ids) / elapsed


def hmac_rate(user_ids: list[str]) -> float:
    digest, started = hmac.digest, time.perf_counter()
    for user_id in user_ids:
        digest(SECRET, user_id.encode("utf-8"), "sha256")
    return len(user_ids) / (time.perf_counter() - started)


def latencies_ms(function, prompts: list[str], repeat: int) -> tuple[list[float], list[float]]:
    """Per call: wall-clock milliseconds, and this thread's CPU milliseconds (which leave out
    the time other processes held the core: on a shared machine the wall-clock p99 is theirs)."""
    wall, cpu = [], []
    wall_clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for _ in range(repeat):
        for prompt in prompts:
            started, started_cpu = wall_clock(), cpu_clock()
            function(prompt)
            cpu.append((cpu_clock() - started_cpu) / 1e6)
            wall.append((wall_clock() - started) / 1e6)
    return wall, cpu


def measured(run) -> dict:
    with OtherLoad([]) as load:
        value = run()
    return {"value": value, **load.figures}


def mau_figures(updates: int, rounds: int) -> dict:
    user_ids = [end_user_id(f"customer-{n % 50}", f"user-{n}", "key") for n in range(updates)]
    runs = {"hmac_baseline": [], "exact": [], "hll": []}
    for round_number in range(rounds):
        progress(f"MAU round {round_number + 1}/{rounds}")
        runs["hmac_baseline"].append(measured(lambda: hmac_rate(user_ids)))
        runs["exact"].append(measured(lambda: mau_rate(user_ids, updates)))
        runs["hll"].append(measured(lambda: mau_rate(user_ids, 1)))
    median = {name: statistics.median(r["value"] for r in values) for name, values in runs.items()}
    return {
        "updates": updates, "rounds": rounds,
        "hmac_baseline_per_s": round(median["hmac_baseline"]),
        "exact_updates_per_s": round(median["exact"]), "hll_updates_per_s": round(median["hll"]),
        "exact_vs_hmac": round(ratio(median["exact"], median["hmac_baseline"]), 3),
        "hll_vs_hmac": round(ratio(median["hll"], median["hmac_baseline"]), 3),
        "disturbed_runs": sum(r["machine_other_cpu_share"] > OTHER_CPU_SHARE_WARN for v in runs.values() for r in v),
    }


def classifier_latency(classifier: BuiltinClassifier, prompts: list[str], repeat: int, rounds: int) -> dict:
    samples: dict[str, list[float]] = {"builtin": [], "builtin_cpu": [], "lower_baseline": [], "lower_baseline_cpu": []}
    loads = []
    for _ in range(rounds):
        with OtherLoad([]) as load:
            for name, function in (("lower_baseline", str.lower), ("builtin", classifier.classify_text)):
                wall, cpu = latencies_ms(function, prompts, repeat)
                samples[name] += wall
                samples[f"{name}_cpu"] += cpu
        loads.append(load.figures["machine_other_cpu_share"])
    figures = {"calls": len(samples["builtin"]), "prompt_chars_median": statistics.median(len(p) for p in prompts)}
    for name, values in samples.items():
        figures[f"{name}_ms_p50"] = round(percentile(values, 0.50), 4)
        figures[f"{name}_ms_p99"] = round(percentile(values, 0.99), 4)
    figures["p99_vs_lower"] = round(ratio(figures["builtin_ms_p99"], figures["lower_baseline_ms_p99"]), 1)
    figures["disturbed_runs"] = sum(share > OTHER_CPU_SHARE_WARN for share in loads)
    return figures


def scores(classifier: BuiltinClassifier, rows) -> dict:
    tp = dict.fromkeys(HAZARD_CODES, 0)
    fp, fn = dict(tp), dict(tp)
    any_tp = any_fp = any_fn = 0
    for prompt, labels in rows:
        got = set(classifier.classify_text(prompt).categories)
        for code in HAZARD_CODES:
            tp[code] += code in got and code in labels
            fp[code] += code in got and code not in labels
            fn[code] += code not in got and code in labels
        any_tp += bool(got) and bool(labels)
        any_fp += bool(got) and not labels
        any_fn += not got and bool(labels)

    def pr(t, f_pos, f_neg):
        return {"precision": round(ratio(t, t + f_pos), 3), "recall": round(ratio(t, t + f_neg), 3)}

    return {"prompts": len(rows), "benign": sum(not labels for _, labels in rows),
            "overall": pr(any_tp, any_fp, any_fn), "per_category": {c: pr(tp[c], fp[c], fn[c]) for c in HAZARD_CODES}}


def padded(prompt: str) -> str:
    return (PADDING * (PADDED_CHARS // len(PADDING) + 1))[: PADDED_CHARS - len(prompt) - 1] + " " + prompt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20, help="classifications of each prompt per round")
    parser.add_argument("--gateway-requests", type=int, default=400,
                        help="requests per target and round through revstream serve")
    parser.add_argument("--no-gateway", action="store_true", help="skip the measurement through revstream serve")
    parser.add_argument("--quiet-wait", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    share = wait_for_quiet(args.quiet_wait)
    classifier = BuiltinClassifier()
    tuned, holdout = labelled("prompts.jsonl"), labelled("prompts_holdout.jsonl")
    prompts = [prompt for prompt, _ in tuned + holdout]
    report = {
        "machine_other_cpu_share_at_start": round(share, 3),
        "mau": mau_figures(args.updates, args.rounds),
        "classifier_latency_short": classifier_latency(classifier, prompts, args.repeat, args.rounds),
        "classifier_latency_4kib": classifier_latency(classifier, [padded(p) for p in prompts],
                                                      max(1, args.repeat // 4), args.rounds),
        "mau_hook": hook_rates(args.updates, args.rounds),
        "screen_hook": hook_latency(prompts, max(1, args.repeat // 4)),
        "gateway": None if args.no_gateway else gateway_latency(prompts, args.gateway_requests, args.rounds),
        "classifier_scores_tuned": scores(classifier, tuned),
        "classifier_scores_holdout": scores(classifier, holdout),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


def print_report(report: dict) -> None:
    mau = report["mau"]
    print(f"MAU updates/s ({mau['updates']:,} users, median of {mau['rounds']}): "
          f"exact {mau['exact_updates_per_s']:,}  hll {mau['hll_updates_per_s']:,}  "
          f"bare HMAC baseline {mau['hmac_baseline_per_s']:,}  "
          f"(exact/HMAC {mau['exact_vs_hmac']}, hll/HMAC {mau['hll_vs_hmac']}); target >= 100,000")
    for key, label in (("classifier_latency_short", "as written"), ("classifier_latency_4kib", "padded to 4 KiB")):
        f = report[key]
        print(f"classifier latency, prompts {label} (median {f['prompt_chars_median']} chars, {f['calls']:,} calls): "
              f"p50 {f['builtin_ms_p50']} ms  p99 {f['builtin_ms_p99']} ms (CPU p50 {f['builtin_cpu_ms_p50']} "
              f"p99 {f['builtin_cpu_ms_p99']} ms); str.lower() baseline p50 {f['lower_baseline_ms_p50']} ms  "
              f"p99 {f['lower_baseline_ms_p99']} ms (p99 ratio {f['p99_vs_lower']}x); target p99 <= 2 ms")
    hook = report["mau_hook"]
    print(f"MAU through the gateway hook (MauBuffer.observe, {hook['updates']:,} users): exact "
          f"{hook['observe_exact_per_s']:,}/s  sketch {hook['observe_hll_per_s']:,}/s  bare HMAC baseline "
          f"{hook['hmac_baseline_per_s']:,}/s (exact/HMAC {hook['observe_exact_vs_hmac']}); target >= 100,000")
    screen = report["screen_hook"]
    print(f"screen_request hook ({screen['calls']:,} calls: user counted, prompt classified, policy): "
          f"p50 {screen['ms_p50']} ms  p99 {screen['ms_p99']} ms (CPU p50 {screen['cpu_ms_p50']} "
          f"p99 {screen['cpu_ms_p99']} ms)")
    gateway = report["gateway"]
    if gateway is not None:
        print(f"through revstream serve ({gateway['requests']:,} requests x {gateway['rounds']} rounds each, one at a "
              f"time): upstream direct p50 {gateway['upstream_ms_p50']} p99 {gateway['upstream_ms_p99']} ms; "
              f"gateway, classifier none p50 {gateway['none_ms_p50']} p99 {gateway['none_ms_p99']} ms "
              f"({gateway['none_cpu_ms_per_request']} ms CPU/request); builtin p50 {gateway['builtin_ms_p50']} "
              f"p99 {gateway['builtin_ms_p99']} ms ({gateway['builtin_cpu_ms_per_request']} ms CPU/request)")
        print(f"  the classifier adds p50 {gateway['added_ms_p50']} ms, p99 {gateway['added_ms_p99']} ms, "
              f"{gateway['added_cpu_ms_per_request']} ms CPU per request; target p99 <= 2 ms"
              + (f"  (WARNING: other processes used up to {gateway['other_cpu_share_max']:.0%} of the CPU)"
                 if gateway["other_cpu_share_max"] > 0.10 else ""))
    for key, label in (("classifier_scores_tuned", "tuned-on set"), ("classifier_scores_holdout", "held-out set")):
        s = report[key]
        print(f"\n{label}: {s['prompts']} prompts ({s['benign']} benign): overall precision "
              f"{s['overall']['precision']} recall {s['overall']['recall']}")
        print("  " + "  ".join(f"{c} {v['precision']}/{v['recall']}" for c, v in s["per_category"].items()))
    disturbed = report["mau"]["disturbed_runs"] + report["classifier_latency_short"]["disturbed_runs"]
    if disturbed:
        print(f"\nWARNING: {disturbed} runs were disturbed by other processes (> 10% of the CPU)")


if __name__ == "__main__":
    sys.exit(main())
