"""What the gateway adds on top of an upstream that answers at once, beside the Python limit.

Usage: python bench/gateway_overhead.py [--duration S] [--rate-duration S] [--warmup S]
           [--repeats R] [--connections N] [--threads T] [--rate RPS] [--workers W]
           [--upstream raw|uvicorn] [--no-guard-costs] [--baseline-src DIR] [--json]

Starts a fake OpenAI-compatible upstream (bench/_common.py), a bare Starlette + aiohttp
forwarder in front of it (no auth, no metering: the Python limit of a gateway), and
`revstream serve` gateways with one model (backend "openai") pointed at the same upstream,
each with an API key made with the CLI, identical but for the guards:

  metering      every guard off: `[licence] classifier = "none"`, `[recitation] enabled =
                false`, `[ads] enabled = false` (end users are still counted)
  +classifier   the built-in acceptable-use classifier on (a benign prompt: nothing to refuse)
  +recitation   the recitation guard on, no work registered
  +ads          sponsored answers on, the customer on no free plan (nobody to show an ad to)
  all guards    the defaults: all three on

`--baseline-src DIR` adds `metering` and `all guards` gateways running another checkout's
code (PYTHONPATH=DIR; "before" figures measured in the same rounds as "after").
`--no-guard-costs` leaves out the three single-guard gateways (scaling runs).

Then measures every target with the same client and the same connections, rounds interleaved:

  * full load: `wrk` (closed loop) requests/s and latency p50/p99, and each target's CPU per
    request (all of its processes);
  * fixed rate: an open-loop asyncio+aiohttp client sends RATE requests/s on a fixed
    schedule; latency counts from the scheduled send time (so a stall is not hidden, as in
    wrk2), and p50/p99 are reported, with the added p99 over the direct upstream.

Targets (issue 18, 2-core machine): requests/s with metering >= 80% of the forwarder's;
gateway CPU per request <= 150 us with metering; each guard adds <= 30 us of CPU per
request when it has nothing to do; added p99 at 200 requests/s <= 2 ms with metering and
<= 3 ms with every guard. The benchmark prints figures and ratios; it asserts nothing.
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
from dataclasses import dataclass, field
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
    start_forwarder,
    start_gateway,
    wait_forwarder,
    wait_gateway,
)

ADDED_P99_MS_TARGET = 2.0
ADDED_P99_MS_GUARDS_TARGET = 3.0
FORWARDER_RATIO_TARGET = 0.80
CPU_US_PER_REQUEST_TARGET = 150.0
GUARD_CPU_US_TARGET = 30.0
PACED_CONNECTIONS_MAX = 64
PACED_REQUEST_TIMEOUT_S = 10.0
WRK_TIMEOUT_MARGIN_S = 30.0
GUARDS_OFF = {"classifier": '[licence]\nclassifier = "none"\n', "recitation": "[recitation]\nenabled = false\n",
              "ads": "[ads]\nenabled = false\n"}
"""Each guard's config section that turns it off; a guard is on by default."""
METERING, ALL_GUARDS = "metering", "all guards"
BASE = "@base"
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
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per full-load run (default 4)")
    parser.add_argument("--rate-duration", type=float, default=5.0,
                        help="seconds per fixed-rate run (default 5: 1,000 requests at 200/s)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up before each target's runs (default 1)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: the machine has 2 cores)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="measured runs per target, rounds interleaved over the targets; medians are reported (default 3)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s of the fixed-rate run (default 200)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of each gateway and the forwarder (default 1)")
    parser.add_argument("--upstream", choices=("raw", "uvicorn"), default="raw",
                        help="fake upstream: raw asyncio protocol (default) or uvicorn+httptools ASGI app")
    parser.add_argument("--no-guard-costs", action="store_true",
                        help="leave out the single-guard gateways (+classifier, +recitation, +ads)")
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="another checkout's src directory: its metering and all-guards gateways are measured "
                             "in the same rounds (before/after)")
    parser.add_argument("--quiet-wait", type=float, default=120.0,
                        help="seconds to wait at most for other work on the machine to calm down first (default 120)")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    return parser.parse_args()


@dataclass
class Target:
    """One thing measured: its URL, its process group (for CPU) and its API key (gateways)."""

    label: str
    url: str
    pgid: int
    key: str = ""
    script: Path | None = None
    paced: bool = True  # also measured at the fixed rate
    extra: dict = field(default_factory=dict)


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


def full_load(targets: list[Target], args: argparse.Namespace, own_pgids: list[int]) -> dict:
    """wrk against each target: one warm-up each, then `repeats` rounds over the targets.
    Also each target's CPU seconds per request during its measured runs."""
    for target in targets:
        if args.warmup > 0:
            progress(f"full load, {target.label}: warm-up {args.warmup:g}s")
            run_wrk(target.url, target.script, args, args.warmup)
    runs: dict[str, list[dict]] = {target.label: [] for target in targets}
    for repeat in range(1, args.repeats + 1):
        for target in targets:
            progress(f"full load, {target.label}, run {repeat}/{args.repeats}: "
                     f"wrk -t{args.threads} -c{args.connections} for {args.duration:g}s")
            cpu_before = group_cpu_s(target.pgid)
            with OtherLoad(own_pgids) as load:
                run = run_wrk(target.url, target.script, args, args.duration)
            run["cpu_us_per_request"] = (group_cpu_s(target.pgid) - cpu_before) * 1e6 / max(1, run["requests"])
            runs[target.label].append({**run, **load.figures})
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


async def _paced(targets: list[Target], args: argparse.Namespace, own_pgids: list[int]) -> dict:
    timeout = aiohttp.ClientTimeout(total=PACED_REQUEST_TIMEOUT_S)
    paced = [target for target in targets if target.paced]
    sessions = {target.label: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=PACED_CONNECTIONS_MAX),
                                                    timeout=timeout) for target in paced}
    headers = {target.label: {"Content-Type": "application/json", "Authorization": f"Bearer {target.key}"}
               for target in paced}
    runs: dict[str, list[dict]] = {target.label: [] for target in paced}
    try:
        for target in paced:
            if args.warmup > 0:
                progress(f"{args.rate:g} req/s, {target.label}: warm-up {args.warmup:g}s")
                await _paced_phase(sessions[target.label], target.url, headers[target.label], args.rate, args.warmup)
        for repeat in range(1, args.repeats + 1):
            for target in paced:
                progress(f"{args.rate:g} req/s, {target.label}, run {repeat}/{args.repeats}: "
                         f"{args.rate_duration:g}s open loop")
                with OtherLoad(own_pgids) as load:
                    run = await _paced_phase(sessions[target.label], target.url, headers[target.label], args.rate,
                                             args.rate_duration)
                runs[target.label].append({**run, **load.figures})
    finally:
        for session in sessions.values():
            await session.close()
    return runs


def fixed_rate(targets: list[Target], args: argparse.Namespace, own_pgids: list[int]) -> dict:
    return asyncio.run(_paced(targets, args, own_pgids))


def median_run(runs: list[dict]) -> dict:
    """Each figure's median over the runs."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


# --- report ----------------------------------------------------------------------------


def _paired_median(runs: dict[str, list[dict]], label: str, base: str, key: str) -> float:
    """Median over the rounds of (label's figure - base's figure in the same round)."""
    return statistics.median(a[key] - b[key] for a, b in zip(runs[label], runs[base]))


def summarize(full_runs: dict, rate_runs: dict, args: argparse.Namespace) -> dict:
    full = {label: median_run(runs) for label, runs in full_runs.items()}
    rate = {label: median_run(runs) for label, runs in rate_runs.items()}
    gateways = [label for label in full if label not in ("direct", "forwarder")]
    guard_cpu_us = {guard: _paired_median(full_runs, f"+{guard}", METERING, "cpu_us_per_request")
                    for guard in GUARDS_OFF if f"+{guard}" in full_runs}
    guard_cpu_us["all"] = _paired_median(full_runs, ALL_GUARDS, METERING, "cpu_us_per_request")
    forwarder_rps = full["forwarder"]["requests_per_s"]
    added_p99 = {label: rate[label]["latency_ms_p99"] - rate["direct"]["latency_ms_p99"] for label in rate
                 if label != "direct"}
    added_p99_runs = {label: [g["latency_ms_p99"] - d["latency_ms_p99"] for d, g in zip(rate_runs["direct"], runs)]
                      for label, runs in rate_runs.items() if label != "direct"}
    metering = full[METERING]
    figures = {
        "settings": {"duration_s": args.duration, "rate_duration_s": args.rate_duration, "warmup_s": args.warmup,
                     "repeats": args.repeats, "connections": args.connections, "wrk_threads": args.threads,
                     "rate_per_s": args.rate, "workers": args.workers, "upstream": args.upstream,
                     "cpus": os.cpu_count(), "baseline_src": str(args.baseline_src) if args.baseline_src else None},
        "full_load": {"medians": full, "runs": full_runs,
                      "requests_per_s_vs_forwarder": {label: ratio(full[label]["requests_per_s"], forwarder_rps)
                                                      for label in gateways},
                      "requests_per_s_vs_direct": {label: ratio(full[label]["requests_per_s"],
                                                                full["direct"]["requests_per_s"]) for label in full},
                      "guard_cpu_us_per_request": guard_cpu_us},
        "fixed_rate": {"medians": rate, "runs": rate_runs, "added_latency_ms_p99": added_p99,
                       "added_latency_ms_p99_runs": added_p99_runs},
        "disturbed_runs": disturbed_runs([run for runs in (*full_runs.values(), *rate_runs.values()) for run in runs]),
    }
    figures["targets"] = {
        "requests_per_s_vs_forwarder_min": FORWARDER_RATIO_TARGET,
        "requests_per_s_vs_forwarder_met": metering["requests_per_s"] >= FORWARDER_RATIO_TARGET * forwarder_rps,
        "cpu_us_per_request_max": CPU_US_PER_REQUEST_TARGET,
        "cpu_us_per_request_met": metering["cpu_us_per_request"] <= CPU_US_PER_REQUEST_TARGET,
        "guard_cpu_us_max": GUARD_CPU_US_TARGET,
        "guard_cpu_us_met": {guard: value <= GUARD_CPU_US_TARGET for guard, value in guard_cpu_us.items()
                             if guard != "all"},
        "added_latency_ms_p99_max": ADDED_P99_MS_TARGET,
        "added_latency_ms_p99_met": added_p99[METERING] <= ADDED_P99_MS_TARGET,
        "added_latency_ms_p99_guards_max": ADDED_P99_MS_GUARDS_TARGET,
        "added_latency_ms_p99_guards_met": added_p99[ALL_GUARDS] <= ADDED_P99_MS_GUARDS_TARGET,
    }
    return figures


def print_human(figures: dict) -> None:
    settings, full, fixed, targets = figures["settings"], figures["full_load"], figures["fixed_rate"], figures["targets"]
    print(f"gateway overhead: {settings['workers']} worker(s) per server, fake upstream '{settings['upstream']}', "
          f"{settings['cpus']} CPUs; medians of {settings['repeats']} interleaved rounds "
          f"({settings['duration_s']:g}s full load, {settings['rate_duration_s']:g}s at {settings['rate_per_s']:g} req/s)")
    medians, vs_forwarder = full["medians"], full["requests_per_s_vs_forwarder"]
    print(f"\nfull load (wrk -t{settings['wrk_threads']} -c{settings['connections']})")
    print(f"{'':18}{'req/s':>10}{'/forwarder':>12}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}{'errors':>8}{'other CPU':>11}")
    for label, run in medians.items():
        shown = f"{vs_forwarder[label]:>12.2f}" if label in vs_forwarder else f"{'-':>12}"
        print(f"{label:18}{run['requests_per_s']:>10.0f}{shown}{run['latency_ms_p50']:>9.2f}{run['latency_ms_p99']:>9.2f}"
              f"{run['cpu_us_per_request']:>12.0f}{run['errors']:>8.0f}{run['machine_other_cpu_share']:>11.1%}")
    print(f"\nfixed rate {settings['rate_per_s']:g} req/s (open loop)")
    print(f"{'':18}{'p50 ms':>9}{'p99 ms':>9}{'added p99':>11}{'errors':>8}{'other CPU':>11}")
    for label, run in fixed["medians"].items():
        added = fixed["added_latency_ms_p99"].get(label)
        shown = f"{added:>11.2f}" if added is not None else f"{'-':>11}"
        print(f"{label:18}{run['latency_ms_p50']:>9.2f}{run['latency_ms_p99']:>9.2f}{shown}{run['errors']:>8.0f}"
              f"{run['machine_other_cpu_share']:>11.1%}")
    verdict = {True: "meets", False: "MISSES"}
    print(f"\nrequests/s with metering / forwarder: {vs_forwarder[METERING]:.2f} "
          f"(target >= {targets['requests_per_s_vs_forwarder_min']:g}: {verdict[targets['requests_per_s_vs_forwarder_met']]}); "
          f"all guards: {vs_forwarder[ALL_GUARDS]:.2f}")
    print(f"gateway CPU per request with metering: {medians[METERING]['cpu_us_per_request']:.0f} us "
          f"(target <= {targets['cpu_us_per_request_max']:g}: {verdict[targets['cpu_us_per_request_met']]}); "
          f"the forwarder's: {medians['forwarder']['cpu_us_per_request']:.0f} us")
    guards = full["guard_cpu_us_per_request"]
    for guard, met in targets["guard_cpu_us_met"].items():
        print(f"  added CPU of the idle {guard} guard: {guards[guard]:.1f} us/request "
              f"(target <= {targets['guard_cpu_us_max']:g}: {verdict[met]})")
    print(f"  added CPU of all guards together: {guards['all']:.1f} us/request")
    for label, key, limit in ((METERING, "added_latency_ms_p99_met", ADDED_P99_MS_TARGET),
                              (ALL_GUARDS, "added_latency_ms_p99_guards_met", ADDED_P99_MS_GUARDS_TARGET)):
        runs = ", ".join(f"{v:.2f}" for v in fixed["added_latency_ms_p99_runs"][label])
        print(f"added p99 at {settings['rate_per_s']:g} req/s, {label}: {fixed['added_latency_ms_p99'][label]:.2f} ms "
              f"(target <= {limit:g} ms: {verdict[targets[key]]}; single runs: {runs})")
    for label in medians:
        if label.endswith(BASE):
            now = label.removesuffix(BASE)
            print(f"before -> after, {now}: {medians[label]['requests_per_s']:.0f} -> {medians[now]['requests_per_s']:.0f} "
                  f"req/s, {medians[label]['cpu_us_per_request']:.0f} -> {medians[now]['cpu_us_per_request']:.0f} "
                  f"CPU us/request, added p99 {fixed['added_latency_ms_p99'][label]:.2f} -> "
                  f"{fixed['added_latency_ms_p99'][now]:.2f} ms")
    if figures["disturbed_runs"]:
        print(f"WARNING: in {figures['disturbed_runs']} run(s) other processes used more than "
              f"{OTHER_CPU_SHARE_WARN:.0%} of the machine's CPU; the figures are disturbed (see the JSON)")


def gateway_configs(upstream: str, args: argparse.Namespace) -> dict[str, tuple[str, dict]]:
    """label -> (config text, extra environment) of every gateway to measure."""
    model = fake_model_config(upstream)
    every_off = "".join(GUARDS_OFF.values())
    configs = {METERING: (model + every_off, {})}
    if not args.no_guard_costs:
        for guard in GUARDS_OFF:
            configs[f"+{guard}"] = (model + "".join(text for name, text in GUARDS_OFF.items() if name != guard), {})
    configs[ALL_GUARDS] = (model, {})
    if args.baseline_src is not None:
        env = {"PYTHONPATH": str(args.baseline_src.resolve())}
        configs[METERING + BASE] = (model + every_off, env)
        configs[ALL_GUARDS + BASE] = (model, env)
    return configs


def start_targets(children: Children, workdir: Path, args: argparse.Namespace) -> list[Target]:
    """The upstream, the forwarder and every gateway, started together, then waited for."""
    progress(f"starting the fake upstream ({args.upstream})")
    upstream, upstream_process = start_fake_upstream(children, workdir, args.upstream)
    forwarder, forwarder_process = start_forwarder(children, workdir, upstream, args.workers)
    configs = gateway_configs(upstream, args)
    progress(f"starting the forwarder and {len(configs)} gateways (revstream serve --workers {args.workers})")
    started = {}
    for index, (label, (config, env)) in enumerate(configs.items()):
        home = workdir / f"home-{index}"
        started[label] = (home, config, env, *start_gateway(children, home, config, args.workers, env, wait=False))
    wait_forwarder(forwarder, forwarder_process, workdir)
    targets = [Target("direct", upstream + "/chat/completions", upstream_process.pid),
               Target("forwarder", forwarder + "/v1/chat/completions", forwarder_process.pid, paced=False)]
    for label, (home, config, env, base, process, _) in started.items():
        wait_gateway(base, process, home)
        key = create_key(home, config, extra_env=env)
        paced = label in (METERING, ALL_GUARDS) or label.endswith(BASE)
        targets.append(Target(label, base + "/v1/chat/completions", process.pid, key, paced=paced))
    for target in targets:
        target.script = workdir / f"post-{len(target.label)}-{abs(hash(target.label))}.lua"
        target.script.write_text(WRK_SCRIPT % {"body": REQUEST_BODY, "key": target.key or "none"})
    return targets


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    install_uvloop()
    try:
        wait_for_quiet(args.quiet_wait)
        with Children() as children, scratch_dir("revstream-bench-") as workdir:
            targets = start_targets(children, workdir, args)
            own_pgids = [target.pgid for target in targets]
            full_runs = full_load(targets, args, own_pgids)
            rate_runs = fixed_rate(targets, args, own_pgids)
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
