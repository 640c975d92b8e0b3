"""Completion tokens/s of the embedded model through the gateway, against
llama-cpp-python called directly on the same GGUF; with --threads, tokens/s for each
candidate thread count, on a quiet machine and beside a CPU hog.

Usage: python bench/embedded_tokens.py [--runs N] [--max-tokens T] [--json]
       python bench/embedded_tokens.py --threads [--runs N] [--max-tokens T] [--run-s-max S] [--json]

The gateway is `revstream serve` on its embedded default (no --config: SQLite,
SmolLM2 through llama-cpp-python), driven by the official `openai` client with
streaming and `stream_options={"include_usage": True}`; completion tokens come
from the final usage chunk. The baseline runs llama-cpp-python in this process
with the same GGUF, n_ctx, n_batch and thread count as the gateway's backend,
the same chat-formatted prompt and the same sampling (greedy: temp 0, top_k 0,
top_p 1, min_p 0, fixed seed), decoding each token as it comes, as a minimal
streaming application would.

Runs alternate (gateway, direct, gateway, ...) and never overlap: the gateway is
idle while the baseline generates. Each run's tokens/s is completion tokens over
the wall time from sending the request to the last token; the figure reported is
the median over the runs, after one warm-up run each.

Target (the issue): the gateway reaches at least 95% of the direct tokens/s.

--threads (issue 12, item 10): the model is loaded once per candidate thread count
(1, physical cores - 1, min(2, cores), the backend's default `default_threads()`, all
cores), and each generates the same prompt in turn: first on the machine as it is,
then beside a CPU hog (one busy-loop process per core, started and killed here).
Each run stops after --max-tokens or --run-s-max seconds, whichever comes first.
The table gives median tokens/s per thread count and condition, and each one's ratio
to the chosen default's in the same condition of the same run.

The benchmark prints figures and ratios; it asserts nothing.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import statistics
import sys
import time
from pathlib import Path

from _common import (
    OTHER_CPU_SHARE_WARN,
    Children,
    OtherLoad,
    create_key,
    disturbed_runs,
    progress,
    ratio,
    scratch_dir,
    start_gateway,
    wait_for_quiet,
)

TOKENS_PER_S_RATIO_TARGET = 0.95
SEED = 1234
PROMPT = (
    "Write a detailed, step-by-step guide to baking a loaf of sourdough bread at home, "
    "from feeding the starter to slicing the finished loaf."
)
MODEL_NAME = "smollm2-135m-instruct"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per side (default 5)")
    parser.add_argument("--max-tokens", type=int, default=256, help="max_tokens per run (default 256)")
    parser.add_argument("--quiet-wait", type=float, default=120.0,
                        help="seconds to wait at most for other work on the machine to calm down first (default 120)")
    parser.add_argument("--client", choices=("raw", "openai"), default="raw",
                        help="raw: a lean SSE reader (the gateway's cost alone); openai: the official SDK, "
                             "whose per-chunk parsing shares the two cores (default raw)")
    parser.add_argument("--threads", action="store_true",
                        help="measure each candidate thread count, quiet and beside a CPU hog (item 10)")
    parser.add_argument("--run-s-max", type=float, default=5.0,
                        help="--threads: seconds one run may take at most (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    args = parser.parse_args()
    if args.threads and "--runs" not in sys.argv:
        args.runs = 3
    if args.threads and "--max-tokens" not in sys.argv:
        args.max_tokens = 64
    return args


# --- through the gateway -------------------------------------------------------------


class RawClient:
    """A lean streaming client: reads the server-sent events and parses only the last
    data event (the usage chunk), so the figure is the gateway's, not a client
    library's per-chunk parsing. `--client openai` uses the official SDK instead."""

    def __init__(self, base_url: str, key: str) -> None:
        import httpx

        self._client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=300)

    def run(self, max_tokens: int) -> dict:
        body = {
            "model": MODEL_NAME, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens,
            "temperature": 0, "seed": SEED, "stream": True, "stream_options": {"include_usage": True},
        }
        started = time.perf_counter()
        first_token_s, last = None, b""
        with self._client.stream("POST", "/chat/completions", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                if first_token_s is None and '"content":"' in line and '"content":""' not in line:
                    first_token_s = time.perf_counter() - started
                last = line
        elapsed_s = time.perf_counter() - started
        usage = json.loads(last[6:]).get("usage")
        if not usage:
            raise RuntimeError("the gateway's stream ended without a usage chunk")
        return _figures(usage["completion_tokens"], elapsed_s, first_token_s)

    def close(self) -> None:
        self._client.close()


class SdkClient:
    def __init__(self, base_url: str, key: str) -> None:
        from openai import OpenAI

        self._client = OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=300)

    def run(self, max_tokens: int) -> dict:
        return gateway_run(self._client, max_tokens)

    def close(self) -> None:
        self._client.close()


def gateway_run(client, max_tokens: int) -> dict:
    started = time.perf_counter()
    first_token_s = None
    usage = None
    stream = client.chat.completions.create(
        model=MODEL_NAME, messages=[{"role": "user", "content": PROMPT}], max_tokens=max_tokens,
        temperature=0, seed=SEED, stream=True, stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content and first_token_s is None:
            first_token_s = time.perf_counter() - started
        if chunk.usage is not None:
            usage = chunk.usage
    elapsed_s = time.perf_counter() - started
    if usage is None:
        raise RuntimeError("the gateway's stream ended without a usage chunk")
    return _figures(usage.completion_tokens, elapsed_s, first_token_s)


# --- llama-cpp-python directly ---------------------------------------------------------------


class Direct:
    """The same model, loaded and prompted the way the gateway's llama.cpp backend does."""

    def __init__(self, threads: int | None = None) -> None:
        import llama_cpp

        from revstream.backends import ChatMessage, embedded_gguf_path
        from revstream.backends._llamacpp import default_threads
        from revstream.backends._template import ChatTemplate
        from revstream.backends._vocab import Vocabulary
        from revstream.config import ModelConfig

        defaults = ModelConfig(name=MODEL_NAME, backend="llamacpp")
        self.threads = threads or defaults.n_threads or default_threads()
        self.n_ctx = defaults.n_ctx
        self.llama_cpp = llama_cpp
        self.llama = llama_cpp.Llama(model_path=str(embedded_gguf_path()), n_ctx=defaults.n_ctx,
                                     n_threads=self.threads, n_threads_batch=self.threads, n_batch=defaults.n_batch,
                                     verbose=False)
        vocab = Vocabulary(self.llama)
        template = ChatTemplate(vocab.chat_template_source, vocab.bos_text, vocab.eos_text)
        self.prompt_tokens = vocab.tokenize_pieces(template.render((ChatMessage("user", PROMPT),)))

    def run(self, max_tokens: int, run_s_max: float | None = None) -> dict:
        llama = self.llama
        started = time.perf_counter()
        deadline = started + run_s_max if run_s_max else None
        first_token_s = None
        llama.set_seed(SEED)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        vocab = llama._model.vocab
        completion_tokens = 0
        for token in llama.generate(self.prompt_tokens, top_k=0, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
            if self.llama_cpp.llama_vocab_is_eog(vocab, token):
                break
            completion_tokens += 1
            if decoder.decode(llama.detokenize([token])) and first_token_s is None:
                first_token_s = time.perf_counter() - started
            if completion_tokens >= max_tokens or (deadline and time.perf_counter() >= deadline):
                break
        return _figures(completion_tokens, time.perf_counter() - started, first_token_s)


def _figures(completion_tokens: int, elapsed_s: float, first_token_s: float | None) -> dict:
    decode_s = elapsed_s - (first_token_s or 0.0)
    return {
        "tokens_completion": completion_tokens,
        "elapsed_s": elapsed_s,
        "tokens_per_s": completion_tokens / elapsed_s,
        "time_to_first_token_ms": (first_token_s or 0.0) * 1000,
        # after the first token: generation alone, without queueing and prompt processing
        "decode_tokens_per_s": (completion_tokens - 1) / decode_s if completion_tokens > 1 and decode_s > 0 else 0.0,
    }


def median_run(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


# --- report -------------------------------------------------------------------------


def summarize(gateway_runs: list[dict], direct_runs: list[dict], direct: Direct, args: argparse.Namespace) -> dict:
    gateway, baseline = median_run(gateway_runs), median_run(direct_runs)
    tokens_ratio = ratio(gateway["tokens_per_s"], baseline["tokens_per_s"])
    counts = {run["tokens_completion"] for run in gateway_runs + direct_runs}
    return {
        "settings": {"client": args.client, "runs": args.runs, "max_tokens": args.max_tokens, "seed": SEED, "n_ctx": direct.n_ctx,
                     "n_threads": direct.threads, "prompt_tokens": len(direct.prompt_tokens), "model": MODEL_NAME},
        "gateway": {**gateway, "runs": gateway_runs},
        "direct": {**baseline, "runs": direct_runs},
        "tokens_per_s_ratio": tokens_ratio,
        "decode_tokens_per_s_ratio": ratio(gateway["decode_tokens_per_s"], baseline["decode_tokens_per_s"]),
        "same_completion_tokens": len(counts) == 1,
        "disturbed_runs": disturbed_runs(gateway_runs + direct_runs),
        "targets": {"tokens_per_s_ratio_min": TOKENS_PER_S_RATIO_TARGET,
                    "tokens_per_s_ratio_met": tokens_ratio >= TOKENS_PER_S_RATIO_TARGET},
    }


def print_human(figures: dict) -> None:
    settings = figures["settings"]
    print(f"embedded model tokens/s: {settings['model']}, {settings['n_threads']} threads, n_ctx {settings['n_ctx']}, "
          f"max_tokens {settings['max_tokens']}; medians of {settings['runs']} runs")
    print(f"\n{'':30}{'direct':>12}{'gateway':>12}{'gateway/direct':>16}")
    for label, key in (("completion tokens", "tokens_completion"), ("tokens/s (request to last)", "tokens_per_s"),
                       ("decode tokens/s (after 1st)", "decode_tokens_per_s"),
                       ("time to first token ms", "time_to_first_token_ms")):
        direct, gateway = figures["direct"][key], figures["gateway"][key]
        print(f"{label:30}{direct:>12.1f}{gateway:>12.1f}{ratio(gateway, direct):>16.3f}")
    spread = {side: [run["tokens_per_s"] for run in figures[side]["runs"]] for side in ("direct", "gateway")}
    print(f"{'tokens/s min..max':30}{min(spread['direct']):>6.0f}..{max(spread['direct']):<4.0f}"
          f"{min(spread['gateway']):>7.0f}..{max(spread['gateway']):<4.0f}")
    print(f"{'other processes CPU share':30}{figures['direct']['machine_other_cpu_share']:>12.1%}"
          f"{figures['gateway']['machine_other_cpu_share']:>12.1%}")
    targets = figures["targets"]
    verdict = "meets" if targets["tokens_per_s_ratio_met"] else "MISSES"
    print(f"\ntokens/s, gateway/direct: {figures['tokens_per_s_ratio']:.3f} "
          f"(target >= {targets['tokens_per_s_ratio_min']:g}: {verdict})")
    if figures["disturbed_runs"]:
        print(f"WARNING: in {figures['disturbed_runs']} run(s) other processes used more than "
              f"{OTHER_CPU_SHARE_WARN:.0%} of the machine's CPU; the figures are disturbed (see the JSON)")
    if not figures["same_completion_tokens"]:
        print("note: the runs did not all generate the same number of tokens")


# --- thread counts, quiet and beside a CPU hog (--threads) ---------------------------


HOG_CODE = "while True:\n    pass\n"
HOG_SETTLE_S = 0.5


def physical_cores() -> int:
    """Distinct (package, core) pairs among the CPUs this process may use."""
    from revstream.backends._llamacpp import available_cores

    pairs = set()
    for cpu in os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ():
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            pairs.add(((topology / "physical_package_id").read_text(), (topology / "core_id").read_text()))
        except OSError:
            return available_cores()
    return len(pairs) or available_cores()


def thread_candidates() -> tuple[list[int], int, int, int]:
    from revstream.backends._llamacpp import available_cores, default_threads

    cores, physical = available_cores(), physical_cores()
    chosen = default_threads()
    candidates = sorted({1, max(1, physical - 1), min(2, cores), chosen, cores})
    return candidates, chosen, cores, physical


class Hog:
    """One busy-loop process per core, for the length of a `with` block."""

    def __init__(self, children: Children, workdir: Path, processes: int) -> None:
        self._children, self._workdir, self._count = children, workdir, processes
        self.processes: list = []

    def __enter__(self) -> "Hog":
        for index in range(self._count):
            log_path = self._workdir / f"hog-{index}.log"
            self.processes.append(self._children.start("hog", [sys.executable, "-c", HOG_CODE], log_path))
        time.sleep(HOG_SETTLE_S)
        return self

    def __exit__(self, *exc_info) -> None:
        for process in self.processes:
            self._children.stop(process)


def sweep_threads(args: argparse.Namespace) -> dict:
    candidates, chosen, cores, physical = thread_candidates()
    progress(f"{cores} cores ({physical} physical); candidates {candidates}; default {chosen}")
    models = {}
    for threads in candidates:
        progress(f"loading the GGUF with {threads} thread(s)")
        models[threads] = Direct(threads)
        models[threads].run(8)  # warm-up
    runs: dict[str, dict[int, list[dict]]] = {"quiet": {t: [] for t in candidates}, "hog": {t: [] for t in candidates}}
    with Children() as children, scratch_dir("revstream-bench-hog-") as workdir:
        for condition in ("quiet", "hog"):
            hog = Hog(children, workdir, cores if condition == "hog" else 0)
            with hog:
                own = [process.pid for process in hog.processes]
                for run in range(1, args.runs + 1):
                    for threads in candidates:
                        with OtherLoad(own) as load:
                            figures = models[threads].run(args.max_tokens, args.run_s_max)
                        runs[condition][threads].append({**figures, **load.figures})
                    progress(f"{condition} run {run}/{args.runs}: " + ", ".join(
                        f"{t} thr {runs[condition][t][-1]['tokens_per_s']:.1f} tok/s" for t in candidates))
    return summarize_threads(runs, candidates, chosen, cores, physical, args)


def summarize_threads(runs, candidates, chosen, cores, physical, args) -> dict:
    rows = []
    for threads in candidates:
        row = {"threads": threads, "default": threads == chosen}
        for condition in ("quiet", "hog"):
            row[condition] = median_run(runs[condition][threads])
            row[f"{condition}_runs"] = runs[condition][threads]
        rows.append(row)
    default_row = next(row for row in rows if row["default"])
    for row in rows:
        for condition in ("quiet", "hog"):
            row[f"{condition}_ratio_to_default"] = ratio(row[condition]["tokens_per_s"],
                                                         default_row[condition]["tokens_per_s"])
        row["hog_over_quiet"] = ratio(row["hog"]["tokens_per_s"], row["quiet"]["tokens_per_s"])
    return {
        "settings": {"cores": cores, "physical_cores": physical, "default_threads": chosen, "runs": args.runs,
                     "max_tokens": args.max_tokens, "run_s_max": args.run_s_max, "hog_processes": cores,
                     "model": MODEL_NAME},
        "rows": rows,
        "disturbed_quiet_runs": disturbed_runs([run for row in rows for run in row["quiet_runs"]]),
    }


def print_threads(figures: dict) -> None:
    settings = figures["settings"]
    print(f"embedded model tokens/s by thread count: {settings['model']}, {settings['cores']} cores "
          f"({settings['physical_cores']} physical), medians of {settings['runs']} runs of up to "
          f"{settings['max_tokens']} tokens or {settings['run_s_max']:g} s; hog = {settings['hog_processes']} "
          f"busy-loop processes")
    print(f"\n{'threads':>9}{'quiet tok/s':>13}{'hog tok/s':>11}{'hog/quiet':>11}{'quiet/default':>15}"
          f"{'hog/default':>13}")
    for row in figures["rows"]:
        label = f"{row['threads']}{' *' if row['default'] else '  '}"
        print(f"{label:>9}{row['quiet']['tokens_per_s']:>13.1f}{row['hog']['tokens_per_s']:>11.1f}"
              f"{row['hog_over_quiet']:>11.3f}{row['quiet_ratio_to_default']:>15.3f}{row['hog_ratio_to_default']:>13.3f}")
    print(f"\n* the default (default_threads() = {settings['default_threads']}); ratios are to it, same condition, same run")
    if figures["disturbed_quiet_runs"]:
        print(f"WARNING: in {figures['disturbed_quiet_runs']} quiet run(s) other processes used more than "
              f"{OTHER_CPU_SHARE_WARN:.0%} of the CPU; those figures are disturbed (see --json)")


def main() -> int:
    args = parse_args()
    if args.threads:
        try:
            wait_for_quiet(args.quiet_wait)
            figures = sweep_threads(args)
        except KeyboardInterrupt:
            progress("interrupted; every process was stopped")
            return 130
        print(json.dumps(figures, indent=2) if args.json else "", end="\n" if args.json else "")
        if not args.json:
            print_threads(figures)
        return 0
    try:
        wait_for_quiet(args.quiet_wait)
        with Children() as children, scratch_dir("revstream-bench-") as workdir:
            home = workdir / "home"
            progress("starting revstream serve on the embedded default (loads SmolLM2)")
            gateway, gateway_process, _ = start_gateway(children, home, None)
            own_pgids = [gateway_process.pid]
            key = create_key(home, None)
            progress("loading the same GGUF with llama-cpp-python in this process")
            direct = Direct()
            client = (SdkClient if args.client == "openai" else RawClient)(gateway + "/v1", key)
            progress(f"warm-up: one run each ({args.client} client)")
            client.run(args.max_tokens)
            direct.run(args.max_tokens)
            gateway_runs, direct_runs = [], []
            for run in range(1, args.runs + 1):
                with OtherLoad(own_pgids) as load:
                    gateway_runs.append(client.run(args.max_tokens))
                gateway_runs[-1].update(load.figures)
                with OtherLoad(own_pgids) as load:
                    direct_runs.append(direct.run(args.max_tokens))
                direct_runs[-1].update(load.figures)
                progress(f"run {run}/{args.runs}: gateway {gateway_runs[-1]['tokens_per_s']:.1f} tokens/s, "
                         f"direct {direct_runs[-1]['tokens_per_s']:.1f} tokens/s "
                         f"({direct_runs[-1]['tokens_completion']} tokens; other processes used "
                         f"{gateway_runs[-1]['machine_other_cpu_share']:.0%} / "
                         f"{direct_runs[-1]['machine_other_cpu_share']:.0%} of the CPU)")
            client.close()
    except KeyboardInterrupt:
        progress("interrupted; every process was stopped")
        return 130
    figures = summarize(gateway_runs, direct_runs, direct, args)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_human(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
