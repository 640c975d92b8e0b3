"""The streaming recitation guard: a pure state machine between the model and the client.

Feed it the text deltas as the model generates them; each `feed` returns an `Emit`: the
text that may be sent now, and, when a `block` work is being recited, the `stop`. After a
stop the caller ends the response (`finish_reason: "content_filter"` and the `recitation`
object); `finish()` releases what is held when the model ends by itself.

How it holds the limit. Text is cut into segments (see `_normalize`); a segment is
released only once every window of W words ending in it has been looked up. The guard
therefore holds back just the segment being formed: usually one word with the space
before it, at most SEGMENT_CHARS_MAX (32) characters, far less than one window; and
nothing it sent can complete a window it has not checked. (Holding back a whole window
would let it cut a recitation well below the limit, at the price of a window's latency on
every response; the limit itself needs no more than this.) The index stores each work's non-overlapping
W-word windows; the guard looks up every window of the output, one word apart. So:

* a copied span of a work shorter than W words is never seen; one of 2W - 1 words or more
  always contains a stored window, which the guard finds at the window's last word;
* at that first hit the copy may have started up to W - 1 words before the window, so
  the client has received at most (W - 1) + (W - 1) = 2W - 2 words of it;
* a copy that goes on hits the work's next window exactly W words later. Letting the text
  flow past the k-th hit lets through up to (k + 2)W - 2 copied words before the next
  chance to stop, so a `block` work with limit L is stopped at the first hit k with
  (k + 2)W - 2 > L. With W = 16 and the default L = 30 that is the first hit.

Hence no response carries more than L consecutive normalized words of a `block` work
(hash collisions can only stop more, never less), streamed or not, and text that recites
nothing passes unchanged: the concatenation of every `Emit.text` equals the input. A
`cite` work is attributed at its first hit (a copy of at least W words) and never stopped.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from ._errors import RecitationError
from ._normalize import SegmentScanner, segment_words
from ._works import MODE_BLOCK, Catalog, Work


@dataclass(frozen=True, slots=True)
class RecitationHit:
    """A registered work found in the output."""

    work: Work
    action: str
    window_hash: int
    # The output's word count at the hit: the window's last word (1-based).
    word_position: int


@dataclass(frozen=True, slots=True)
class Emit:
    """What `feed` or `finish` lets through: text to send now, the stop if a `block` work
    is being recited (send nothing more), and the citations found in this step."""

    text: str
    stop: RecitationHit | None = None
    citations: tuple[RecitationHit, ...] = ()


RUNS_KEPT_MAX = 64
"""Works whose run the guard tracks before it forgets those not hit within one window."""


class GuardFinished(RecitationError):
    """`feed` or `finish` was called after `finish`."""


class Guard:
    __slots__ = ("_catalog", "_hasher", "_window_words", "_scanner", "_window", "_words", "_runs",
                 "_cited", "_stop", "_finished")

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._hasher = catalog.hasher
        self._window_words = catalog.window_words
        self._scanner = SegmentScanner()
        self._window: collections.deque[str] = collections.deque(maxlen=self._window_words)
        self._words = 0
        # Per work number: (word position of its last hit, hits in the current run).
        self._runs: dict[int, tuple[int, int]] = {}
        self._cited: dict[int, RecitationHit] = {}
        self._stop: RecitationHit | None = None
        self._finished = False

    @property
    def stop(self) -> RecitationHit | None:
        return self._stop

    @property
    def citations(self) -> tuple[RecitationHit, ...]:
        """Every `cite` work attributed so far, in the order found."""
        return tuple(self._cited.values())

    @property
    def words(self) -> int:
        """Normalized words checked so far."""
        return self._words

    def feed(self, text: str) -> Emit:
        if self._finished:
            raise GuardFinished("feed after finish")
        if self._stop is not None:
            return Emit("", self._stop)
        return self._release(self._scanner.feed(text))

    def finish(self) -> Emit:
        """The end of the generation: check and release the segment held back."""
        if self._finished:
            raise GuardFinished("finish called twice")
        self._finished = True
        if self._stop is not None:
            return Emit("", self._stop)
        return self._release(self._scanner.finish())

    def _release(self, segments: list[str]) -> Emit:
        released: list[str] = []
        citations: list[RecitationHit] = []
        window, catalog, hasher, size = self._window, self._catalog, self._hasher, self._window_words
        for segment in segments:
            for word in segment_words(segment):
                window.append(word)
                self._words += 1
                if self._words < size:
                    continue
                window_hash = hasher.hash_words(window)
                works = catalog.hits(window_hash)
                if works and self._judge(works, window_hash, citations):
                    return Emit("".join(released), self._stop, tuple(citations))
            released.append(segment)
        return Emit("".join(released), None, tuple(citations))

    def _judge(self, works: tuple[Work, ...], window_hash: int, citations: list[RecitationHit]) -> bool:
        """Count the hit in each work's run; True once a `block` work must stop."""
        position, size = self._words, self._window_words
        if len(self._runs) > RUNS_KEPT_MAX:  # a run not hit within a window has ended
            self._runs = {n: run for n, run in self._runs.items() if position - run[0] <= size}
        for work in works:
            last, run = self._runs.get(work.number, (0, 0))
            run = run + 1 if last and position - last <= size else 1
            self._runs[work.number] = (position, run)
            if work.mode == MODE_BLOCK:
                if (run + 2) * size - 2 > work.limit_words and self._stop is None:
                    self._stop = RecitationHit(work, MODE_BLOCK, window_hash, position)
            elif work.number not in self._cited:
                hit = RecitationHit(work, work.mode, window_hash, position)
                self._cited[work.number] = hit
                citations.append(hit)
        return self._stop is not None
