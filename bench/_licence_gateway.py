"""The licence figures of `bench/licence.py` measured where they happen: the gateway.

* **The hook, in process**: `MauBuffer.observe` (what each request adds to count its end
  user) and the whole `screen_request` hook the route handler awaits (count the user, classify
  the last user message, apply the policy), called with the gateway's own `LicenceRuntime` on
  the labelled prompts. Baseline: the bare keyed hash (`hmac.digest`) per update.
* **Through the gateway**: two `revstream serve` processes in front of the same fake upstream
  (`_common.py`), identical but for `[licence] classifier`: `"none"` (the gateway's own
  figures: users still counted, no screen) and `"builtin"`. One client sends the labelled
  prompts one request at a time (no queueing: each latency is one request's path), alternating
  targets round by round; the upstream is also measured directly. Reported: p50/p99 of each,
  the classifier's *added* p50/p99 (builtin minus none) and each gateway's CPU per request.
"""

from __future__ import annotations

import asyncio
import hmac
import statistics
import time
from pathlib import Path

import aiohttp

from _common import (
    FAKE_MODEL,
    Children,
    OtherLoad,
    create_key,
    fake_model_config,
    group_cpu_s,
    percentile,
    progress,
    ratio,
    scratch_dir,
    start_fake_upstream,
    start_gateway,
)
from revstream.config._licence import licence_section
from revstream.gateway._licence import LicenceRuntime, screen_request
from revstream.backends import ChatMessage, GenerationRequest
from revstream.licence import BuiltinClassifier, MauBuffer, end_user_id, load_registry
from revstream.periods import parse_time_us

SECRET = b"bench secret, thirty-two bytes!!"
NOW_US = parse_time_us("2026-03-15T12:00:00Z")


# --- the hook, in process --------------------------------------------------------------------

def hook_rates(updates: int, rounds: int) -> dict:
    """Updates per second of `MauBuffer.observe` (exact path and sketch path) beside the bare
    keyed hash, median of `rounds`."""
    users = [f"user-{n}" for n in range(updates)]
    runs: dict[str, list[float]] = {"hmac_baseline": [], "observe_exact": [], "observe_hll": []}
    for round_number in range(rounds):
        progress(f"MAU hook round {round_number + 1}/{rounds}")
        started = time.perf_counter()
        for user in users:
            hmac.digest(SECRET, end_user_id("cus_bench", user, "key_bench").encode(), "sha256")
        runs["hmac_baseline"].append(updates / (time.perf_counter() - started))
        for name, bound in (("observe_exact", updates), ("observe_hll", 1)):
            buffer = MauBuffer(SECRET, bound)
            observe, started = buffer.observe, time.perf_counter()
            for user in users:
                observe("cus_bench", user, "key_bench", NOW_US)
            runs[name].append(updates / (time.perf_counter() - started))
    median = {name: statistics.median(values) for name, values in runs.items()}
    return {"updates": updates, "rounds": rounds, **{f"{name}_per_s": round(value) for name, value in median.items()},
            "observe_exact_vs_hmac": round(ratio(median["observe_exact"], median["hmac_baseline"]), 3)}


class _State:
    """What `screen_request` reads of the gateway's AppState."""

    def __init__(self, runtime: LicenceRuntime) -> None:
        self.licence = runtime

    def model(self, name: str) -> bool:
        return True

    def clock(self) -> int:
        return NOW_US


class _Parsed:
    def __init__(self, prompt: str, user: str) -> None:
        self.generation = GenerationRequest(endpoint="chat", model=FAKE_MODEL,
                                            messages=(ChatMessage("user", prompt),))
        self.user = user


class _Principal:
    customer_id, key_id = "cus_bench", "key_bench"


def hook_latency(prompts: list[str], repeat: int) -> dict:
    """Per call of the whole `screen_request` hook (user counted, prompt classified, policy):
    wall-clock and this thread's CPU milliseconds, p50 and p99."""
    settings = licence_section({}, Path("."))
    runtime = LicenceRuntime(settings, load_registry(), {}, None, SECRET, BuiltinClassifier(), "bench")
    state, principal = _State(runtime), _Principal()
    calls = [(_Parsed(prompt, f"user-{n}"), {}) for n, prompt in enumerate(prompts)]

    async def measure() -> tuple[list[float], list[float]]:
        wall, cpu = [], []
        for _ in range(repeat):
            for parsed, headers in calls:
                started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
                await screen_request(state, parsed, principal, headers)
                cpu.append((time.thread_time_ns() - started_cpu) / 1e6)
                wall.append((time.perf_counter_ns() - started) / 1e6)
        return wall, cpu

    wall, cpu = asyncio.run(measure())
    return {"calls": len(wall), "ms_p50": round(percentile(wall, 0.5), 4), "ms_p99": round(percentile(wall, 0.99), 4),
            "cpu_ms_p50": round(percentile(cpu, 0.5), 4), "cpu_ms_p99": round(percentile(cpu, 0.99), 4)}


# --- through the gateway ----------------------------------------------------------------------

async def _sequential(url: str, key: str | None, prompts: list[str]) -> list[float]:
    """One request at a time; milliseconds each."""
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key else {})}
    latencies = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        for n, prompt in enumerate(prompts):
            body = {"model": FAKE_MODEL, "max_tokens": 16, "user": f"user-{n % 500}",
                    "messages": [{"role": "user", "content": prompt}]}
            started = time.perf_counter()
            async with session.post(url, json=body, headers=headers) as reply:
                await reply.read()
                if reply.status != 200:
                    raise RuntimeError(f"{url} answered {reply.status}")
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def gateway_latency(prompts: list[str], requests: int, rounds: int) -> dict:
    """The classifier's added latency per request through `revstream serve`, beside the
    gateway's own figures (classifier "none") and the upstream's, in the same run."""
    sent = (prompts * (requests // len(prompts) + 1))[:requests]
    with Children() as children, scratch_dir("revstream-bench-licence-") as workdir:
        upstream, _ = start_fake_upstream(children, workdir)
        targets, pgids = {}, {}
        for name, classifier in (("none", "none"), ("builtin", "builtin")):
            config = fake_model_config(upstream) + f'\n[licence]\nclassifier = "{classifier}"\n'
            progress(f"starting revstream serve (classifier {classifier})")
            base, process, _ = start_gateway(children, workdir / name, config)
            targets[name] = (base + "/v1/chat/completions", create_key(workdir / name, config))
            pgids[name] = process.pid
        targets["upstream"] = (upstream + "/chat/completions", None)
        samples: dict[str, list[float]] = {name: [] for name in targets}
        cpu_s = {name: 0.0 for name in pgids}
        loads = []
        for name, (url, key) in targets.items():  # warm-up
            asyncio.run(_sequential(url, key, sent[:200]))
        for round_number in range(rounds):
            progress(f"gateway round {round_number + 1}/{rounds}")
            with OtherLoad(list(pgids.values())) as load:
                for name, (url, key) in targets.items():
                    before = group_cpu_s(pgids[name]) if name in pgids else 0.0
                    samples[name] += asyncio.run(_sequential(url, key, sent))
                    if name in pgids:
                        cpu_s[name] += group_cpu_s(pgids[name]) - before
            loads.append(load.figures["machine_other_cpu_share"])
    figures = {"requests": requests, "rounds": rounds, "other_cpu_share_max": round(max(loads), 3)}
    for name, values in samples.items():
        figures[f"{name}_ms_p50"] = round(percentile(values, 0.5), 3)
        figures[f"{name}_ms_p99"] = round(percentile(values, 0.99), 3)
    for name, seconds in cpu_s.items():
        figures[f"{name}_cpu_ms_per_request"] = round(seconds * 1000 / (requests * rounds), 3)
    figures["added_ms_p50"] = round(figures["builtin_ms_p50"] - figures["none_ms_p50"], 3)
    figures["added_ms_p99"] = round(figures["builtin_ms_p99"] - figures["none_ms_p99"], 3)
    figures["added_cpu_ms_per_request"] = round(figures["builtin_cpu_ms_per_request"]
                                                - figures["none_cpu_ms_per_request"], 3)
    return figures
