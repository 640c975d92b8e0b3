"""Stop sequences over streamed text: emit as much as is safe, hold back any tail
that could still become a stop sequence, and report where a stop was found."""

from __future__ import annotations


class StopScanner:
    """Feed text pieces; get back the text that may be emitted now.

    `feed` returns (text_to_emit, stopped). Once stopped, later input is ignored.
    `flush` returns the held-back tail when generation ends without a stop.
    """

    __slots__ = ("_stops", "_held", "stopped")

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(stop for stop in stops if stop)
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> tuple[str, bool]:
        if self.stopped:
            return "", True
        if not self._stops:
            return text, False
        buffer = self._held + text
        # The stop that ends first is the one a token-by-token scan meets first, so the
        # result does not depend on how the text was chunked.
        found = [(index + len(stop), index) for stop in self._stops if (index := buffer.find(stop)) >= 0]
        if found:
            cut = min(found)[1]
            self._held = ""
            self.stopped = True
            return buffer[:cut], True
        keep = self._longest_stop_prefix_suffix(buffer)
        self._held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return "" if self.stopped else held

    def _longest_stop_prefix_suffix(self, buffer: str) -> int:
        best = 0
        for stop in self._stops:
            for length in range(min(len(stop) - 1, len(buffer)), best, -1):
                if buffer.endswith(stop[:length]):
                    best = length
                    break
        return best
