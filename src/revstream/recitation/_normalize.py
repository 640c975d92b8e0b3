"""Normalized words: what "the same text" means to the registry, the guard and the audit.

A text is first cut into **segments**, then each segment is normalized and split into words:

* A cut falls before every *cut character*: whitespace, ASCII punctuation and symbols, and
  the CJK ideographs and kana (each of which is a word of its own). These characters are
  Unicode starters that never compose with what precedes them, so normalizing each segment
  alone gives the same result as normalizing the whole text, and a word never spans a cut.
  A segment is also cut after `SEGMENT_CHARS_MAX` characters without a cut character (a
  long URL, a Thai sentence): this bounds what the streaming guard holds back.
* A segment is normalized as NFKC, case-folded, then NFKC again (so a fold that produces
  a compatibility character is normalized too).
* Its words are the maximal runs of letters, combining marks and digits (Unicode general
  categories L, M, N); a CJK ideograph or kana (with any marks after it) is a word alone.
  Everything else (punctuation, symbols, whitespace) only separates words.

The segmentation is the definition, used by the whole-text functions (`words`) and the
streaming `SegmentScanner` alike, so a text streamed in any chunks yields exactly the
words of the whole text: the property the guard's guarantee rests on.

Limits, stated: the rules follow the Unicode tables of the running Python
(`unicodedata.unidata_version`, recorded in fingerprint files); words joined by non-ASCII
punctuation without a space ("l’été") split at it (consistently on every side); scripts
written without spaces, other than CJK, give one word per segment.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Iterator

SEGMENT_CHARS_MAX = 32
"""Longest segment, in characters; the guard never holds back more than this."""

_SINGLE_CHARS = "\u3041-\u3096\u30a1-\u30fa\u3400-\u4dbf\u4e00-\u9fff"
"""Hiragana, katakana and CJK unified ideographs (base and extension A): cut characters,
and one word each."""

_SINGLE_WORD_CHARS = _SINGLE_CHARS + "\uf900-\ufaff\U00020000-\U0003134f"
"""After NFKC: the singletons above plus the supplementary ideographs (not cut characters,
so they never start a segment, but one word each all the same)."""

CUT_PATTERN = re.compile(r"[\s!-/:-@\[-`{-~" + _SINGLE_CHARS + "]")

MARK_SCAN_RANGES = ((0, 0x20000), (0xE0000, 0xE1000))
"""Code points scanned for combining marks (category M): the planes where Unicode assigns them."""

UNICODE_VERSION = unicodedata.unidata_version


def _ranges_class(code_points: list[int]) -> str:
    parts, start, previous = [], None, None
    for code_point in code_points:
        if start is None:
            start = previous = code_point
        elif code_point == previous + 1:
            previous = code_point
        else:
            parts.append((start, previous))
            start = previous = code_point
    if start is not None:
        parts.append((start, previous))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in parts)


@lru_cache(maxsize=1)
def _mark_class() -> str:
    category = unicodedata.category
    marks = [cp for low, high in MARK_SCAN_RANGES for cp in range(low, high) if category(chr(cp))[0] == "M"]
    return _ranges_class(marks)


@lru_cache(maxsize=1)
def word_pattern() -> re.Pattern[str]:
    """Words of a normalized segment: a singleton with its marks, or a run of L/M/N
    characters other than singletons (built once; scanning the mark table takes ~25 ms)."""
    marks = _mark_class()
    return re.compile(
        f"[{_SINGLE_WORD_CHARS}][{marks}]*|(?:(?![{_SINGLE_WORD_CHARS}])[^\\W_]|[{marks}])+"
    )


def normalize_segment(segment: str) -> str:
    once = unicodedata.normalize("NFKC", segment)
    return unicodedata.normalize("NFKC", once.casefold())


def segment_words(segment: str) -> list[str]:
    """The normalized words of one segment."""
    return word_pattern().findall(normalize_segment(segment))


def segments(text: str) -> Iterator[str]:
    """Cut `text` into segments (see the module's docstring); their concatenation is `text`."""
    start = 0
    for match in CUT_PATTERN.finditer(text, 1):
        end = match.start()
        while end - start > SEGMENT_CHARS_MAX:
            yield text[start:start + SEGMENT_CHARS_MAX]
            start += SEGMENT_CHARS_MAX
        if end > start:
            yield text[start:end]
            start = end
    while len(text) - start > SEGMENT_CHARS_MAX:
        yield text[start:start + SEGMENT_CHARS_MAX]
        start += SEGMENT_CHARS_MAX
    if start < len(text):
        yield text[start:]


def words(text: str) -> list[str]:
    """Every normalized word of `text`, in order."""
    pattern, found = word_pattern(), []
    for segment in segments(text):
        found.extend(pattern.findall(normalize_segment(segment)))
    return found


class SegmentScanner:
    """`segments` for a text that arrives in pieces: `feed` returns the segments the new
    text settled, `finish` the last one. Holds back only the segment being formed (at most
    SEGMENT_CHARS_MAX characters)."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = ""

    @property
    def pending(self) -> str:
        return self._pending

    def feed(self, text: str) -> list[str]:
        pending = self._pending + text
        settled: list[str] = []
        start = 0
        # A cut can only be found in what just arrived (and the character before it could
        # not have been one, or it would have settled already): scan from there.
        scan_from = max(1, len(self._pending))
        for match in CUT_PATTERN.finditer(pending, scan_from):
            end = match.start()
            while end - start > SEGMENT_CHARS_MAX:
                settled.append(pending[start:start + SEGMENT_CHARS_MAX])
                start += SEGMENT_CHARS_MAX
            if end > start:
                settled.append(pending[start:end])
                start = end
        while len(pending) - start >= SEGMENT_CHARS_MAX:
            settled.append(pending[start:start + SEGMENT_CHARS_MAX])
            start += SEGMENT_CHARS_MAX
        self._pending = pending[start:]
        return settled

    def finish(self) -> list[str]:
        pending, self._pending = self._pending, ""
        return [pending] if pending else []

