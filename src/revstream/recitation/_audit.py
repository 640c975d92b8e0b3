"""The author audit's statistics: which excerpts, what counts as reproduced, how sure.

The CLI (`revstream audit-work`) tokenizes the work with the model's tokenizer, asks this
module where to cut excerpts, prompts the model with each prefix, decodes greedily, and
hands the outputs back here to be scored and reported. Nothing here runs a model.

* Excerpts: the work's tokens are cut into blocks of `suffix` tokens (50 by default);
  every block but the first is a possible excerpt, prompted with the `prefix` tokens
  before it (50 by default; all of the work before it where that is fewer). `samples`
  blocks are drawn at random with a seed, so a run can be repeated exactly. The suffixes
  never overlap; a prefix may hold the text of another excerpt's suffix, a mild
  dependence the interval below ignores. A long prefix (`--prefix-tokens 2000`) asks
  whether the model continues the work *given everything before*, the strongest form of
  the test: extraction grows with the prefix's length.
* Reproduced: an excerpt counts as reproduced when the model's greedy continuation of the
  prefix gives back every complete normalized word of the work's next `suffix` tokens
  (normalized as the recitation guard does: case, punctuation and spacing aside). The
  byte-exact variant (the continuation starts with the suffix tokens' exact text, the
  50-token extraction criterion of Carlini et al., "Quantifying Memorization Across
  Neural Language Models", ICLR 2023) is reported beside it.
* Interval: a Wilson score interval for the share of reproduced excerpts at the given
  confidence (95% by default); it stays meaningful at 0 of n and n of n, where the normal
  approximation collapses to a point.
"""

from __future__ import annotations

import hashlib
import math
import random
import statistics
from dataclasses import dataclass
from typing import Sequence

from ._errors import AuditError
from ._normalize import CUT_PATTERN, words

PREFIX_TOKENS_DEFAULT = 50
SUFFIX_TOKENS_DEFAULT = 50
SAMPLES_DEFAULT = 20
SAMPLES_MAX = 1000
TOKENS_MAX = 4096
"""Largest prefix or suffix accepted, in tokens."""
CONFIDENCE_DEFAULT = 0.95
EVIDENCE_MAX = 5
"""Excerpts quoted in a report: the reproduced ones first, then the longest matches."""

CAVEATS = (
    "A work that is not reproduced may still have been trained on. Models reproduce only a "
    "fraction of their training text verbatim from a short prefix under greedy decoding; how much "
    "depends on the model's size, on how often the text was seen, on the prefix length and on the "
    "decoding (Carlini et al., 'Quantifying Memorization Across Neural Language Models', ICLR 2023). "
    "Sampled decoding, longer prefixes or other prompts can bring out text this audit does not.",
    "This audit does not compute membership-inference scores, because on language models they are "
    "close to chance on realistic benchmarks: Duan et al., 'Do Membership Inference Attacks Work on "
    "Large Language Models?' (COLM 2024) find near-random results on the MIMIR benchmark; Das, Zhang "
    "and Tramèr, 'Blind Baselines Beat Membership Inference Attacks for Foundation Models' (2024) show "
    "that reported successes come from differences between the member and non-member texts, not "
    "from the model; Maini et al., 'LLM Dataset Inference: Did you train on my dataset?' (NeurIPS 2024) "
    "reach the same conclusion for single documents.",
    "A reproduced excerpt shows that the model can output the text, not how it came to: the text may "
    "have reached the training data through quotations, other editions or copies, and passages that "
    "are common (quotations, set phrases, boilerplate) or predictable (lists, repetitions) are "
    "reproduced without the work being memorized.",
    "The interval describes the uncertainty of sampling excerpts from this work with these settings; "
    "it says nothing about other decoding settings, other prompts or other models.",
)


def excerpt_starts(token_count: int, prefix_tokens: int, suffix_tokens: int, samples: int, seed: int) -> tuple[int, ...]:
    """Token offsets of the excerpts' suffixes, drawn with `seed` among the blocks of
    `suffix_tokens` after the first; each is prompted with the tokens
    [max(0, start - prefix_tokens), start)."""
    for name, value, high in (("prefix tokens", prefix_tokens, TOKENS_MAX), ("suffix tokens", suffix_tokens, TOKENS_MAX),
                              ("samples", samples, SAMPLES_MAX)):
        if not 1 <= value <= high:
            raise AuditError(f"{name} must lie in 1..{high}")
    blocks = token_count // suffix_tokens - 1
    if blocks < 1:
        raise AuditError(f"the work has {token_count} tokens; one excerpt needs {2 * suffix_tokens}")
    chosen = random.Random(seed).sample(range(1, blocks + 1), min(samples, blocks))
    return tuple(sorted(index * suffix_tokens for index in chosen))


def prefix_start(start: int, prefix_tokens: int) -> int:
    """Where an excerpt's prompt begins: `prefix_tokens` before its suffix, or the work's start."""
    return max(0, start - prefix_tokens)


@dataclass(frozen=True, slots=True)
class ExcerptOutcome:
    start_token: int
    prefix_text: str
    expected_text: str
    generated_text: str
    # Leading suffix tokens whose exact text the continuation begins with.
    matched_tokens: int
    expected_tokens: int
    # Leading complete normalized words of the suffix that the continuation gives back.
    matched_words: int
    expected_words: int

    @property
    def reproduced(self) -> bool:
        return self.expected_words > 0 and self.matched_words >= self.expected_words

    @property
    def reproduced_exact(self) -> bool:
        return self.matched_tokens >= self.expected_tokens

    def json(self) -> dict:
        return {"start_token": self.start_token, "prefix": self.prefix_text, "expected": self.expected_text,
                "generated": self.generated_text, "matched_words": self.matched_words,
                "expected_words": self.expected_words, "matched_tokens": self.matched_tokens,
                "expected_tokens": self.expected_tokens, "reproduced": self.reproduced,
                "reproduced_exact": self.reproduced_exact}


def _complete_words(text: str) -> list[str]:
    """The normalized words of `text`, without a last word the cut may have split."""
    found = words(text)
    if found and text and CUT_PATTERN.match(text[-1]) is None:
        found.pop()
    return found


def score_excerpt(start_token: int, prefix_text: str, expected_pieces: Sequence[bytes], generated_text: str) -> ExcerptOutcome:
    """Score one continuation against the work's suffix, given as each token's bytes."""
    generated = generated_text.encode("utf-8")
    expected_bytes = b"".join(expected_pieces)
    matched_tokens, covered = 0, 0
    for piece in expected_pieces:
        if generated[covered:covered + len(piece)] != piece:
            break
        covered += len(piece)
        matched_tokens += 1
    expected_text = expected_bytes.decode("utf-8", errors="replace")
    expected_words = _complete_words(expected_text)
    generated_words = words(generated_text)
    matched_words = 0
    for want, got in zip(expected_words, generated_words):
        if want != got:
            break
        matched_words += 1
    return ExcerptOutcome(start_token, prefix_text, expected_text, generated_text, matched_tokens,
                          len(expected_pieces), matched_words, len(expected_words))


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE_DEFAULT) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise AuditError("a proportion needs 0 <= successes <= trials and trials > 0")
    if not 0 < confidence < 1:
        raise AuditError("confidence lies strictly between 0 and 1")
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    share = successes / trials
    denominator = 1 + z * z / trials
    centre = (share + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, not 1e-17 off
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True, slots=True)
class AuditReport:
    model: str
    work_sha256: str
    work_tokens: int
    prefix_tokens: int
    suffix_tokens: int
    samples_requested: int
    seed: int
    outcomes: tuple[ExcerptOutcome, ...]
    confidence: float = CONFIDENCE_DEFAULT

    @property
    def reproduced(self) -> int:
        return sum(outcome.reproduced for outcome in self.outcomes)

    @property
    def reproduced_exact(self) -> int:
        return sum(outcome.reproduced_exact for outcome in self.outcomes)

    def _tally(self, count: int) -> dict:
        low, high = wilson_interval(count, len(self.outcomes), self.confidence)
        return {"count": count, "samples": len(self.outcomes), "share": count / len(self.outcomes),
                "interval": [low, high]}

    def longest(self) -> ExcerptOutcome:
        return max(self.outcomes, key=lambda o: (o.matched_words, o.matched_tokens, -o.start_token))

    def evidence(self, limit: int = EVIDENCE_MAX) -> tuple[ExcerptOutcome, ...]:
        ranked = sorted(self.outcomes, key=lambda o: (not o.reproduced, -o.matched_words, o.start_token))
        return tuple(ranked[:limit])

    def json(self, evidence_max: int = EVIDENCE_MAX) -> dict:
        longest = self.longest()
        return {
            "model": self.model,
            "work": {"sha256": self.work_sha256, "tokens": self.work_tokens},
            "method": {
                "excerpts": "non-overlapping blocks of suffix tokens drawn with the seed, each prompted with the "
                            "prefix tokens before it (all of the work before it where fewer)",
                "prefix_tokens": self.prefix_tokens, "suffix_tokens": self.suffix_tokens,
                "samples_requested": self.samples_requested, "samples": len(self.outcomes), "seed": self.seed,
                "decoding": "greedy (temperature 0)",
                "reproduced": "the continuation gives back every complete normalized word of the suffix",
                "reproduced_exact": "the continuation begins with the suffix tokens' exact text",
                "interval": f"Wilson score interval, {self.confidence:.0%} confidence",
            },
            "reproduced": self._tally(self.reproduced),
            "reproduced_exact": self._tally(self.reproduced_exact),
            "longest_match": {"words": longest.matched_words, "tokens": longest.matched_tokens,
                              "start_token": longest.start_token},
            "evidence": [outcome.json() for outcome in self.evidence(evidence_max)],
            "caveats": list(CAVEATS),
        }

    def text(self) -> str:
        tally, exact, longest = self._tally(self.reproduced), self._tally(self.reproduced_exact), self.longest()
        low, high = tally["interval"]
        lines = [
            f"audit of a work ({self.work_tokens} tokens, sha256 {self.work_sha256[:16]}...) against model {self.model}",
            f"{len(self.outcomes)} excerpts: up to {self.prefix_tokens} tokens of prompt, {self.suffix_tokens} to "
            f"reproduce; seed {self.seed}, greedy decoding",
            "",
            f"reproduced (normalized words of all {self.suffix_tokens} suffix tokens): {tally['count']} of "
            f"{tally['samples']} = {tally['share']:.1%}  ({self.confidence:.0%} Wilson interval {low:.1%} .. {high:.1%})",
            f"reproduced byte for byte: {exact['count']} of {exact['samples']} = {exact['share']:.1%}",
            f"longest match: {longest.matched_words} words ({longest.matched_tokens} exact tokens) "
            f"at token {longest.start_token}",
        ]
        for outcome in self.evidence(3):
            lines += ["", f"excerpt at token {outcome.start_token}: {outcome.matched_words}/{outcome.expected_words} words",
                      f"  prefix   : {outcome.prefix_text[-120:]!r}", f"  expected : {outcome.expected_text[:120]!r}",
                      f"  generated: {outcome.generated_text[:120]!r}"]
        lines += ["", "What this audit cannot show:"] + [f"  - {caveat}" for caveat in CAVEATS]
        return "\n".join(lines)


def work_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
