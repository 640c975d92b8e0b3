"""Registered works and the catalog the guard reads: works by number, and the window index.

A work is known to the index by its **number** (a uint32 the host assigns, stored with
each window hash) and to people by its id, title and holder. Its **mode** says what the
guard does with a recitation: `block` stops the generation, `cite` lets the text flow and
attributes it. Its **limit** is the longest span of its words a response may carry; with
W-word windows the guard can enforce any limit of at least 2W - 2 words (30 for the
default 16-word windows), see `_guard`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ._errors import WorkError
from ._hashing import FingerprintKey, WindowHasher
from ._index import WORK_NUMBER_MAX, WindowIndex

MODE_BLOCK = "block"
MODE_CITE = "cite"
MODES = (MODE_BLOCK, MODE_CITE)
LIMIT_WORDS_DEFAULT = 30
LIMIT_WORDS_MAX = 100_000
TITLE_CHARS_MAX = 300
NAME_CHARS_MAX = 200


def limit_words_min(window_words: int) -> int:
    """The smallest limit the guard can hold with windows of this size: any copy of
    2W - 1 words contains a whole stored window, so it is caught before its last word."""
    return 2 * window_words - 2


@dataclass(frozen=True, slots=True)
class Work:
    number: int
    work_id: str
    title: str
    holder_id: str
    holder: str
    mode: str = MODE_BLOCK
    limit_words: int = LIMIT_WORDS_DEFAULT

    def public(self) -> dict:
        """What a response's `recitation` object says about the work."""
        return {"work_id": self.work_id, "title": self.title, "holder": self.holder}


def check_limit(limit_words: int, window_words: int) -> int:
    """The limit if the guard can enforce it with these windows, else WorkError."""
    if isinstance(limit_words, bool) or not isinstance(limit_words, int):
        raise WorkError("a limit is a whole number of words")
    low = limit_words_min(window_words)
    if not low <= limit_words <= LIMIT_WORDS_MAX:
        raise WorkError(f"a limit must lie in {low}..{LIMIT_WORDS_MAX} words with {window_words}-word windows "
                        f"(a copy of {low + 1} words always contains a whole window); got {limit_words}")
    return limit_words


def _text(name: str, value: str, chars_max: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise WorkError(f"a work's {name} must not be empty")
    if len(value) > chars_max or any(ch in value for ch in "\r\n\0"):
        raise WorkError(f"a work's {name} is one line of at most {chars_max} characters")
    return value


def new_work(number: int, work_id: str, title: str, holder_id: str, holder: str, *, window_words: int,
             mode: str = MODE_BLOCK, limit_words: int | None = None,
             host_limit_words: int = LIMIT_WORDS_DEFAULT) -> Work:
    """A work as `works add` will register it: every field checked, the host's limit by default."""
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= WORK_NUMBER_MAX:
        raise WorkError(f"a work number lies in 0..{WORK_NUMBER_MAX}")
    if mode not in MODES:
        raise WorkError(f"a work's mode is one of {', '.join(MODES)}, not {mode!r}")
    limit = check_limit(host_limit_words if limit_words is None else limit_words, window_words)
    return Work(number, _text("id", work_id, NAME_CHARS_MAX), _text("title", title, TITLE_CHARS_MAX),
                _text("holder id", holder_id, NAME_CHARS_MAX), _text("holder", holder, NAME_CHARS_MAX), mode, limit)


class Catalog:
    """What the guard consults: the host's key, its index segments and the works in force.
    A hash whose work is not in `works` (removed, or not committed yet) is ignored."""

    __slots__ = ("key", "hasher", "_indexes", "_works")

    def __init__(self, key: FingerprintKey, indexes: Sequence[WindowIndex], works: Iterable[Work]) -> None:
        for index in indexes:
            if index.key_id != key.key_id or index.window_words != key.window_words:
                raise WorkError(f"an index segment was built with key {index.key_id} and {index.window_words}-word "
                                f"windows, not this host's key {key.key_id} ({key.window_words} words)")
        self.key = key
        self.hasher = WindowHasher(key)
        self._indexes = tuple(index for index in indexes if len(index))
        self._works = {work.number: work for work in works}
        for work in self._works.values():
            check_limit(work.limit_words, key.window_words)

    @property
    def window_words(self) -> int:
        return self.key.window_words

    @property
    def works(self) -> tuple[Work, ...]:
        return tuple(self._works[number] for number in sorted(self._works))

    def hits(self, window_hash: int) -> tuple[Work, ...]:
        found: list[Work] = []
        for index in self._indexes:
            for number in index.lookup(window_hash):
                work = self._works.get(number)
                if work is not None:
                    found.append(work)
        return tuple(found)


def next_work_number(numbers: Iterable[int]) -> int:
    """The number `works add` gives a new work: one past the highest ever given (numbers
    of removed works are not reused, so an old event never names a new work)."""
    highest = max(numbers, default=0)
    if highest >= WORK_NUMBER_MAX:
        raise WorkError("no work number left")
    return highest + 1
