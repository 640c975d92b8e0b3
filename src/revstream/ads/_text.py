"""Words and phrases: the one tokenizer every matcher in revstream.ads uses.

A text becomes a tuple of *terms*: Unicode word runs, case-folded, with inner apostrophes
kept (``i'm``, ``don't``) and a light plural folding (``shoes`` → ``shoe``, ``elections`` →
``election``, ``batteries`` → ``battery``). Hyphens and punctuation separate words, so
``self-harm`` and ``self harm`` are the same two terms. Keywords, taxonomy keywords and the
sensitive lexicon go through the same function, so both sides of every comparison agree.

A *phrase* is a tuple of 1..``phrase_terms_max`` terms. ``PhraseTable`` finds every occurrence
of its phrases in a term sequence with one dictionary probe per position for most positions
(it keeps, per first term, the phrase lengths that start with it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, TypeVar

from revstream.ads._errors import AdsValueError

phrase_terms_max = 5
"""Longest phrase, in terms, that any table holds."""
text_chars_max = 1_000_000
"""Longest text tokenized; the caller decides what longer text means (the classifier: no ad)."""

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# Words a plural folding would confuse with another word: kept as written.
_KEEP = frozenset({
    "news", "series", "species", "means", "physics", "politics", "economics", "mathematics", "ethics",
    "lens", "gas", "christmas", "chess", "texas", "paris", "always", "perhaps", "whereas", "thus", "this",
    "was", "has", "does", "yes", "his", "hers", "its", "ours", "yours", "theirs", "is", "us", "bus", "plus",
    "campus", "virus", "status", "bonus", "focus", "census", "genus", "cactus", "lupus", "anus", "penis",
    "diabetes", "herpes", "rabies", "scabies", "measles", "mumps", "aids", "sars", "covid", "jesus",
    "moses", "hindus", "less", "unless", "across", "process", "access", "address", "business", "dress",
    "glass", "grass", "class", "boss", "loss", "kiss", "miss", "pass", "mass", "chaos", "iris", "analysis",
    "crisis", "thesis", "basis", "tennis", "alias", "atlas", "canvas", "bias", "gps", "ios", "macos",
    "windows", "jeans", "pants", "trousers", "shorts", "glasses", "sunglasses", "scissors", "headphones",
    "earphones", "earbuds", "goggles", "clothes", "sims",
})
# Plurals the suffix rules fold wrongly, and a few irregular ones.
_IRREGULAR = {
    "aches": "ache", "headaches": "headache", "toothaches": "toothache", "stomachaches": "stomachache",
    "backaches": "backache", "earaches": "earache", "heartaches": "heartache", "niches": "niche",
    "caches": "cache", "avalanches": "avalanche", "quiches": "quiche", "moustaches": "moustache",
    "mustaches": "mustache", "cliches": "cliche", "tomatoes": "tomato", "potatoes": "potato",
    "heroes": "hero", "echoes": "echo", "children": "child", "women": "woman", "men": "man",
    "teeth": "tooth", "feet": "foot", "knives": "knife", "wives": "wife", "mice": "mouse",
}


def fold_term(word: str) -> str:
    """One word, already lower-cased, with its plural folded (see the module docstring)."""
    irregular = _IRREGULAR.get(word)
    if irregular is not None:
        return irregular
    if len(word) <= 3 or word in _KEEP:
        return word
    if word.endswith("'s"):
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


def terms(text: str) -> tuple[str, ...]:
    """The terms of ``text``: case-folded words with plurals folded and ``’`` read as ``'``."""
    if len(text) > text_chars_max:
        raise AdsValueError(f"a text longer than {text_chars_max} characters is not tokenized")
    return tuple(fold_term(word.replace("’", "'")) for word in _WORD.findall(text.casefold()))


def phrase(text: str) -> tuple[str, ...]:
    """A keyword or lexicon entry as a phrase; refuses an empty or over-long one."""
    found = terms(text)
    if not found or len(found) > phrase_terms_max:
        raise AdsValueError(f"a phrase has 1..{phrase_terms_max} words, not {text!r}")
    return found


def phrase_text(value: tuple[str, ...]) -> str:
    """How a phrase is shown (in *why this ad*, in leaves): its terms joined by one space."""
    return " ".join(value)


V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Match(Generic[V]):
    """One occurrence: ``length`` terms from ``start`` form ``phrase``, which the table maps to ``value``."""

    start: int
    length: int
    phrase: tuple[str, ...]
    value: V

    @property
    def end(self) -> int:
        return self.start + self.length


class PhraseTable(Generic[V]):
    """An immutable map from phrases to values that finds them in a term sequence."""

    __slots__ = ("_values", "_lengths")

    def __init__(self, entries: Iterable[tuple[tuple[str, ...], V]]) -> None:
        values: dict[tuple[str, ...], V] = {}
        lengths: dict[str, set[int]] = {}
        for key, value in entries:
            if not key or len(key) > phrase_terms_max:
                raise AdsValueError(f"a phrase has 1..{phrase_terms_max} terms, not {key!r}")
            values[key] = value
            lengths.setdefault(key[0], set()).add(len(key))
        self._values: Mapping[tuple[str, ...], V] = MappingProxyType(values)
        self._lengths = MappingProxyType({first: tuple(sorted(n, reverse=True)) for first, n in lengths.items()})

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def get(self, key: tuple[str, ...]) -> V | None:
        return self._values.get(key)

    def items(self) -> Iterable[tuple[tuple[str, ...], V]]:
        return self._values.items()

    def find(self, found_terms: tuple[str, ...]) -> Iterator[Match[V]]:
        """Every occurrence of every phrase, overlapping ones included, by start then length (longest first)."""
        values, lengths = self._values, self._lengths
        count = len(found_terms)
        for start, first in enumerate(found_terms):
            candidates = lengths.get(first)
            if candidates is None:
                continue
            for length in candidates:
                if start + length > count:
                    continue
                key = found_terms[start:start + length]
                if key in values:
                    yield Match(start, length, key, values[key])
