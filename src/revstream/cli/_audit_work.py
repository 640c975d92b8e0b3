"""`revstream audit-work FILE.txt --model M`: how much of a work a served model reproduces.

Runs the model named in the config file through `revstream.backends` (the backend `serve`
would use: the embedded llama.cpp model, or an upstream), without the gateway or the store.
The work is tokenized with the model's own vocabulary (the GGUF file of a llama.cpp model,
or the `tokenizer` an upstream model declares); the excerpts, scoring and interval are
`revstream.recitation`'s. Nothing is recorded; the text stays on this machine.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ..config import Config, ModelConfig
from ..recitation import (
    PREFIX_TOKENS_DEFAULT,
    SAMPLES_DEFAULT,
    SUFFIX_TOKENS_DEFAULT,
    AuditError,
    AuditReport,
    RecitationError,
    excerpt_starts,
    prefix_start,
    score_excerpt,
    work_sha256,
)
from ._output import JSON_HELP, fail, print_json, progress_reporter
from ._works import read_text

EXTRA_TOKENS_MAX = 16
"""Tokens generated beyond the suffix, so a continuation that spaces differently can still
give back every word of it."""
SEED = 0
CONTEXT_MARGIN_TOKENS = 8
"""Room left in the context for the tokens a re-tokenized prompt may gain (the BOS token)."""


def add_parsers(commands) -> None:
    audit = commands.add_parser(
        "audit-work", help="measure how much of a work a served model reproduces verbatim",
        description="Draws excerpts of the work, prompts the model with each prefix, decodes greedily and reports "
                    "the share reproduced for the whole suffix (50 tokens by default) with a Wilson interval, the "
                    "longest match and the evidence, and what such an audit cannot show.")
    audit.add_argument("file", help="the work, UTF-8 text")
    audit.add_argument("--model", required=True, help="a model of the config file (name or alias)")
    audit.add_argument("--samples", type=int, default=SAMPLES_DEFAULT, help=f"excerpts (default {SAMPLES_DEFAULT})")
    audit.add_argument("--prefix-tokens", type=int, default=PREFIX_TOKENS_DEFAULT,
                       help=f"tokens of the work given as the prompt (default {PREFIX_TOKENS_DEFAULT})")
    audit.add_argument("--suffix-tokens", type=int, default=SUFFIX_TOKENS_DEFAULT,
                       help=f"tokens that must be reproduced (default {SUFFIX_TOKENS_DEFAULT})")
    audit.add_argument("--seed", type=int, default=0, help="seed of the excerpt draw (default 0)")
    audit.add_argument("--json", action="store_true", help=JSON_HELP)


def handles(args) -> bool:
    return args.command == "audit-work"


class _Vocabulary:
    """The model's tokenizer, loaded from a GGUF file without its weights."""

    def __init__(self, gguf_path: Path) -> None:
        from llama_cpp import Llama

        self._llama = Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)

    def tokenize(self, text: str) -> list[int]:
        return self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def detokenize(self, tokens: list[int]) -> bytes:
        return self._llama.detokenize(tokens)


def _gguf_path(backend, model: ModelConfig) -> Path:
    path = getattr(backend, "gguf_path", None) or model.tokenizer
    if path is None:
        raise AuditError(f"model {model.name} declares no tokenizer; set `tokenizer = \"model.gguf\"` in its config")
    return Path(path)


def _suffix_pieces(vocabulary: _Vocabulary, prefix: list[int], suffix: list[int]) -> tuple[bytes, list[bytes]]:
    """The prefix's bytes and each suffix token's bytes as they read after the prefix."""
    texts = [vocabulary.detokenize(prefix + suffix[:count]) for count in range(len(suffix) + 1)]
    if all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:])):
        return texts[0], [later[len(earlier):] for earlier, later in zip(texts, texts[1:])]
    return texts[0], [vocabulary.detokenize([token]) for token in suffix]


async def _continue(backend, model: str, prompt: str, max_tokens: int) -> str:
    from ..backends import GenerationRequest, TextDelta, UsageMeter

    request = GenerationRequest(endpoint="completion", model=model, prompt=prompt, max_tokens=max_tokens,
                                temperature=0.0, top_p=1.0, seed=SEED)
    prepared = await backend.prepare(request)
    parts = []
    async for event in backend.execute(prepared, UsageMeter()):
        if isinstance(event, TextDelta):
            parts.append(event.text)
    return "".join(parts)


async def _audit(backend, model: ModelConfig, vocabulary: _Vocabulary, tokens: list[int], starts, args):
    await backend.start()
    try:
        ready, why = await backend.ready()
        if not ready:
            raise AuditError(f"model {model.name} is not available: {why}")
        max_tokens = args.suffix_tokens + min(EXTRA_TOKENS_MAX, args.suffix_tokens)
        # A prompt longer than the model's context is cut to its last tokens that fit.
        window = getattr(backend, "context_window", None)
        prefix_cap = window - max_tokens - CONTEXT_MARGIN_TOKENS if window else args.prefix_tokens
        if prefix_cap < 1:
            raise AuditError(f"model {model.name}'s context of {window} tokens cannot hold {max_tokens} more")
        outcomes = []
        report = progress_reporter("excerpts")
        for done, start in enumerate(starts):
            report(done, len(starts))
            prefix = tokens[max(prefix_start(start, args.prefix_tokens), start - prefix_cap):start]
            suffix = tokens[start:start + args.suffix_tokens]
            prefix_bytes, pieces = _suffix_pieces(vocabulary, prefix, suffix)
            prompt = prefix_bytes.decode("utf-8", errors="replace")
            generated = await _continue(backend, model.name, prompt, max_tokens)
            outcomes.append(score_excerpt(start, prompt, pieces, generated))
        report(len(starts), len(starts))
        return tuple(outcomes)
    finally:
        await backend.close()


def run(args, config: Config) -> int:
    from ..backends import BackendError, make_backend  # the model stack loads only for this command, as for serve

    model = config.model_named(args.model)
    if model is None:
        return fail(f"no model {args.model!r} in the configuration (known: {', '.join(m.name for m in config.models)})", 2)
    try:
        text = read_text(Path(args.file))
        backend = make_backend(model)
        vocabulary = _Vocabulary(_gguf_path(backend, model))
        tokens = vocabulary.tokenize(text)
        starts = excerpt_starts(len(tokens), args.prefix_tokens, args.suffix_tokens, args.samples, args.seed)
        outcomes = asyncio.run(_audit(backend, model, vocabulary, tokens, starts, args))
    except RecitationError as error:
        return fail(str(error), 2)
    except BackendError as error:
        return fail(f"model {model.name}: {error}", 1)
    audit = AuditReport(model.name, work_sha256(text), len(tokens), args.prefix_tokens, args.suffix_tokens,
                        args.samples, args.seed, outcomes)
    if args.json:
        print_json(audit.json())
    else:
        sys.stdout.write(audit.text() + "\n")
    return 0
