"""Benchmark a witness: cosignatures per second, in process and over HTTP.

Usage: python bench/witness.py [--checkpoints N] [--logs K] [--json] [--quiet-wait S]

A host's log grows by 16 leaves per checkpoint; each checkpoint is submitted with its
consistency proof from the previous one, as a host publishing checkpoints would. Figures:

  * baseline: bare Ed25519 signatures/s over a cosignature-sized message (cryptography);
  * core: the pure decision (parse, verify the log's signature and the consistency proof,
    cosign), no I/O;
  * core + durable state: the same plus the state file written atomically with fsync,
    which the witness does before every answer;
  * HTTP, one log: `revstream witness serve` in a subprocess, one keep-alive client;
  * HTTP, K logs: K clients in threads, one log each (requests of one log are sequential
    by the protocol: each names the size the previous one produced).

Each rate is printed with its ratio to the same-run Ed25519 baseline. No assertions; takes
about 30 s. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    Children,
    OtherLoad,
    free_port,
    progress,
    ratio,
    revstream_command,
    scratch_dir,
    wait_for_quiet,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from revstream.transparency import (  # noqa: E402
    MerkleTree,
    cosignature_message,
    format_checkpoint,
    generate_key,
    sign_note,
)
from revstream.witness import (  # noqa: E402
    ClientError,
    LogConfig,
    StateDirectory,
    WitnessClient,
    WitnessState,
    add_checkpoint,
    format_add_checkpoint,
    init_witness_key,
    parse_add_checkpoint,
    witness_config,
)

LEAVES_PER_CHECKPOINT = 16
BASELINE_SIGNATURES = 20_000
WITNESS_START_S_MAX = 60.0


def _chain(origin: str, skey: str, count: int) -> list[bytes]:
    """Request bodies for ``count`` successive checkpoints of a growing log."""
    tree, bodies, old_size = MerkleTree(), [], 0
    for _ in range(count):
        tree.extend(b'{"kind":"usage","version":1,"n":%d}' % (tree.size + offset)
                    for offset in range(LEAVES_PER_CHECKPOINT))
        note = sign_note(format_checkpoint(origin, tree.size, tree.root()), skey)
        proof = tree.consistency_proof(old_size, tree.size) if old_size else ()
        bodies.append(format_add_checkpoint(old_size, proof, note))
        old_size = tree.size
    return bodies


def _timed(run, count: int) -> dict:
    with OtherLoad([]) as load:
        started = time.perf_counter()
        run()
        elapsed_s = time.perf_counter() - started
    return {"count": count, "seconds": round(elapsed_s, 4), "per_s": round(count / elapsed_s, 1), **load.figures}


def _baseline() -> dict:
    private = Ed25519PrivateKey.generate()
    message = cosignature_message(format_checkpoint("host.bench/log", 123456, bytes(32)), 1_750_000_000)
    return _timed(lambda: [private.sign(message) for _ in range(BASELINE_SIGNATURES)], BASELINE_SIGNATURES)


def _core(config, skey: str, bodies: list[bytes], directory: StateDirectory | None) -> dict:
    def run() -> None:
        state = WitnessState()
        for body in bodies:
            cosigned = add_checkpoint(parse_add_checkpoint(body), config, state, skey, int(time.time()))
            state = state.with_log(cosigned.origin, cosigned.log)
            if directory is not None:
                directory.save(state)
    return _timed(run, len(bodies))


def _start_witness(children: Children, workdir: Path, config_text: str) -> tuple[str, object]:
    (workdir / "witness.toml").write_text(config_text)
    port = free_port()
    process = children.start("witness", [*revstream_command(), "witness", "serve", "--config",
                                         str(workdir / "witness.toml"), "--state", str(workdir / "http-state"),
                                         "--port", str(port)], workdir / "witness.log")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WITNESS_START_S_MAX
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the witness exited:\n{(workdir / 'witness.log').read_text()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", f"/{'0' * 64}/checkpoint")
            connection.getresponse().read()
            connection.close()
            return url, process
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the witness did not start")


def _http(url: str, chains: list[list[bytes]]) -> dict:
    failures: list[str] = []

    def submit(bodies: list[bytes]) -> None:
        with WitnessClient(url) as client:
            for body in bodies:
                request = parse_add_checkpoint(body)
                try:
                    client.add_checkpoint(request.old_size, request.proof, request.note)
                except ClientError as error:
                    failures.append(str(error))
                    return

    def run() -> None:
        threads = [threading.Thread(target=submit, args=(bodies,)) for bodies in chains]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    result = _timed(run, sum(len(bodies) for bodies in chains))
    if failures:
        result["failures"] = failures[:5]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", type=int, default=1500, help="checkpoints per measured run")
    parser.add_argument("--logs", type=int, default=4, help="logs (clients) in the concurrent HTTP run")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quiet-wait", type=float, default=120.0)
    args = parser.parse_args()
    count, logs = args.checkpoints, args.logs

    progress("waiting for a quiet machine")
    wait_for_quiet(args.quiet_wait)
    keys = [generate_key(f"host{number}.bench/log") for number in range(max(logs, 1))]
    progress(f"signing {count} checkpoints of a growing log (+ {logs} logs of {count // logs} for the HTTP run)")
    main_chain = _chain("host0.bench/log", keys[0][0], count)
    chains = [_chain(f"host{number}.bench/log", keys[number][0], count // logs) for number in range(logs)]
    config_text = "".join(f'[[log]]\norigin = "host{number}.bench/log"\nvkeys = ["{vkey}"]\n\n'
                          for number, (_, vkey) in enumerate(keys))
    config = witness_config([LogConfig(f"host{number}.bench/log", (vkey,)) for number, (_, vkey) in enumerate(keys)])

    figures: dict = {"checkpoints": count, "leaves_per_checkpoint": LEAVES_PER_CHECKPOINT}
    with scratch_dir("revstream-bench-witness-") as workdir, Children() as children:
        init_witness_key(workdir / "core-state", "witness.bench/core")
        init_witness_key(workdir / "http-state", "witness.bench/http")
        with StateDirectory(workdir / "core-state") as directory:
            skey, _ = directory.read_key()
            progress("baseline: bare Ed25519 signing")
            figures["ed25519_sign"] = _baseline()
            progress("core: the decision, no I/O")
            figures["core"] = _core(config, skey, main_chain, None)
            progress("core + durable state (atomic write, fsync) per cosignature")
            figures["core_durable"] = _core(config, skey, main_chain, directory)
        url, _ = _start_witness(children, workdir, config_text)
        progress("HTTP: one log, one keep-alive client")
        figures["http_one_log"] = _http(url, [main_chain])
        children.stop_all()
        (workdir / "http-state" / "state.json").unlink()
        url, _ = _start_witness(children, workdir, config_text)
        progress(f"HTTP: {logs} logs, one client thread each")
        figures[f"http_{logs}_logs"] = _http(url, chains)

    baseline = figures["ed25519_sign"]["per_s"]
    for name in ("core", "core_durable", "http_one_log", f"http_{logs}_logs"):
        figures[name]["ratio_to_ed25519_sign"] = round(ratio(figures[name]["per_s"], baseline), 4)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"witness cosignatures/s ({count} checkpoints, +{LEAVES_PER_CHECKPOINT} leaves each)")
    print(f"  baseline  bare Ed25519 signatures/s  {baseline:>10.0f}")
    for name, label in (("core", "core decision, no I/O"), ("core_durable", "core + atomic fsync'd state"),
                        ("http_one_log", "HTTP, 1 log, keep-alive"), (f"http_{logs}_logs", f"HTTP, {logs} logs")):
        figure = figures[name]
        warning = "  (machine busy: disturbed)" if figure["machine_other_cpu_share"] > 0.10 else ""
        failures = f"  FAILURES: {figure['failures']}" if "failures" in figure else ""
        print(f"  {label:<32} {figure['per_s']:>10.0f}  = {figure['ratio_to_ed25519_sign']:.3f} x baseline"
              f"{warning}{failures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
