"""Requests/s and added p99 through the load balancer, with 1 and 3 gateway replicas.

Usage: python bench/fleet.py [--replicas 1,3] [--duration S] [--warmup S] [--connections N]
           [--threads T] [--rate RPS] [--postgres-url URL] [--redis-url URL] [--json]

Starts the fake OpenAI-compatible upstream of bench/_common.py, then for each replica count
a fleet with `scripts/fleet.sh` (N `revstream serve` replicas, one scratch PostgreSQL
database, the local Redis, HAProxy in front), each replica with one model (backend
"openai") pointed at the upstream, and an API key made with the CLI. It measures, with the
same client and connections, the upstream directly (the same-run baseline, measured first)
and each fleet through HAProxy:

  * full load: `wrk` (closed loop) requests/s and latency p50/p99, and the CPU time per
    request of the whole fleet (every replica, HAProxy and the script: the fleet's process
    group), of HAProxy alone, and of PostgreSQL and Redis (all their processes on the
    machine: other work on the same servers counts too);
  * fixed rate: an open-loop client sends RATE requests/s on a fixed schedule (latency from
    the scheduled send, as wrk2 does), and the added p99 = fleet p99 - direct p99.

On a machine with few cores the replicas, HAProxy, PostgreSQL, Redis, the upstream and wrk
share the same cores, so more replicas cannot raise the throughput here; the per-request
CPU says what they would do on more cores, and the script prints that projection. It
asserts nothing. About a minute with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from _common import (
    OTHER_CPU_SHARE_WARN,
    REPO,
    Children,
    OtherLoad,
    disturbed_runs,
    fake_model_config,
    free_port,
    group_cpu_s,
    install_uvloop,
    progress,
    ratio,
    revstream_command,
    scratch_dir,
    scratch_store,
    start_fake_upstream,
    wait_for_quiet,
)
from gateway_overhead import PACED_CONNECTIONS_MAX, PACED_REQUEST_TIMEOUT_S, REQUEST_BODY, WRK_SCRIPT, _paced_phase, run_wrk

FLEET_SCRIPT = REPO / "scripts" / "fleet.sh"
FLEET_START_S_MAX = 300.0
STORE_PROCESS_NAMES = ("postgres", "redis-server")
# The fleet's own settings: appends and checkpoints as a production host would run them.
FLEET_CONFIG_EXTRA = '\n[transparency]\nlog_append_interval_s = 1.0\n'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", default="1,3", help="replica counts to measure, comma-separated (default 1,3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up before each run (default 1)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s of the fixed-rate run (default 200)")
    parser.add_argument("--postgres-url", default=os.environ.get("REVSTREAM_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test"),
                        help="a PostgreSQL database the benchmark may create a scratch database from")
    parser.add_argument("--redis-url", default=os.environ.get("REVSTREAM_TEST_REDIS", "redis://127.0.0.1:6379/0"),
                        help="the Redis the replicas share")
    parser.add_argument("--quiet-wait", type=float, default=60.0,
                        help="seconds to wait at most for other work on the machine to calm down first (default 60)")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    args = parser.parse_args()
    args.replica_counts = [int(value) for value in args.replicas.split(",")]
    return args


# --- CPU accounting --------------------------------------------------------------------


def _pid_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def store_cpu_s() -> float:
    """CPU seconds of every PostgreSQL and Redis process on the machine (whoever they work for)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                name = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if name in STORE_PROCESS_NAMES:
                total += _pid_cpu_s(int(entry))
    return total


class CpuMeter:
    """CPU seconds of the fleet's group, HAProxy and the store over a `with` block."""

    def __init__(self, fleet_pgid: int, haproxy_pid: int) -> None:
        self.fleet_pgid, self.haproxy_pid = fleet_pgid, haproxy_pid

    def _now(self) -> tuple[float, float, float]:
        return group_cpu_s(self.fleet_pgid), _pid_cpu_s(self.haproxy_pid), store_cpu_s()

    def __enter__(self) -> "CpuMeter":
        self._before = self._now()
        return self

    def __exit__(self, *exc_info) -> None:
        after = self._now()
        self.fleet_s, self.haproxy_s, self.store_s = (a - b for a, b in zip(after, self._before))


# --- a fleet ------------------------------------------------------------------------------


def start_fleet(children: Children, workdir: Path, replicas: int, config: Path, database_url: str,
                redis_url: str) -> tuple[subprocess.Popen, dict[str, str]]:
    """`scripts/fleet.sh` in its own process group; returns it and its fleet.env once ready."""
    directory = workdir / f"fleet-{replicas}"
    args = ["bash", str(FLEET_SCRIPT), "--replicas", str(replicas), "--port", str(free_port()),
            "--config", str(config), "--database-url", database_url, "--redis-url", redis_url, "--dir", str(directory)]
    log_path = workdir / f"fleet-{replicas}.log"
    process = children.start(f"fleet-{replicas}", args, log_path)
    env_file = directory / "fleet.env"
    deadline = time.monotonic() + FLEET_START_S_MAX
    while not env_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"fleet.sh did not start {replicas} replica(s):\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    values = {}
    for line in env_file.read_text().splitlines():
        name, _, value = line.partition("=")
        values[name] = shlex.split(value)[0] if value else ""
    return process, values


def fleet_key(env: dict[str, str]) -> str:
    environment = {**os.environ, **{name: env[name] for name in
                                    ("REVSTREAM_HOME", "REVSTREAM_DATABASE_URL", "REVSTREAM_REDIS_URL")}}
    result = subprocess.run([*revstream_command(), "keys", "create", "--customer", "bench", "--json"],
                            capture_output=True, text=True, timeout=120, cwd=REPO, env=environment)
    if result.returncode != 0:
        raise RuntimeError(f"keys create failed ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout)["key"]


# --- measuring one target -----------------------------------------------------------------


def measure(label: str, url: str, key: str, args: argparse.Namespace, workdir: Path, own_pgids: list[int],
            meter: CpuMeter | None) -> dict:
    script = workdir / f"post-{label}.lua"
    script.write_text(WRK_SCRIPT % {"body": REQUEST_BODY, "key": key})
    if args.warmup > 0:
        progress(f"{label}: full-load warm-up {args.warmup:g}s")
        run_wrk(url, script, args, args.warmup)
    progress(f"{label}: wrk -t{args.threads} -c{args.connections} for {args.duration:g}s")
    with OtherLoad(own_pgids) as load, meter or contextlib.nullcontext():
        full = run_wrk(url, script, args, args.duration)
    requests = max(1, full["requests"])
    full.update(load.figures)
    if meter is not None:
        full["fleet_cpu_us_per_request"] = meter.fleet_s * 1e6 / requests
        full["haproxy_cpu_us_per_request"] = meter.haproxy_s * 1e6 / requests
        # Store processes that end during the run drop out of the sum: never below zero.
        full["store_cpu_us_per_request"] = max(0.0, meter.store_s) * 1e6 / requests
    progress(f"{label}: {args.rate:g} req/s open loop for {args.duration:g}s")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    with OtherLoad(own_pgids) as load:
        paced = asyncio.run(_paced(url, headers, args))
    paced.update(load.figures)
    return {"full_load": full, "fixed_rate": paced}


async def _paced(url: str, headers: dict, args: argparse.Namespace) -> dict:
    timeout = aiohttp.ClientTimeout(total=PACED_REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=PACED_CONNECTIONS_MAX),
                                     timeout=timeout) as session:
        if args.warmup > 0:
            await _paced_phase(session, url, headers, args.rate, args.warmup)
        return await _paced_phase(session, url, headers, args.rate, args.duration)


def run(args: argparse.Namespace) -> dict:
    results: dict[str, dict] = {}
    with Children() as children, scratch_dir("revstream-bench-fleet-") as workdir:
        progress("starting the fake upstream")
        upstream, upstream_process = start_fake_upstream(children, workdir)
        config = workdir / "fleet.toml"
        config.write_text(fake_model_config(upstream) + FLEET_CONFIG_EXTRA)
        direct_url = upstream + "/chat/completions"
        results["direct"] = measure("direct", direct_url, "none", args, workdir, [upstream_process.pid], None)
        for replicas in args.replica_counts:
            with scratch_store("postgres", args.postgres_url) as database_url:
                progress(f"starting scripts/fleet.sh --replicas {replicas}")
                process, env = start_fleet(children, workdir, replicas, config, database_url, args.redis_url)
                key = fleet_key(env)
                meter = CpuMeter(process.pid, int(env["HAPROXY_PID"]))
                label = f"{replicas}_replica" + ("s" if replicas != 1 else "")
                results[label] = measure(label, env["FLEET_URL"] + "/v1/chat/completions", key, args, workdir,
                                         [upstream_process.pid, process.pid], meter)
                progress(f"stopping the fleet of {replicas}")
                children.stop(process)
    return results


# --- report -------------------------------------------------------------------------------


def summarize(results: dict, args: argparse.Namespace) -> dict:
    direct = results["direct"]
    fleets = {label: value for label, value in results.items() if label != "direct"}
    for value in fleets.values():
        full, paced = value["full_load"], value["fixed_rate"]
        value["requests_per_s_ratio_to_direct"] = ratio(full["requests_per_s"], direct["full_load"]["requests_per_s"])
        value["added_latency_ms_p99"] = paced["latency_ms_p99"] - direct["fixed_rate"]["latency_ms_p99"]
        value["added_latency_ms_p50"] = paced["latency_ms_p50"] - direct["fixed_rate"]["latency_ms_p50"]
        # What one more core buys: each core gives 1e6 / (fleet CPU per request) requests/s.
        value["projected_requests_per_s_per_core"] = ratio(1e6, full["fleet_cpu_us_per_request"])
        value["projected_requests_per_s_per_core_with_store"] = ratio(
            1e6, full["fleet_cpu_us_per_request"] + full["store_cpu_us_per_request"])
    runs = [run for value in results.values() for run in (value["full_load"], value["fixed_rate"])]
    return {
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "connections": args.connections,
                     "wrk_threads": args.threads, "rate_per_s": args.rate, "replicas": args.replica_counts,
                     "cpus": os.cpu_count()},
        "direct": direct, "fleets": fleets, "disturbed_runs": disturbed_runs(runs),
    }


def print_human(figures: dict) -> None:
    settings, direct, fleets = figures["settings"], figures["direct"], figures["fleets"]
    labels = list(fleets)
    print(f"fleet through HAProxy: {settings['cpus']} CPUs, wrk -t{settings['wrk_threads']} -c{settings['connections']}, "
          f"{settings['duration_s']:g}s runs, fixed rate {settings['rate_per_s']:g} req/s")
    header = "".join(f"{label.replace('_', ' '):>14}" for label in labels)
    print(f"\n{'':40}{'direct':>12}{header}")

    def row(name: str, key: str, table: str, fmt: str = ".2f") -> None:
        cells = "".join(f"{fleets[label][table][key]:>14{fmt}}" for label in labels)
        base = direct[table].get(key)
        print(f"{name:40}{'-' if base is None else format(base, fmt):>12}{cells}")

    row("full load requests/s", "requests_per_s", "full_load", ".0f")
    row("  latency p50 ms", "latency_ms_p50", "full_load")
    row("  latency p99 ms", "latency_ms_p99", "full_load")
    row("  errors", "errors", "full_load", ".0f")
    row("  fleet CPU us/request (replicas+LB)", "fleet_cpu_us_per_request", "full_load", ".0f")
    row("  of which HAProxy us/request", "haproxy_cpu_us_per_request", "full_load", ".0f")
    row("  PostgreSQL+Redis CPU us/request", "store_cpu_us_per_request", "full_load", ".0f")
    row("  other processes CPU share", "machine_other_cpu_share", "full_load", ".1%")
    row(f"fixed rate {settings['rate_per_s']:g} req/s: latency p50 ms", "latency_ms_p50", "fixed_rate")
    row("  latency p99 ms", "latency_ms_p99", "fixed_rate")
    row("  errors", "errors", "fixed_rate", ".0f")
    print()
    for label in labels:
        value = fleets[label]
        print(f"{label.replace('_', ' ')}: {value['requests_per_s_ratio_to_direct']:.3f} of direct requests/s; "
              f"added p99 {value['added_latency_ms_p99']:.2f} ms (p50 {value['added_latency_ms_p50']:.2f} ms); "
              f"each core given to the fleet adds ~{value['projected_requests_per_s_per_core']:.0f} requests/s "
              f"(~{value['projected_requests_per_s_per_core_with_store']:.0f} counting PostgreSQL and Redis)")
    print(f"\nOn {settings['cpus']} cores every process shares the same cores, so more replicas cannot raise "
          "requests/s here. Replicas share nothing but PostgreSQL and Redis: on a machine (or machines) with more "
          "cores, requests/s grow with the cores given to replicas at the rate above, until PostgreSQL's write "
          "rate for usage records (bench/metering.py) or the upstream bounds them.")
    if figures["disturbed_runs"]:
        print(f"WARNING: in {figures['disturbed_runs']} run(s) other processes used more than "
              f"{OTHER_CPU_SHARE_WARN:.0%} of the machine's CPU; the figures are disturbed (see the JSON)")


def main() -> int:
    args = parse_args()
    for tool in ("wrk", "haproxy"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed: apt-get install -y {tool}", file=sys.stderr)
            return 2
    install_uvloop()
    try:
        wait_for_quiet(args.quiet_wait)
        results = run(args)
    except KeyboardInterrupt:
        progress("interrupted; every process was stopped")
        return 130
    figures = summarize(results, args)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_human(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
