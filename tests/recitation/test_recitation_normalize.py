"""Normalized words: the definition, and the streaming scanner that must agree with it."""

from __future__ import annotations

import sys
import unicodedata

from hypothesis import given, settings, strategies as st

from revstream.recitation import SEGMENT_CHARS_MAX, SegmentScanner, segments, words
from revstream.recitation._normalize import MARK_SCAN_RANGES, _mark_class, segment_words

# Text that exercises the rules: letters, marks, CJK, kana, fullwidth and compatibility forms,
# punctuation of every kind, whitespace of every kind.
ALPHABET = st.sampled_from(
    list("abcXYZ019 \t\n,.;:'\"!?-—–()[]<>/\\_*&%$#@") + ["\u0301", "\u0338", "\u3099", "\uff76", "\uff9e", "\u00a0",
    "\u3000", "\u2028", "ﬁ", "½", "①", "™", "ß", "İ", "Σ", "ς", "中", "文", "か", "ガ", "\U00020000", "é", "e\u0301",
    "ह", "ि", "्", "ก", "ำ", "\u200b", "\u00ad", "'", "’"])
TEXT = st.lists(ALPHABET, max_size=120).map("".join)


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in zip(points, points[1:])]


def test_examples() -> None:
    assert words("Hello, World! Don’t stop—ÉTÉ ﬁne ½ Straße") == [
        "hello", "world", "don", "t", "stop", "été", "fine", "1", "2", "strasse"]
    assert words("中文字 かな") == ["中", "文", "字", "か", "な"]
    assert words("ｶﾞｲﾄﾞ") == ["ガ", "イ", "ド"]  # halfwidth katakana and its voiced mark compose
    assert words("e\u0301cole") == words("école") == ["école"]
    assert words("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # combining marks stay inside words
    assert words("  \n\t ...!!! ") == []
    assert words("snake_case and kebab-case") == ["snake", "case", "and", "kebab", "case"]


def test_mark_class_covers_every_combining_mark() -> None:
    """The mark class is built from a partial scan (for speed at start): no mark lies outside it."""
    scanned = [range(low, high) for low, high in MARK_SCAN_RANGES]
    outside = [cp for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp))[0] == "M"
               and not any(cp in r for r in scanned)]
    assert outside == []
    assert "\u0301" in _mark_class() or "\\\u0301" in _mark_class() or "\u0300-" in _mark_class()


@settings(max_examples=400, deadline=None)
@given(TEXT, st.lists(st.integers(0, 130), max_size=12))
def test_streamed_segments_equal_the_whole_texts(text: str, cuts: list[int]) -> None:
    scanner, streamed = SegmentScanner(), []
    for piece in chunked(text, cuts):
        streamed += scanner.feed(piece)
        assert len(scanner.pending) < SEGMENT_CHARS_MAX
    streamed += scanner.finish()
    assert streamed == list(segments(text))
    assert "".join(streamed) == text
    assert all(0 < len(s) <= SEGMENT_CHARS_MAX for s in streamed)


@settings(max_examples=300, deadline=None)
@given(TEXT, TEXT)
def test_words_of_a_text_are_its_segments_words_and_whitespace_separates(a: str, b: str) -> None:
    assert words(a) == [w for s in segments(a) for w in segment_words(s)]
    # A cut character ends everything before it: what follows cannot change those words.
    assert words(a + " " + b) == words(a) + words(" " + b)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_normalization_is_idempotent_on_words(text: str) -> None:
    """Words written out again read as the same words (so a model quoting normalized text is caught)."""
    found = words(text)
    assert words(" ".join(found)) == found
