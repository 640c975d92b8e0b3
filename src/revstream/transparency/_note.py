"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys.

A note is text ending in a newline, a blank line, then signature lines
``— <key name> base64(key ID || signature)``. Keys use the text forms of
golang.org/x/mod/sumdb/note, so keys and notes interoperate with Go tooling:

* verifier key: ``<name>+<hex key ID>+base64(0x01 || 32-byte public key)``
* signer key:   ``PRIVATE+KEY+<name>+<hex key ID>+base64(0x01 || 32-byte seed)``
* key ID:       first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key)

Producing (``generate_key``, ``sign_note``) raises :class:`FormatError` for bad
input; verifying (``verify_note``) raises :class:`ProofError` for anything it
cannot accept, including a malformed verifier key.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ._errors import FormatError, ProofError

__all__ = (
    "NOTE_SIGNATURES_MAX",
    "VerifierKey",
    "generate_key",
    "parse_verifier_key",
    "sign_note",
    "verify_note",
)

NOTE_SIGNATURES_MAX = 100
"""Most signature lines a note may carry (the spec requires accepting at least 16; Go stops at 100)."""

_ALGORITHM_ED25519 = 0x01
_ED25519_KEY_SIZE = 32
_ED25519_SIGNATURE_SIZE = 64
_KEY_ID_SIZE = 4
_SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_SIGNER_PREFIX = "PRIVATE+KEY+"
_KEY_ID_PATTERN = re.compile(r"[0-9a-fA-F]{8}")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x09\x0b-\x1f]")


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A parsed verifier key: name, 4-byte key ID and raw Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: bytes


def _is_valid_name(name: str) -> bool:
    """Key names are non-empty, without Unicode spaces or '+' (signed-note spec)."""
    return bool(name) and "+" not in name and not any(char.isspace() for char in name)


def _key_id(name: str, public_key: bytes) -> bytes:
    return sha256(name.encode() + b"\n" + bytes((_ALGORITHM_ED25519,)) + public_key).digest()[
        :_KEY_ID_SIZE
    ]


def _b64decode(text: str) -> bytes:
    """Strict standard base64 (RFC 4648 §4): alphabet and padding enforced."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as error:
        raise ValueError(f"bad base64: {error}") from None


def _split_key(text: str) -> tuple[str, bytes, bytes]:
    """Split ``name+hexid+base64`` into (name, key ID, algorithm-tagged key); ValueError if malformed."""
    name, _, rest = text.partition("+")
    hex_id, _, encoded = rest.partition("+")
    if not _is_valid_name(name) or not _KEY_ID_PATTERN.fullmatch(hex_id):
        raise ValueError("malformed key: bad name or key ID")
    tagged = _b64decode(encoded)
    if len(tagged) != 1 + _ED25519_KEY_SIZE or tagged[0] != _ALGORITHM_ED25519:
        raise ValueError("malformed key: not a 0x01 Ed25519 key")
    return name, bytes.fromhex(hex_id), tagged[1:]


def parse_verifier_key(vkey: str) -> VerifierKey:
    """Parse and check a verifier key; raise :class:`ProofError` if it is malformed or its ID is wrong."""
    if not isinstance(vkey, str):
        raise ProofError("verifier key must be a str")
    try:
        name, key_id, public_key = _split_key(vkey)
    except ValueError as error:
        raise ProofError(f"verifier key {vkey!r}: {error}") from None
    if key_id != _key_id(name, public_key):
        raise ProofError(f"verifier key {vkey!r}: key ID does not match the key")
    return VerifierKey(name=name, key_id=key_id, public_key=public_key)


def _format_key(name: str, key_id: bytes, tagged_key: bytes) -> str:
    return f"{name}+{key_id.hex()}+{base64.b64encode(tagged_key).decode('ascii')}"


def generate_key(name: str, seed: bytes | None = None) -> tuple[str, str]:
    """Return a new (signer key, verifier key) pair in C2SP text form.

    ``seed`` (32 bytes) makes the pair deterministic, for tests; by default a
    fresh key comes from the operating system's random source.
    """
    if not isinstance(name, str) or not _is_valid_name(name):
        raise FormatError(f"key name {name!r} must be non-empty, without spaces or '+'")
    if seed is None:
        private = Ed25519PrivateKey.generate()
    elif len(seed) != _ED25519_KEY_SIZE:
        raise FormatError(f"seed must be {_ED25519_KEY_SIZE} bytes")
    else:
        private = Ed25519PrivateKey.from_private_bytes(bytes(seed))
    public_key = private.public_key().public_bytes_raw()
    key_id = _key_id(name, public_key)
    tag = bytes((_ALGORITHM_ED25519,))
    skey = _SIGNER_PREFIX + _format_key(name, key_id, tag + private.private_bytes_raw())
    vkey = _format_key(name, key_id, tag + public_key)
    return skey, vkey


def _parse_signer_key(skey: str) -> tuple[str, bytes, Ed25519PrivateKey]:
    if not isinstance(skey, str) or not skey.startswith(_SIGNER_PREFIX):
        raise FormatError("signer key must start with 'PRIVATE+KEY+'")
    try:
        name, key_id, seed = _split_key(skey[len(_SIGNER_PREFIX) :])
    except ValueError as error:
        raise FormatError(f"signer key: {error}") from None
    private = Ed25519PrivateKey.from_private_bytes(seed)
    if key_id != _key_id(name, private.public_key().public_bytes_raw()):
        raise FormatError("signer key: key ID does not match the key")
    return name, key_id, private


def _check_note_characters(text: str) -> None:
    """Notes are UTF-8 without ASCII control characters other than newline; ValueError if not."""
    if _CONTROL_CHARACTER.search(text):
        raise ValueError("contains an ASCII control character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid UTF-8 (lone surrogate)") from None


def sign_note(text: str, skey: str) -> str:
    """Sign ``text`` (which must end in a newline) and return the signed note."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise FormatError("note text must be a str ending in a newline")
    try:
        _check_note_characters(text)
    except ValueError as error:
        raise FormatError(f"note text {error}") from None
    name, key_id, private = _parse_signer_key(skey)
    signature = private.sign(text.encode("utf-8"))
    encoded = base64.b64encode(key_id + signature).decode("ascii")
    return f"{text}\n{_SIGNATURE_PREFIX}{name} {encoded}\n"


def _known_keys(vkeys: Sequence[str]) -> dict[tuple[str, bytes], bytes]:
    """Map (name, key ID) to public key; the same pair naming two different keys is rejected."""
    if isinstance(vkeys, str):
        raise ProofError("vkeys must be a sequence of verifier keys, not one str")
    known: dict[tuple[str, bytes], bytes] = {}
    for vkey in vkeys:
        key = parse_verifier_key(vkey)
        previous = known.setdefault((key.name, key.key_id), key.public_key)
        if previous != key.public_key:
            raise ProofError(f"two verifier keys share name and key ID {key.name}+{key.key_id.hex()}")
    return known


def _split_note(note: str | bytes) -> tuple[str, list[str]]:
    """Split a note into (text, signature lines); ProofError if the layout is wrong."""
    if isinstance(note, (bytes, bytearray)):
        try:
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError:
            raise ProofError("malformed note: not valid UTF-8") from None
    if not isinstance(note, str):
        raise ProofError("note must be str or bytes")
    try:
        _check_note_characters(note)
    except ValueError as error:
        raise ProofError(f"malformed note: {error}") from None
    split = note.rfind("\n\n")
    if split < 0:
        raise ProofError("malformed note: no blank line before signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise ProofError("malformed note: signature block must end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > NOTE_SIGNATURES_MAX:
        raise ProofError(f"malformed note: more than {NOTE_SIGNATURES_MAX} signatures")
    return text, lines


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    """(key name, key ID, signature) from ``— name base64``; ProofError if malformed."""
    if not line.startswith(_SIGNATURE_PREFIX):
        raise ProofError("malformed note: signature line must start with an em dash and space")
    name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    try:
        raw = _b64decode(encoded)
    except ValueError:
        raise ProofError("malformed note: signature is not base64") from None
    if not _is_valid_name(name) or len(raw) <= _KEY_ID_SIZE:
        raise ProofError("malformed note: bad key name or signature length")
    return name, raw[:_KEY_ID_SIZE], raw[_KEY_ID_SIZE:]


def verify_note(note: str | bytes, vkeys: Sequence[str]) -> str:
    """Verify a signed note against trusted verifier keys and return its text.

    Signatures by keys not in ``vkeys`` are ignored (the spec requires it). A
    signature by a known key that fails to verify rejects the whole note, and
    so does a note with no verified signature. Raises :class:`ProofError`.
    """
    known = _known_keys(vkeys)
    text, lines = _split_note(note)
    message = text.encode("utf-8")
    verified = 0
    for line in lines:
        name, key_id, signature = _parse_signature_line(line)
        public_key = known.get((name, key_id))
        if public_key is None:
            continue
        if len(signature) != _ED25519_SIGNATURE_SIZE:
            raise ProofError(f"bad signature length from key {name}+{key_id.hex()}")
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            raise ProofError(f"invalid signature from key {name}+{key_id.hex()}") from None
        verified += 1
    if verified == 0:
        raise ProofError("note has no signature from a known key")
    return text
