"""Window hashes and the host's fingerprint key.

A **window** is a run of `window_words` consecutive normalized words. Its hash is the
8-byte keyed BLAKE2b digest (RFC 7693, `digest_size=8`, `person=b"rs-recitation-1"`) of
the words joined by single spaces and encoded as UTF-8, read as an unsigned big-endian
64-bit integer; its text form is the digest in 16 lowercase hex digits.

The key is the host's **fingerprint key**: 32 random bytes, created once per host and
published to rights holders (it is not a secret) in the text form

    rfk1:<window words>:<32 bytes, base64url without padding>

A holder runs `revstream works fingerprint --key rfk1:...` so that its file matches that
host's index exactly; the key's id (the first 8 bytes of SHA-256 of the 32 bytes, in hex)
is written in every fingerprint and index file, and a mismatch is refused.

Why a per-host key that is published, and what protects the text:

* The host must hash what its model generates with the same function as the index, so it
  always knows the key: no key can hide a registered text from the host that holds it.
  What keeps the text from the host is the index's shape: only **non-overlapping**
  windows are stored (words 0-15, 16-31, ...), as unordered 64-bit hashes. With
  overlapping windows anyone holding the key and any 15-word excerpt could rebuild the
  whole work a word at a time (try each vocabulary word as the 16th and test membership);
  with non-overlapping windows a guess must get 16 unknown words right at once. What the
  host (or anyone with the key and the index) *can* do is test a text it already has:
  that is the guard's job, and it cannot be avoided.
* The key is per host, not one public constant, so that one dictionary of hashes
  precomputed over a large corpus does not test every host's index and every fingerprint
  file at once (the reason for a salt); and a fingerprint made for one host is useless
  to another.
* 64 bits keep 100 million windows in 800 MB; the chance that an unrelated window
  collides with any of them is about 100e6 / 2**64 = 5e-12 per window generated.

Detection with non-overlapping windows: the guard hashes *every* window of the output
(stride one word); any copied span of at least `2 * window_words - 1` words contains one
whole stored window. So with 16-word windows a copy of 31 words is always caught, and
the default limit of 30 words holds (see `_guard`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Iterable, Sequence

from ._errors import KeyFormatError

KEY_PREFIX = "rfk1"
KEY_BYTES = 32
PERSON = b"rs-recitation-1"
HASH_BYTES = 8
WINDOW_WORDS_DEFAULT = 16
WINDOW_WORDS_MIN = 4
WINDOW_WORDS_MAX = 64
_HASH_HEX = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class FingerprintKey:
    secret: bytes
    window_words: int = WINDOW_WORDS_DEFAULT

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != KEY_BYTES:
            raise KeyFormatError(f"a fingerprint key is {KEY_BYTES} bytes")
        if not WINDOW_WORDS_MIN <= self.window_words <= WINDOW_WORDS_MAX:
            raise KeyFormatError(f"window words must lie in {WINDOW_WORDS_MIN}..{WINDOW_WORDS_MAX}")

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.secret).hexdigest()[:16]

    def text(self) -> str:
        encoded = base64.urlsafe_b64encode(self.secret).rstrip(b"=").decode("ascii")
        return f"{KEY_PREFIX}:{self.window_words}:{encoded}"

    def __repr__(self) -> str:  # the key is published, but logs need not carry it whole
        return f"FingerprintKey(key_id={self.key_id!r}, window_words={self.window_words})"


def new_fingerprint_key(window_words: int = WINDOW_WORDS_DEFAULT) -> FingerprintKey:
    return FingerprintKey(secrets.token_bytes(KEY_BYTES), window_words)


def parse_fingerprint_key(text: str) -> FingerprintKey:
    parts = text.strip().split(":")
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise KeyFormatError(f"a fingerprint key reads {KEY_PREFIX}:<window words>:<base64url key>")
    if not parts[1].isdigit() or len(parts[1]) > 3:
        raise KeyFormatError("the window words of a fingerprint key must be a number")
    try:
        secret = base64.b64decode(parts[2] + "=" * (-len(parts[2]) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as error:
        raise KeyFormatError(f"the key of a fingerprint key is not base64url: {error}") from None
    key = FingerprintKey(secret, int(parts[1]))
    if key.text() != text.strip():
        raise KeyFormatError("a fingerprint key is written in its canonical form (no padding, no leading zeros)")
    return key


class WindowHasher:
    """Hashes windows of normalized words under one key (the keyed state is prepared once)."""

    __slots__ = ("_base", "window_words", "key_id")

    def __init__(self, key: FingerprintKey) -> None:
        self._base = hashlib.blake2b(digest_size=HASH_BYTES, key=key.secret, person=PERSON)
        self.window_words = key.window_words
        self.key_id = key.key_id

    def hash_words(self, window: Iterable[str]) -> int:
        state = self._base.copy()
        state.update(" ".join(window).encode("utf-8"))
        return int.from_bytes(state.digest(), "big")

    def aligned_hashes(self, words: Sequence[str]) -> list[int]:
        """Hashes of the non-overlapping windows words[0:W], words[W:2W], ... (a trailing
        part shorter than W is not a window), in text order."""
        size = self.window_words
        return [self.hash_words(words[start:start + size]) for start in range(0, len(words) - size + 1, size)]

    def sliding_hashes(self, words: Sequence[str]) -> list[int]:
        """Hashes of every window, one word apart (what the guard looks up)."""
        size = self.window_words
        return [self.hash_words(words[start:start + size]) for start in range(0, len(words) - size + 1)]


def hash_hex(value: int) -> str:
    return f"{value:016x}"


def parse_hash_hex(text: str) -> int:
    """The hash written as 16 lowercase hex digits; ValueError otherwise."""
    if not isinstance(text, str) or _HASH_HEX.fullmatch(text) is None:
        raise ValueError(f"a window hash is {2 * HASH_BYTES} lowercase hex digits")
    return int(text, 16)
