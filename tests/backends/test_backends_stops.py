"""StopScanner: emit what is safe, hold back what could still become a stop, cut at the stop.

The reference semantics are those of a generator that checks its text as it grows:
generation stops at the first point where the text so far ends with a stop sequence,
and the output is the text before that stop sequence. (When two stops end at the same
point, the longer one wins: its start is earlier.) How the text is split into pieces
must not change the result.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from revstream.backends import StopScanner


def reference(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """Text to emit and whether a stop occurs, reading `text` left to right."""
    stops = tuple(stop for stop in stops if stop)
    for end in range(1, len(text) + 1):
        ending_here = [stop for stop in stops if text.endswith(stop, 0, end)]
        if ending_here:
            return text[: end - max(map(len, ending_here))], True
    return text, False


def scan(pieces: list[str], stops: tuple[str, ...]) -> tuple[str, bool, list[tuple[str, bool]]]:
    scanner = StopScanner(stops)
    results = [scanner.feed(piece) for piece in pieces]
    emitted = "".join(text for text, _ in results) + scanner.flush()
    return emitted, scanner.stopped, results


# Unit tests -----------------------------------------------------------------------------


def test_without_stops_text_passes_straight_through():
    scanner = StopScanner(())
    assert scanner.feed("hello ") == ("hello ", False)
    assert scanner.feed("world") == ("world", False)
    assert scanner.flush() == ""
    assert scanner.stopped is False


def test_empty_stop_strings_are_ignored():
    scanner = StopScanner(("", ""))
    assert scanner.feed("anything") == ("anything", False)
    assert scanner.flush() == ""


def test_stop_inside_one_piece_cuts_before_it():
    scanner = StopScanner(("END",))
    assert scanner.feed("hello END world") == ("hello ", True)
    assert scanner.stopped is True


def test_stop_at_the_very_start_emits_nothing():
    scanner = StopScanner(("\n",))
    assert scanner.feed("\nrest") == ("", True)


def test_stop_split_across_pieces_is_held_back_then_cut():
    scanner = StopScanner(("END",))
    assert scanner.feed("hel") == ("hel", False)
    assert scanner.feed("lo E") == ("lo ", False)  # "E" could start the stop
    assert scanner.feed("N") == ("", False)  # "EN" still could
    assert scanner.feed("D more") == ("", True)
    assert scanner.flush() == ""


def test_held_tail_is_released_when_it_cannot_become_a_stop():
    scanner = StopScanner(("END",))
    assert scanner.feed("abc E") == ("abc ", False)
    assert scanner.feed("x") == ("Ex", False)
    assert scanner.flush() == ""


def test_flush_returns_the_held_tail_when_generation_ends_without_a_stop():
    scanner = StopScanner(("END",))
    assert scanner.feed("abc EN") == ("abc ", False)
    assert scanner.flush() == "EN"
    assert scanner.flush() == ""  # flushing twice gives the tail once
    assert scanner.stopped is False


def test_after_a_stop_later_input_is_ignored():
    scanner = StopScanner(("!",))
    assert scanner.feed("hi!") == ("hi", True)
    assert scanner.feed("more text") == ("", True)
    assert scanner.flush() == ""


def test_earliest_of_several_stops_wins():
    scanner = StopScanner(("world", "lo"))
    assert scanner.feed("hello world") == ("hel", True)


def test_overlapping_stop_prefixes_are_both_held():
    scanner = StopScanner(("abc", "bcd"))
    assert scanner.feed("xab") == ("x", False)
    assert scanner.feed("cd") == ("", True)


def test_non_ascii_stops():
    scanner = StopScanner(("——", "日本"))
    assert scanner.feed("a—") == ("a", False)
    assert scanner.feed("b日") == ("—b", False)
    assert scanner.feed("本語") == ("", True)


def test_only_the_longest_possible_stop_prefix_is_held():
    scanner = StopScanner(("aaab",))
    assert scanner.feed("aaaa") == ("a", False)  # "aaa" may still become "aaab"
    assert scanner.feed("b") == ("", True)


def test_a_stop_inside_a_longer_stop_gives_the_same_result_however_the_text_is_split():
    stops = ("abb", "b")
    assert scan(["ab", "b"], stops)[0] == "a"  # "b" completes first: generation stops there
    assert scan(["abb"], stops)[0] == "a"  # same text in one piece: currently "" (cut at "abb")


# Properties -----------------------------------------------------------------------------

ALPHABET = "ab"
texts = st.text(alphabet=ALPHABET + "c", max_size=30)
stop_strings = st.text(alphabet=ALPHABET, max_size=4)


@st.composite
def splits(draw: st.DrawFn, text: str) -> list[str]:
    """`text` cut at any positions, empty pieces included."""
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *cuts, len(text)]
    return [text[start:end] for start, end in zip(bounds, bounds[1:])]


def substring_free(stops: list[str]) -> bool:
    """No stop inside another (equal stops count once): then "first to start" and "first
    to end" are the same occurrence, so the reference is unambiguous."""
    live = {stop for stop in stops if stop}
    return not any(a != b and a in b for a in live for b in live)


@st.composite
def cases(draw: st.DrawFn, only_substring_free: bool) -> tuple[str, list[str], tuple[str, ...]]:
    stop_lists = st.lists(stop_strings, min_size=1, max_size=3)
    stops = tuple(draw(stop_lists.filter(substring_free) if only_substring_free else stop_lists))
    text = draw(texts)
    return text, draw(splits(text)), stops


def check(text: str, pieces: list[str], stops: tuple[str, ...]) -> None:
    assert "".join(pieces) == text
    expected, occurs = reference(text, stops)
    scanner = StopScanner(stops)
    emitted, fed = "", ""
    longest_stop = max((len(stop) for stop in stops), default=0)
    for piece in pieces:
        was_stopped = scanner.stopped
        out, stopped = scanner.feed(piece)
        fed += piece
        emitted += out
        assert stopped is scanner.stopped
        if was_stopped:
            assert (out, stopped) == ("", True)
        # Safety: never emit text that a later stop would have cut.
        assert expected.startswith(emitted)
        # Liveness: hold back less than the longest stop.
        if not stopped:
            assert len(fed) - len(emitted) < max(longest_stop, 1)
    emitted += scanner.flush()
    assert emitted == expected
    assert scanner.stopped is occurs


@settings(max_examples=400, deadline=None)
@given(cases(only_substring_free=True))
def test_any_split_emits_the_text_before_the_first_stop(case):
    check(*case)


@settings(max_examples=400, deadline=None)
@given(cases(only_substring_free=False))
@example(("abb", ["abb"], ("abb", "b")))
def test_any_split_and_any_stops_emit_the_text_before_the_first_stop(case):
    check(*case)


def test_reference_semantics():
    assert reference("hello world", ("o w",)) == ("hell", True)
    assert reference("hello", ("x",)) == ("hello", False)
    assert reference("abb", ("abb", "b")) == ("a", True)  # "b" ends first
    assert reference("abc", ("bc", "c")) == ("a", True)  # same end: the longer stop
    assert reference("abc", ("",)) == ("abc", False)
