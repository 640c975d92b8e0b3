"""The gateway's added latency with sponsored answers on and off, in the same run (issue 13).

Usage: python bench/ads_gateway.py [--requests N] [--rounds R] [--json]

Two `revstream serve` processes in front of the same fake upstream (`_common.py`), identical
(a `free` plan customer, an advertiser with credit, a CPM campaign on "hiking boots") but for
`[ads] enabled`: true or false. One client sends a neutral commercial prompt that the campaign
matches, with `metadata.age_band = "18_plus"`, one request at a time (each latency is one
request's path), alternating targets round by round. With ads on, every answer is classified,
an auction runs on live state and an impression is reserved, then charged once delivered (two
store transactions per ad). Reported: p50/p99 of each, the added p50/p99 (on minus off), each
gateway's CPU per request, and how many answers carried an ad. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    FAKE_MODEL,
    REPO,
    Children,
    OtherLoad,
    create_key,
    fake_model_config,
    group_cpu_s,
    percentile,
    progress,
    revstream_command,
    scratch_dir,
    start_fake_upstream,
    start_gateway,
)

PROMPT = "Which hiking boots should I buy for a week in the Alps?"
SETUP = (
    ("plans", "add", "free", "--kind", "free", "--tokens-per-day", "1000000000", "--models", FAKE_MODEL),
    ("subscribe", "--customer", "bench", "--plan", "free"),
    ("advertisers", "add", "Trail Co"),
    ("credit", "add", "--advertiser", "Trail Co", "--amount", "100000.00"),
    ("campaigns", "add", "--advertiser", "Trail Co", "--title", "Trail boots", "--text", "Boots for the Alps.",
     "--url", "https://trail.example/boots", "--bid-cpm", "2.00", "--keywords", "hiking boots"),
)


def _cli(home: Path, *args: str) -> None:
    command = [*revstream_command(), "--config", str(home / "revstream.toml"), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO,
                            env={**os.environ, "REVSTREAM_HOME": str(home)})
    if result.returncode != 0:
        raise RuntimeError(f"revstream {' '.join(args)} failed:\n{result.stderr}")


async def _sequential(url: str, key: str, count: int) -> tuple[list[float], int]:
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    latencies, ads = [], 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        for n in range(count):
            body = {"model": FAKE_MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": PROMPT}],
                    "metadata": {"age_band": "18_plus", "conversation_id": f"c{n}"}}
            started = time.perf_counter()
            async with session.post(url, json=body, headers=headers) as reply:
                payload = await reply.read()
                if reply.status != 200:
                    raise RuntimeError(f"{url} answered {reply.status}: {payload[:200]!r}")
            latencies.append((time.perf_counter() - started) * 1000)
            ads += b'"sponsored"' in payload
    return latencies, ads


def run(requests: int, rounds: int) -> dict:
    with Children() as children, scratch_dir("revstream-bench-ads-") as workdir:
        upstream, _ = start_fake_upstream(children, workdir)
        targets, pgids = {}, {}
        for name, enabled in (("off", "false"), ("on", "true")):
            home = workdir / name
            home.mkdir(parents=True)
            config = fake_model_config(upstream) + f"\n[ads]\nenabled = {enabled}\n"
            (home / "revstream.toml").write_text(config)
            for args in SETUP:
                _cli(home, *args)
            key = create_key(home, config)
            progress(f"starting revstream serve (ads {name})")
            base, process, _ = start_gateway(children, home, config)
            targets[name], pgids[name] = (base + "/v1/chat/completions", key), process.pid
        samples = {name: [] for name in targets}
        cpu_s = {name: 0.0 for name in targets}
        shown = {name: 0 for name in targets}
        loads = []
        for url, key in targets.values():  # warm-up
            asyncio.run(_sequential(url, key, 50))
        for round_number in range(rounds):
            progress(f"round {round_number + 1}/{rounds}")
            with OtherLoad(list(pgids.values())) as load:
                for name, (url, key) in targets.items():
                    before = group_cpu_s(pgids[name])
                    latencies, ads = asyncio.run(_sequential(url, key, requests))
                    cpu_s[name] += group_cpu_s(pgids[name]) - before
                    samples[name] += latencies
                    shown[name] += ads
            loads.append(load.figures["machine_other_cpu_share"])
    figures = {"requests": requests, "rounds": rounds, "other_cpu_share_max": round(max(loads), 3)}
    for name in targets:
        figures[f"ads_{name}_ms_p50"] = round(percentile(samples[name], 0.5), 3)
        figures[f"ads_{name}_ms_p99"] = round(percentile(samples[name], 0.99), 3)
        figures[f"ads_{name}_cpu_ms_per_request"] = round(cpu_s[name] * 1000 / (requests * rounds), 3)
        figures[f"ads_{name}_answers_with_an_ad"] = shown[name]
    for stat in ("ms_p50", "ms_p99", "cpu_ms_per_request"):
        figures[f"added_{stat}"] = round(figures[f"ads_on_{stat}"] - figures[f"ads_off_{stat}"], 3)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per target per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the targets")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = run(args.requests, args.rounds)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for name, value in figures.items():
            print(f"{name:36} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
