"""Fingerprint files: a work's window hashes, computed where the text is, without the text.

Format, version 1 (UTF-8 text, "\\n" line ends, every line required and in this order):

    revstream-fingerprint 1
    key-id 3fa2b19c04d7e811          the id of the host's fingerprint key (see `_hashing`)
    window-words 16                  words per window (from that key)
    unicode 15.0.0                   the Unicode tables the text was normalized with
    words 98213                      normalized words in the text
    windows 6138                     hash lines below
                                     (one empty line)
    0004f2a1c3b2d9e1                 the hashes of the text's non-overlapping windows,
    ...                              16 lowercase hex digits, strictly ascending, one a line

The hashes are sorted and de-duplicated, so the file keeps neither the order of the windows
nor how often one recurs; a text shorter than one window has no fingerprint. A host adds the
work from this file exactly as from the text itself: `fingerprint_text(text, key)` is what
both sides run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._errors import FingerprintError, WorkError
from ._hashing import FingerprintKey, WindowHasher, hash_hex
from ._normalize import UNICODE_VERSION, words

FINGERPRINT_FORMAT = "revstream-fingerprint"
FINGERPRINT_VERSION = 1
FINGERPRINT_WINDOWS_MAX = 1_000_000
"""Most windows in one fingerprint (16 million words at 16 words a window)."""

_HEADER_FIELDS = ("key-id", "window-words", "unicode", "words", "windows")
_HASH_LINE = re.compile(r"[0-9a-f]{16}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_UNICODE = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    key_id: str
    window_words: int
    words: int
    unicode_version: str
    hashes: tuple[int, ...]

    def __post_init__(self) -> None:
        if any(b <= a for a, b in zip(self.hashes, self.hashes[1:])):
            raise FingerprintError("a fingerprint's hashes are strictly ascending")
        if not self.hashes:
            raise FingerprintError("a fingerprint holds at least one window")
        if len(self.hashes) > FINGERPRINT_WINDOWS_MAX:
            raise FingerprintError(f"a fingerprint holds at most {FINGERPRINT_WINDOWS_MAX} windows")


def fingerprint_words(normalized: list[str], key: FingerprintKey) -> Fingerprint:
    hasher = WindowHasher(key)
    if len(normalized) < key.window_words:
        raise WorkError(f"a work needs at least {key.window_words} words; this text has {len(normalized)}")
    hashes = tuple(sorted(set(hasher.aligned_hashes(normalized))))
    return Fingerprint(key.key_id, key.window_words, len(normalized), UNICODE_VERSION, hashes)


def fingerprint_text(text: str, key: FingerprintKey) -> Fingerprint:
    """The fingerprint of a work's text under a host's key (what holder and host both run)."""
    return fingerprint_words(words(text), key)


def format_fingerprint(fingerprint: Fingerprint) -> str:
    header = (
        f"{FINGERPRINT_FORMAT} {FINGERPRINT_VERSION}\n"
        f"key-id {fingerprint.key_id}\n"
        f"window-words {fingerprint.window_words}\n"
        f"unicode {fingerprint.unicode_version}\n"
        f"words {fingerprint.words}\n"
        f"windows {len(fingerprint.hashes)}\n\n"
    )
    return header + "".join(hash_hex(value) + "\n" for value in fingerprint.hashes)


def _count(name: str, text: str) -> int:
    if not text.isdigit() or (len(text) > 1 and text[0] == "0") or len(text) > 12:
        raise FingerprintError(f"fingerprint field {name} must be a number, not {text!r}")
    return int(text)


def parse_fingerprint(text: str) -> Fingerprint:
    """Parse a fingerprint file; FingerprintError names the first thing wrong."""
    if not text.endswith("\n"):
        raise FingerprintError("a fingerprint file ends with a newline (is it truncated?)")
    lines = text[:-1].split("\n")
    if lines[0] != f"{FINGERPRINT_FORMAT} {FINGERPRINT_VERSION}":
        if lines[0].startswith(FINGERPRINT_FORMAT + " "):
            raise FingerprintError(f"unknown fingerprint version {lines[0].split(' ', 1)[1]!r} (this is version 1)")
        raise FingerprintError(f"not a fingerprint file (its first line must be '{FINGERPRINT_FORMAT} 1')")
    fields = {}
    for position, name in enumerate(_HEADER_FIELDS, start=1):
        line = lines[position] if position < len(lines) else ""
        found, _, value = line.partition(" ")
        if found != name:
            raise FingerprintError(f"fingerprint line {position + 1} must be '{name} ...', not {line!r}")
        fields[name] = value
    body_start = len(_HEADER_FIELDS) + 1
    if len(lines) <= body_start or lines[body_start] != "":
        raise FingerprintError("an empty line must follow the fingerprint's header")
    if _KEY_ID.fullmatch(fields["key-id"]) is None:
        raise FingerprintError("fingerprint key-id must be 16 lowercase hex digits")
    if _UNICODE.fullmatch(fields["unicode"]) is None:
        raise FingerprintError("fingerprint unicode must be a version such as 15.0.0")
    windows = _count("windows", fields["windows"])
    hash_lines = lines[body_start + 1:]
    if windows > FINGERPRINT_WINDOWS_MAX:
        raise FingerprintError(f"a fingerprint holds at most {FINGERPRINT_WINDOWS_MAX} windows")
    if len(hash_lines) != windows:
        raise FingerprintError(f"the fingerprint declares {windows} windows but holds {len(hash_lines)}")
    for number, line in enumerate(hash_lines, start=body_start + 2):
        if _HASH_LINE.fullmatch(line) is None:
            raise FingerprintError(f"fingerprint line {number} is not a window hash (16 lowercase hex digits)")
    return Fingerprint(fields["key-id"], _count("window-words", fields["window-words"]),
                       _count("words", fields["words"]), fields["unicode"],
                       tuple(int(line, 16) for line in hash_lines))


def check_fingerprint(fingerprint: Fingerprint, key: FingerprintKey) -> None:
    """Refuse a fingerprint made with another host's key or window size."""
    check_made_for(fingerprint, key.key_id, key.window_words)


def check_made_for(fingerprint: Fingerprint, key_id: str, window_words: int) -> None:
    if fingerprint.key_id != key_id:
        raise FingerprintError(
            f"the fingerprint was made with key {fingerprint.key_id}, not this host's key {key_id}: "
            "run `revstream works fingerprint` again with the host's published key")
    if fingerprint.window_words != window_words:
        raise FingerprintError(
            f"the fingerprint has {fingerprint.window_words}-word windows; this host uses {window_words}")


def fingerprint_submission(content: str, key: FingerprintKey) -> Fingerprint:
    """What `works add FILE` registers: a fingerprint file as it is (checked against the
    host's key), or else a text, fingerprinted here and then forgotten by the caller."""
    if content.startswith(FINGERPRINT_FORMAT + " "):
        fingerprint = parse_fingerprint(content)
        check_fingerprint(fingerprint, key)
        return fingerprint
    return fingerprint_text(content, key)
