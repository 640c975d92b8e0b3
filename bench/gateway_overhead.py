"""What the gateway adds on top of an upstream that answers at once.

Usage: python bench/gateway_overhead.py [--duration S] [--warmup S] [--repeats R]
           [--connections N] [--threads T] [--rate RPS] [--workers W]
           [--upstream raw|uvicorn] [--json]

Starts a fake OpenAI-compatible upstream (bench/_common.py), `revstream serve`
with one model (backend "openai") pointed at it, and an API key made with the CLI.
Then measures, with the same client and the same connections, both the gateway
and the fake upstream directly (the baseline of the same run):

  * full load: `wrk` (closed loop) requests/s and latency p50/p99;
  * fixed rate: an open-loop asyncio+aiohttp client sends RATE requests/s on a
    fixed schedule; latency counts from the scheduled send time (so a stall is
    not hidden, as in wrk2), and p50/p99 are reported, with the added p99.

Targets (the issue, 2-core machine): the gateway adds at most 3 ms at p99 at
200 requests/s, and at full load sustains at least 25% of the direct requests/s.
The benchmark prints figures and ratios; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from _common import (
    FAKE_MODEL,
    OTHER_CPU_SHARE_WARN,
    Children,
    OtherLoad,
    create_key,
    wait_for_quiet,
    disturbed_runs,
    fake_model_config,
    group_cpu_s,
    install_uvloop,
    percentile,
    progress,
    ratio,
    scratch_dir,
    start_fake_upstream,
    start_gateway,
)

ADDED_P99_MS_TARGET = 3.0
THROUGHPUT_RATIO_TARGET = 0.25
PACED_CONNECTIONS_MAX = 64
PACED_REQUEST_TIMEOUT_S = 10.0
WRK_TIMEOUT_MARGIN_S = 30.0
REQUEST_BODY = json.dumps({
    "model": FAKE_MODEL, "max_tokens": 16,
    "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
}, separators=(",", ":"))
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%%d,"duration_us":%%d,"errors_connect":%%d,"errors_read":%%d,'
    .. '"errors_write":%%d,"errors_status":%%d,"errors_timeout":%%d,'
    .. '"latency_us_p50":%%d,"latency_us_p90":%%d,"latency_us_p99":%%d,"latency_us_max":%%d,"latency_us_mean":%%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up before each run (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: the machine has 2 cores)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="measured runs per target, interleaved direct/gateway; medians are reported (default 3)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s of the fixed-rate run (default 200)")
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes (default 1)")
    parser.add_argument("--upstream", choices=("raw", "uvicorn"), default="raw",
                        help="fake upstream: raw asyncio protocol (default) or uvicorn+httptools ASGI app")
    parser.add_argument("--quiet-wait", type=float, default=120.0,
                        help="seconds to wait at most for other work on the machine to calm down first (default 120)")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    return parser.parse_args()


# --- full load: wrk ----------------------------------------------------------------


def run_wrk(url: str, script: Path, args: argparse.Namespace, duration_s: float) -> dict:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration_s:g}s", "--latency",
               "--timeout", "10s", "-s", str(script), url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + WRK_TIMEOUT_MARGIN_S)
    match = re.search(r"^WRK_JSON (\{.*\})$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    raw = json.loads(match.group(1))
    errors = sum(v for k, v in raw.items() if k.startswith("errors_"))
    return {
        "requests_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
        "requests": raw["requests"],
        "errors": errors,
        "latency_ms_p50": raw["latency_us_p50"] / 1000,
        "latency_ms_p90": raw["latency_us_p90"] / 1000,
        "latency_ms_p99": raw["latency_us_p99"] / 1000,
        "latency_ms_max": raw["latency_us_max"] / 1000,
    }


def full_load(targets: dict[str, str], script: Path, args: argparse.Namespace, own_pgids: list[int]) -> dict:
    """wrk against each target: one warm-up, then `repeats` runs interleaved.
    Also the gateway's CPU seconds per request during its measured runs."""
    for label, url in targets.items():
        if args.warmup > 0:
            progress(f"full load, {label}: warm-up {args.warmup:g}s")
            run_wrk(url, script, args, args.warmup)
    runs: dict[str, list[dict]] = {label: [] for label in targets}
    for repeat in range(1, args.repeats + 1):
        for label, url in targets.items():
            progress(f"full load, {label}, run {repeat}/{args.repeats}: "
                     f"wrk -t{args.threads} -c{args.connections} for {args.duration:g}s")
            gateway_pgid = own_pgids[-1]
            cpu_before = group_cpu_s(gateway_pgid)
            with OtherLoad(own_pgids) as load:
                run = run_wrk(url, script, args, args.duration)
            run["gateway_cpu_us_per_request"] = (group_cpu_s(gateway_pgid) - cpu_before) * 1e6 / max(1, run["requests"])
            runs[label].append({**run, **load.figures})
    return runs


# --- fixed rate: open-loop aiohttp client -----------------------------------------------


async def _paced_phase(session: aiohttp.ClientSession, url: str, headers: dict, rate: float, duration_s: float) -> dict:
    count = max(1, int(rate * duration_s))
    latencies_ms: list[float] = []
    service_ms: list[float] = []
    errors = 0

    async def one(due: float) -> None:
        nonlocal errors
        sent = time.perf_counter()
        try:
            async with session.post(url, data=REQUEST_BODY, headers=headers) as response:
                await response.read()
                ok = response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            ok = False
        done = time.perf_counter()
        if not ok:
            errors += 1
            return
        latencies_ms.append((done - due) * 1000)
        service_ms.append((done - sent) * 1000)

    tasks = []
    start = time.perf_counter() + 0.05
    for index in range(count):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    return {
        "requests_per_s_offered": rate,
        "requests": count,
        "errors": errors,
        "latency_ms_p50": percentile(latencies_ms, 0.50),
        "latency_ms_p99": percentile(latencies_ms, 0.99),
        "latency_ms_max": max(latencies_ms, default=float("nan")),
        "service_ms_p50": percentile(service_ms, 0.50),
        "service_ms_p99": percentile(service_ms, 0.99),
    }


async def _paced(targets: dict[str, str], headers: dict, args: argparse.Namespace, own_pgids: list[int]) -> dict:
    timeout = aiohttp.ClientTimeout(total=PACED_REQUEST_TIMEOUT_S)
    sessions = {label: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=PACED_CONNECTIONS_MAX),
                                             timeout=timeout) for label in targets}
    runs: dict[str, list[dict]] = {label: [] for label in targets}
    try:
        for label, url in targets.items():
            if args.warmup > 0:
                progress(f"{args.rate:g} req/s, {label}: warm-up {args.warmup:g}s")
                await _paced_phase(sessions[label], url, headers, args.rate, args.warmup)
        for repeat in range(1, args.repeats + 1):
            for label, url in targets.items():
                progress(f"{args.rate:g} req/s, {label}, run {repeat}/{args.repeats}: {args.duration:g}s open loop")
                with OtherLoad(own_pgids) as load:
                    run = await _paced_phase(sessions[label], url, headers, args.rate, args.duration)
                runs[label].append({**run, **load.figures})
    finally:
        for session in sessions.values():
            await session.close()
    return runs


def fixed_rate(targets: dict[str, str], key: str, args: argparse.Namespace, own_pgids: list[int]) -> dict:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    return asyncio.run(_paced(targets, headers, args, own_pgids))


def median_run(runs: list[dict]) -> dict:
    """Each figure's median over the runs."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


# --- report ----------------------------------------------------------------------------


def summarize(full_runs: dict, rate_runs: dict, args: argparse.Namespace) -> dict:
    direct_full, gateway_full = median_run(full_runs["direct"]), median_run(full_runs["gateway"])
    direct_rate, gateway_rate = median_run(rate_runs["direct"]), median_run(rate_runs["gateway"])
    added_p99_ms = gateway_rate["latency_ms_p99"] - direct_rate["latency_ms_p99"]
    throughput_ratio = ratio(gateway_full["requests_per_s"], direct_full["requests_per_s"])
    return {
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "repeats": args.repeats,
                     "connections": args.connections, "wrk_threads": args.threads, "rate_per_s": args.rate,
                     "workers": args.workers, "upstream": args.upstream, "cpus": os.cpu_count()},
        "full_load": {"direct": direct_full, "gateway": gateway_full, "requests_per_s_ratio": throughput_ratio,
                      "gateway_cpu_us_per_request": gateway_full["gateway_cpu_us_per_request"],
                      "runs": full_runs},
        "fixed_rate": {"direct": direct_rate, "gateway": gateway_rate, "added_latency_ms_p99": added_p99_ms,
                       "added_latency_ms_p50": gateway_rate["latency_ms_p50"] - direct_rate["latency_ms_p50"],
                       "added_latency_ms_p99_runs": [g["latency_ms_p99"] - d["latency_ms_p99"]
                                                     for d, g in zip(rate_runs["direct"], rate_runs["gateway"])],
                       "runs": rate_runs},
        "disturbed_runs": disturbed_runs([run for runs in (*full_runs.values(), *rate_runs.values()) for run in runs]),
        "targets": {
            "added_latency_ms_p99_max": ADDED_P99_MS_TARGET,
            "added_latency_ms_p99_met": added_p99_ms <= ADDED_P99_MS_TARGET,
            "requests_per_s_ratio_min": THROUGHPUT_RATIO_TARGET,
            "requests_per_s_ratio_met": throughput_ratio >= THROUGHPUT_RATIO_TARGET,
        },
    }


def print_human(figures: dict) -> None:
    settings, full, fixed, targets = figures["settings"], figures["full_load"], figures["fixed_rate"], figures["targets"]
    print(f"gateway overhead: {settings['workers']} worker(s), fake upstream '{settings['upstream']}', "
          f"{settings['cpus']} CPUs; medians of {settings['repeats']} runs of {settings['duration_s']:g}s")
    print(f"\n{'':34}{'direct':>12}{'gateway':>12}{'gateway/direct':>16}")
    rows = [
        (f"full load (wrk -t{settings['wrk_threads']} -c{settings['connections']})", None, None),
        ("  requests/s", "requests_per_s", full),
        ("  latency p50 ms", "latency_ms_p50", full),
        ("  latency p99 ms", "latency_ms_p99", full),
        ("  errors", "errors", full),
        ("  other processes CPU share", "machine_other_cpu_share", full),
        (f"fixed rate {settings['rate_per_s']:g} req/s (open loop)", None, None),
        ("  latency p50 ms", "latency_ms_p50", fixed),
        ("  latency p99 ms", "latency_ms_p99", fixed),
        ("  service time p99 ms", "service_ms_p99", fixed),
        ("  errors", "errors", fixed),
        ("  other processes CPU share", "machine_other_cpu_share", fixed),
    ]
    for label, key, table in rows:
        if key is None:
            print(label)
            continue
        direct, gateway = table["direct"][key], table["gateway"][key]
        if key.startswith("machine_"):
            print(f"{label:34}{direct:>12.1%}{gateway:>12.1%}{'-':>16}")
            continue
        shown = f"{ratio(gateway, direct):>16.2f}" if direct else f"{'-':>16}"
        print(f"{label:34}{direct:>12.2f}{gateway:>12.2f}{shown}")
    verdict = {True: "meets", False: "MISSES"}
    print(f"\nadded p99 at {settings['rate_per_s']:g} req/s: {fixed['added_latency_ms_p99']:.2f} ms "
          f"(target <= {targets['added_latency_ms_p99_max']:g} ms: {verdict[targets['added_latency_ms_p99_met']]}; "
          f"single runs: {', '.join(f'{v:.2f}' for v in fixed['added_latency_ms_p99_runs'])})")
    print(f"full-load requests/s, gateway/direct: {full['requests_per_s_ratio']:.3f} "
          f"(target >= {targets['requests_per_s_ratio_min']:g}: {verdict[targets['requests_per_s_ratio_met']]})")
    print(f"gateway CPU per request at full load: {full['gateway_cpu_us_per_request']:.0f} us")
    if figures["disturbed_runs"]:
        print(f"WARNING: in {figures['disturbed_runs']} run(s) other processes used more than "
              f"{OTHER_CPU_SHARE_WARN:.0%} of the machine's CPU; the figures are disturbed (see the JSON)")


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    install_uvloop()
    try:
        wait_for_quiet(args.quiet_wait)
        with Children() as children, scratch_dir("revstream-bench-") as workdir:
            progress(f"starting the fake upstream ({args.upstream})")
            upstream, upstream_process = start_fake_upstream(children, workdir, args.upstream)
            config = fake_model_config(upstream)
            progress(f"starting revstream serve --workers {args.workers}")
            gateway, gateway_process, _ = start_gateway(children, workdir / "home", config, args.workers)
            key = create_key(workdir / "home", config)
            script = workdir / "post.lua"
            script.write_text(WRK_SCRIPT % {"body": REQUEST_BODY, "key": key})
            targets = {"direct": upstream + "/chat/completions", "gateway": gateway + "/v1/chat/completions"}
            own_pgids = [upstream_process.pid, gateway_process.pid]  # the gateway last
            full_runs = full_load(targets, script, args, own_pgids)
            rate_runs = fixed_rate(targets, key, args, own_pgids)
    except KeyboardInterrupt:
        progress("interrupted; every process was stopped")
        return 130
    figures = summarize(full_runs, rate_runs, args)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_human(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
