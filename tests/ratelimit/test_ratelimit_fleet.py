"""A limit of R per minute holds for the whole fleet, not R per process.

Four OS processes (spawned, as separate workers or replicas would be) fire admits for one key
at once. Through Redis the total admitted stays within R plus what refills over the measured
elapsed time. The same scenario with an in-process limiter in each process admits about 4 R:
that is the replica-multiplied limit this design exists to prevent, and it shows this test can
fail. No bound here is a fixed time: each is computed from the elapsed time measured around all
admits (CLOCK_MONOTONIC is system-wide, so the processes' readings compare).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import secrets
import time
from fractions import Fraction

import pytest
import redis

from revstream.ratelimit import KeyLimits, LocalRateLimiter, RedisRateLimiter

REDIS_URL = os.environ.get("REVSTREAM_TEST_REDIS", "redis://127.0.0.1:6379/0")
PROCESSES = 4
REQUESTS_PER_MINUTE = 20
ADMITS_PER_PROCESS = 48
CONCURRENCY_PER_PROCESS = 8
PROCESS_TIMEOUT_S = 60


async def _fire(kind: str, key_prefix: str, key_id: str, barrier) -> tuple[int, float, float]:
    if kind == "redis":
        limiter = RedisRateLimiter(REDIS_URL, key_prefix=key_prefix)
    else:
        limiter = LocalRateLimiter()
    limits = KeyLimits(requests_per_minute=REQUESTS_PER_MINUTE)
    try:
        await limiter.admit(key_id + ":warm-up", limits, 0)  # connect before the race starts
        barrier.wait(PROCESS_TIMEOUT_S)
        started = time.monotonic()
        allowed = 0
        for _ in range(ADMITS_PER_PROCESS // CONCURRENCY_PER_PROCESS):
            batch = [limiter.admit(key_id, limits, 0) for _ in range(CONCURRENCY_PER_PROCESS)]
            allowed += sum(decision.allowed for decision in await asyncio.gather(*batch))
        return allowed, started, time.monotonic()
    finally:
        await limiter.aclose()


def fire_admits(kind: str, key_prefix: str, key_id: str, barrier, results) -> None:
    """One worker process: admits for the shared key, concurrently, after all are ready."""
    results.put(asyncio.run(_fire(kind, key_prefix, key_id, barrier)))


def run_fleet(kind: str, key_prefix: str) -> tuple[int, Fraction]:
    """Total admitted across the processes, and the elapsed seconds enclosing every admit."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    key_id = secrets.token_hex(8)
    processes = [
        context.Process(target=fire_admits, args=(kind, key_prefix, key_id, barrier, results))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        reports = [results.get(timeout=PROCESS_TIMEOUT_S) for _ in processes]
    finally:
        for process in processes:
            process.join(PROCESS_TIMEOUT_S)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in processes)
    elapsed_s = Fraction(max(end for _, _, end in reports)) - Fraction(min(start for _, start, _ in reports))
    return sum(allowed for allowed, _, _ in reports), elapsed_s


def fleet_bound(elapsed_s: Fraction) -> Fraction:
    """Most a shared bucket can admit over ``elapsed_s``: full at the start, plus the refill."""
    return REQUESTS_PER_MINUTE + REQUESTS_PER_MINUTE * elapsed_s / 60


@pytest.fixture
def prefix():
    prefix = f"revstream:rl:test:{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.mark.redis
def test_limit_holds_for_the_fleet_through_redis(prefix):
    allowed, elapsed_s = run_fleet("redis", prefix)
    print(f"redis: {allowed} admitted of {PROCESSES * ADMITS_PER_PROCESS} in {float(elapsed_s):.3f}s")
    assert REQUESTS_PER_MINUTE <= allowed <= fleet_bound(elapsed_s)


def test_per_process_limits_multiply_with_the_fleet():
    allowed, elapsed_s = run_fleet("local", "unused:")
    print(f"local: {allowed} admitted of {PROCESSES * ADMITS_PER_PROCESS} in {float(elapsed_s):.3f}s")
    assert allowed >= PROCESSES * REQUESTS_PER_MINUTE > fleet_bound(elapsed_s)
