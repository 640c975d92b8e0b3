"""The built-in acceptable-use classifier: phrase and pattern rules over normalized text.

Fast and dependency-free, for the embedded default; a Llama Guard model on an upstream is the
production choice (`LlamaGuardClassifier`). Text is normalized once (case-folded, apostrophes
dropped, every run of other non-alphanumerics made one space); a rule fires when one of its
trigger words occurs as a word of the text, every one of its patterns is found, and its
`unless` pattern is not. Trigger words keep the cost proportional to the text, not to the rules:
most rules never run a regular expression on a benign prompt. Rules are compiled once, when the
classifier is built. English only: other languages pass as safe.

The rules are tuned on tests/licence/data/prompts.jsonl; prompts_holdout.jsonl was written
before them and is reported separately (bench/licence.py) as the fairer figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ._builtin_rules import RULES, SUPPRESSES
from ._policy import SAFE, Verdict

_DROPPED = re.compile(r"['’`]")
_SEPARATORS = re.compile(r"[^0-9a-z]+")
TEXT_CHARS_MAX = 64 * 1024  # longer text is classified on its first and last halves of this


@dataclass(frozen=True, slots=True)
class _Rule:
    category: str
    triggers: frozenset[str]
    patterns: tuple[re.Pattern, ...]
    unless: re.Pattern | None


def normalize(text: str) -> str:
    """Lower case, apostrophes dropped, other non-alphanumerics as single spaces."""
    return _SEPARATORS.sub(" ", _DROPPED.sub("", text.casefold())).strip()


class BuiltinClassifier:
    """Classifies one text (`classify_text`) or the last message of a role (`classify`)."""

    name = "builtin"

    def __init__(self) -> None:
        self._rules = tuple(
            _Rule(category, frozenset(triggers.split()), tuple(re.compile(p) for p in patterns),
                  re.compile(unless) if unless else None)
            for category, triggers, patterns, unless in RULES
        )
        self._by_trigger: dict[str, tuple[_Rule, ...]] = {}
        for rule in self._rules:
            for word in rule.triggers:
                self._by_trigger[word] = self._by_trigger.get(word, ()) + (rule,)

    def classify_text(self, text: str) -> Verdict:
        if len(text) > TEXT_CHARS_MAX:
            half = TEXT_CHARS_MAX // 2
            text = text[:half] + " " + text[-half:]
        normalized = normalize(text)
        candidates: dict[int, _Rule] = {}
        for word in set(normalized.split()):
            for rule in self._by_trigger.get(word, ()):
                candidates[id(rule)] = rule
        found = set()
        for rule in candidates.values():
            if rule.category in found:
                continue
            if all(p.search(normalized) for p in rule.patterns) and not (rule.unless and rule.unless.search(normalized)):
                found.add(rule.category)
        for category in tuple(found):
            found.difference_update(SUPPRESSES.get(category, ()))
        return Verdict.of(found) if found else SAFE

    async def classify(self, messages: Sequence[tuple[str, str]], role: str = "user") -> Verdict:
        """The verdict on the last message of `role` ("user" for prompts, "assistant" for
        outputs), as Llama Guard assesses "ONLY THE LAST" message of its role."""
        for message_role, content in reversed(messages):
            if message_role == role:
                return self.classify_text(content)
        return SAFE
