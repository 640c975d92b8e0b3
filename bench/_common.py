"""Shared helpers for the gateway benchmarks: free ports, child processes that are
always stopped (also on Ctrl-C and errors), starting `revstream serve`, creating an
API key with the CLI, percentiles, and a minimal fake OpenAI-compatible upstream.

The fake upstream is a raw asyncio protocol on uvloop: no framework, so that the
"direct" baseline measures the client and the loopback, not a web stack. Run it as

    python bench/_common.py fake-upstream --port PORT

It answers POST /v1/chat/completions with a fixed chat.completion (usage included)
and GET /v1/models with one model, keeping connections alive.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SERVER_START_S_MAX = 180.0
STOP_WAIT_S = 15.0
HTTP_HEAD_BYTES_MAX = 64 * 1024
FAKE_MODEL = "fake"


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile of `samples` (fraction in [0, 1])."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))]


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


# --- other work on the machine ---------------------------------------------------
# The benchmarks share the machine's cores with whatever else runs on it (on a
# shared development box: other people's test suites). Each measured run records
# how much CPU the rest of the machine used meanwhile, so a disturbed run shows.

OTHER_CPU_SHARE_WARN = 0.10


def _machine_busy_s() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    ticks = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / ticks, steal / ticks


def group_cpu_s(pgid: int) -> float:
    """User+system CPU seconds of every live process in process group `pgid`."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp, ...; utime, stime at 11, 12
            total += int(fields[11]) + int(fields[12])
    return total / ticks


class OtherLoad:
    """CPU the rest of the machine used during a run: everything busy minus this
    process, its finished children (wrk) and the live process groups it started."""

    def __init__(self, own_pgids: list[int]) -> None:
        self._own_pgids = own_pgids

    def _own_s(self) -> float:
        times = os.times()
        return (times.user + times.system + times.children_user + times.children_system
                + sum(group_cpu_s(pgid) for pgid in self._own_pgids))

    def __enter__(self) -> "OtherLoad":
        self._started = time.perf_counter()
        self._busy, self._steal = _machine_busy_s()
        self._own = self._own_s()
        return self

    def __exit__(self, *exc_info) -> None:
        busy, steal = _machine_busy_s()
        wall_s = time.perf_counter() - self._started
        capacity_s = wall_s * (os.cpu_count() or 1)
        other_s = max(0.0, (busy - self._busy) - (self._own_s() - self._own))
        self.figures = {"machine_other_cpu_share": other_s / capacity_s,
                        "machine_steal_share": (steal - self._steal) / capacity_s}


def wait_for_quiet(wait_s_max: float) -> float:
    """Before starting anything: wait (at most `wait_s_max`) until the rest of the
    machine uses under OTHER_CPU_SHARE_WARN of the CPU over one second. Returns
    the last share seen."""
    deadline = time.monotonic() + wait_s_max
    while True:
        with OtherLoad([]) as load:
            time.sleep(1.0)
        share = load.figures["machine_other_cpu_share"]
        if share <= OTHER_CPU_SHARE_WARN or time.monotonic() >= deadline:
            return share
        progress(f"the machine is busy with other work ({share:.0%} of the CPU); waiting")


def disturbed_runs(runs: list[dict]) -> int:
    return sum(1 for run in runs if run.get("machine_other_cpu_share", 0.0) > OTHER_CPU_SHARE_WARN)


# --- child processes -----------------------------------------------------------


class Children:
    """Child processes, each in its own session, stopped (TERM, then KILL) on exit.

    SIGTERM to the benchmark is turned into KeyboardInterrupt so that `with` blocks
    unwind and every child is stopped; Ctrl-C reaches only the benchmark, because
    the children run in their own sessions."""

    def __init__(self) -> None:
        self._processes: list[tuple[str, subprocess.Popen]] = []

    def __enter__(self) -> "Children":
        signal.signal(signal.SIGTERM, _raise_interrupt)
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_all()

    def start(self, name: str, args: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
        log = log_path.open("wb")
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, start_new_session=True, cwd=REPO,
        )
        log.close()
        self._processes.append((name, process))
        return process

    def stop(self, process: subprocess.Popen) -> None:
        self._processes = [(n, p) for n, p in self._processes if p is not process]
        _stop_group(process)

    def stop_all(self) -> None:
        while self._processes:
            _, process = self._processes.pop()
            _stop_group(process)


def _raise_interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _stop_group(process: subprocess.Popen) -> None:
    """Stop a child and everything it started (uvicorn's worker processes)."""
    for sig, wait_s in ((signal.SIGTERM, STOP_WAIT_S), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait_s)
    with contextlib.suppress(ProcessLookupError):  # stragglers of the group
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        yield Path(name)



@contextlib.contextmanager
def scratch_store(store: str, postgres_admin_url: str) -> Iterator[str]:
    """A database URL for a store that exists only for the benchmark: SQLite in a scratch
    directory, or a fresh PostgreSQL database (dropped on the way out)."""
    if store == "sqlite":
        with scratch_dir("revstream-bench-store-") as directory:
            yield f"sqlite:///{directory / 'revstream.db'}"
        return
    if store != "postgres":
        raise SystemExit(f"unknown store {store!r}: use sqlite or postgres")
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"revstream_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(postgres_admin_url).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_http_ok(url: str, process: subprocess.Popen, log_path: Path, timeout_s: float = SERVER_START_S_MAX) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s}s:\n{_tail(log_path)}")


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


# --- revstream ------------------------------------------------------------------


def revstream_command() -> list[str]:
    return [sys.executable, "-m", "revstream"]


def start_fake_upstream(children: Children, workdir: Path, server: str = "raw") -> tuple[str, subprocess.Popen]:
    """Start the fake upstream (`raw` asyncio protocol or `uvicorn` ASGI app);
    returns its base URL (ending in /v1)."""
    port = free_port()
    log_path = workdir / "fake-upstream.log"
    args = [sys.executable, str(BENCH_DIR / "_common.py"), "fake-upstream", "--port", str(port), "--server", server]
    process = children.start("fake-upstream", args, log_path)
    base = f"http://127.0.0.1:{port}/v1"
    wait_http_ok(base + "/models", process, log_path, 30)
    return base, process


def start_gateway(
    children: Children, home: Path, config_text: str | None, workers: int = 1,
    extra_env: dict | None = None, wait: bool = True,
) -> tuple[str, subprocess.Popen, dict]:
    """Start `revstream serve` on a free port with its own data dir; wait for /health
    (unless `wait` is false: then the caller waits, with `wait_gateway`). `extra_env` goes
    to the server's environment (PYTHONPATH: another checkout's code).

    Returns the base URL, the process and the environment the CLI needs to reach
    the same store (for `keys create`)."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**(extra_env or {}), "REVSTREAM_HOME": str(home)}
    args = revstream_command()
    if config_text is not None:
        config_path = home / "revstream.toml"
        config_path.write_text(config_text)
        args += ["--config", str(config_path)]
    port = free_port()
    args += ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    log_path = home / "gateway.log"
    process = children.start("gateway", args, log_path, env)
    base = f"http://127.0.0.1:{port}"
    if wait:
        wait_gateway(base, process, home)
    return base, process, env


def wait_gateway(base: str, process: subprocess.Popen, home: Path) -> None:
    wait_http_ok(base + "/health", process, home / "gateway.log")


def start_forwarder(children: Children, workdir: Path, upstream_base: str, workers: int = 1) -> tuple[str, subprocess.Popen]:
    """Start the bare forwarder (see `forwarder_app`) on uvicorn, as `serve` runs the gateway;
    returns its base URL and process (its /health is not waited for: `wait_forwarder`)."""
    port = free_port()
    args = [sys.executable, str(BENCH_DIR / "_common.py"), "forwarder", "--port", str(port),
            "--upstream", upstream_base, "--workers", str(workers)]
    process = children.start("forwarder", args, workdir / "forwarder.log")
    return f"http://127.0.0.1:{port}", process


def wait_forwarder(base: str, process: subprocess.Popen, workdir: Path) -> None:
    wait_http_ok(base + "/health", process, workdir / "forwarder.log", 60)


def create_key(home: Path, config_text: str | None, customer: str = "bench", extra_env: dict | None = None) -> str:
    args = revstream_command()
    if config_text is not None:
        args += ["--config", str(home / "revstream.toml")]
    args += ["keys", "create", "--customer", customer, "--json"]
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, **(extra_env or {}), "REVSTREAM_HOME": str(home)},
    )
    if result.returncode != 0:
        raise RuntimeError(f"keys create failed ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout)["key"]


def fake_model_config(upstream_base: str) -> str:
    return f'[[models]]\nname = "{FAKE_MODEL}"\nbackend = "openai"\nbase_url = "{upstream_base}"\n'


# --- the fake upstream -----------------------------------------------------------

_COMPLETION = json.dumps({
    "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000, "model": FAKE_MODEL,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18},
}, separators=(",", ":")).encode()
_MODELS = json.dumps({
    "object": "list", "data": [{"id": FAKE_MODEL, "object": "model", "created": 1_700_000_000, "owned_by": "bench"}],
}, separators=(",", ":")).encode()


def _response(status: bytes, body: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


_RESPONSES = {
    (b"POST", b"/v1/chat/completions"): _response(b"200 OK", _COMPLETION),
    (b"GET", b"/v1/models"): _response(b"200 OK", _MODELS),
}
_NOT_FOUND = _response(b"404 Not Found", b'{"error":{"message":"not found","type":"invalid_request_error"}}')


class _FakeUpstream(asyncio.Protocol):
    """HTTP/1.1 keep-alive, one request at a time per connection (clients here do
    not pipeline); the body is read by Content-Length and ignored."""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self.buffer) > HTTP_HEAD_BYTES_MAX:
                    self.transport.close()
                return
            head = self.buffer[:head_end]
            length = 0
            lowered = head.lower()
            at = lowered.find(b"\r\ncontent-length:")
            if at >= 0:
                end = lowered.find(b"\r\n", at + 2)
                length = int(lowered[at + 17:end if end >= 0 else None].strip())
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            method, _, rest = head.partition(b" ")
            path = rest.partition(b" ")[0]
            self.transport.write(_RESPONSES.get((method, path), _NOT_FOUND))
            if b"\r\nconnection: close" in lowered:
                self.transport.close()
                return


async def _serve_fake(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_FakeUpstream, "127.0.0.1", port, backlog=1024, reuse_address=True)
    async with server:
        await server.serve_forever()


async def _asgi_app(scope, receive, send) -> None:
    """The same answers as a trivial ASGI app, for `--server uvicorn`."""
    if scope["type"] != "http":
        return
    more = True
    while more:  # drain the body
        more = (await receive()).get("more_body", False)
    raw = _RESPONSES.get((scope["method"].encode(), scope["path"].encode()), _NOT_FOUND)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _serve_fake_uvicorn(port: int) -> None:
    import uvicorn

    uvicorn.run(_asgi_app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning", lifespan="off")


# --- the bare forwarder: the Python limit of a gateway -----------------------------------
# A Starlette app that forwards a chat completion's body to the upstream through one pooled
# aiohttp session and relays the answer: no auth, no parsing, no metering. It runs on uvicorn
# with uvloop and httptools, as `revstream serve` does, so the difference between the two is
# what revstream does per request.

FORWARD_CONNECTIONS_MAX = 256


def forwarder_app(upstream_base: str):
    import aiohttp
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    holder: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        holder["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=FORWARD_CONNECTIONS_MAX))
        try:
            yield
        finally:
            await holder["session"].close()

    async def chat(request):
        body = await request.body()
        async with holder["session"].post(upstream_base + "/chat/completions", data=body,
                                          headers={"Content-Type": "application/json"}) as reply:
            return Response(await reply.read(), reply.status, media_type="application/json")

    async def health(_request):
        return Response(b"ok")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/health", health, methods=["GET"])], lifespan=lifespan)


def forwarder_from_environment():
    """The uvicorn factory of the forwarder's worker processes."""
    return forwarder_app(os.environ["BENCH_FORWARD_UPSTREAM"])


def _serve_forwarder(port: int, upstream_base: str, workers: int) -> None:
    import uvicorn

    os.environ["BENCH_FORWARD_UPSTREAM"] = upstream_base
    uvicorn.run("_common:forwarder_from_environment", factory=True, app_dir=str(BENCH_DIR), workers=workers,
                host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False, log_level="warning")


def install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fake = commands.add_parser("fake-upstream", help="run the fake OpenAI-compatible upstream")
    fake.add_argument("--port", type=int, required=True)
    fake.add_argument("--server", choices=("raw", "uvicorn"), default="raw")
    forward = commands.add_parser("forwarder", help="run the bare Starlette + aiohttp forwarder")
    forward.add_argument("--port", type=int, required=True)
    forward.add_argument("--upstream", required=True, help="the upstream's base URL (ending in /v1)")
    forward.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.command == "forwarder":
        _serve_forwarder(args.port, args.upstream, args.workers)
        return 0
    if args.server == "uvicorn":
        _serve_fake_uvicorn(args.port)
        return 0
    install_uvloop()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_fake(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
