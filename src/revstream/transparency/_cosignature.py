"""C2SP checkpoint cosignatures (c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1``).

A witness (cosigner) that has checked a checkpoint's consistency adds one more note
signature line to it::

    — <cosigner name> base64(key ID[4] || timestamp u64 big-endian[8] || Ed25519 signature[64])

The Ed25519 signature covers ``cosignature/v1\\ntime <timestamp>\\n`` followed by the whole
checkpoint note text (extension lines included). The key ID is
``SHA-256(name || 0x0A || 0x04 || public key)[:4]`` and the verifier key text is
``<name>+<hex key ID>+base64(0x04 || public key)``. A cosigner's signer key is an ordinary
signed-note signer key (``PRIVATE+KEY+name+id+base64(0x01 || seed)``, as Go's ``note`` and
transparency-dev/witness keep it); :func:`cosigner_vkey` derives its 0x04 verifier key.

The cosigned message does not commit to the cosigner's name, so a quorum counts distinct
*public keys*: two names on one key are one witness.

Producing raises :class:`FormatError`; verifying raises :class:`ProofError` for anything it
cannot accept, including a malformed key or an impossible quorum.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ._checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from ._errors import FormatError, ProofError
from ._note import (
    _KEY_ID_PATTERN,
    _SIGNATURE_PREFIX,
    _b64decode,
    _is_valid_name,
    _parse_signature_line,
    _parse_signer_key,
    _split_note,
    generate_key,
    parse_verifier_key,
)

__all__ = (
    "COSIGNATURE_TIMESTAMP_MAX",
    "Cosignature",
    "append_signatures",
    "cosign_checkpoint",
    "cosignature_message",
    "cosigner_vkey",
    "generate_cosigner_key",
    "parse_cosigner_key",
    "select_signatures",
    "verify_cosignatures",
    "verify_cosigned_checkpoint",
)

COSIGNATURE_TIMESTAMP_MAX = 2**63 - 1
"""Largest cosignature timestamp the spec allows (POSIX seconds)."""

_ALGORITHM_COSIGNATURE_V1 = 0x04
_ED25519_KEY_SIZE = 32
_ED25519_SIGNATURE_SIZE = 64
_KEY_ID_SIZE = 4
_TIMESTAMP_SIZE = 8
_HEADER = "cosignature/v1\n"


@dataclass(frozen=True, slots=True)
class Cosignature:
    """One verified cosignature: who (name, key ID, public key) and when (POSIX seconds)."""

    name: str
    key_id: bytes
    public_key: bytes
    timestamp_s: int


def _cosigner_key_id(name: str, public_key: bytes) -> bytes:
    tag = bytes((_ALGORITHM_COSIGNATURE_V1,))
    return sha256(name.encode() + b"\n" + tag + public_key).digest()[:_KEY_ID_SIZE]


def _format_vkey(name: str, public_key: bytes) -> str:
    tagged = bytes((_ALGORITHM_COSIGNATURE_V1,)) + public_key
    return f"{name}+{_cosigner_key_id(name, public_key).hex()}+{base64.b64encode(tagged).decode('ascii')}"


def cosignature_message(checkpoint_text: str, timestamp_s: int) -> bytes:
    """The bytes a cosigner signs: ``cosignature/v1\\ntime <t>\\n`` then the checkpoint text."""
    if type(timestamp_s) is not int or not 0 <= timestamp_s <= COSIGNATURE_TIMESTAMP_MAX:
        raise FormatError(f"timestamp must be an int in [0, {COSIGNATURE_TIMESTAMP_MAX}]")
    if not isinstance(checkpoint_text, str) or not checkpoint_text.endswith("\n"):
        raise FormatError("checkpoint text must be a str ending in a newline")
    return f"{_HEADER}time {timestamp_s}\n{checkpoint_text}".encode("utf-8")


def cosigner_vkey(skey: str) -> str:
    """The ``cosignature/v1`` (type 0x04) verifier key of a signed-note signer key."""
    name, _, private = _parse_signer_key(skey)
    return _format_vkey(name, private.public_key().public_bytes_raw())


def generate_cosigner_key(name: str, seed: bytes | None = None) -> tuple[str, str]:
    """A new (signer key, cosigner verifier key) pair; ``seed`` (32 bytes) for tests."""
    skey, _ = generate_key(name, seed)
    return skey, cosigner_vkey(skey)


def parse_cosigner_key(vkey: str) -> tuple[str, bytes, bytes]:
    """(name, key ID, public key) of a 0x04 cosigner vkey; :class:`ProofError` if malformed."""
    if not isinstance(vkey, str):
        raise ProofError("cosigner key must be a str")
    name, _, rest = vkey.partition("+")
    hex_id, _, encoded = rest.partition("+")
    if not _is_valid_name(name) or not _KEY_ID_PATTERN.fullmatch(hex_id):
        raise ProofError(f"cosigner key {vkey!r}: bad name or key ID")
    try:
        tagged = _b64decode(encoded)
    except ValueError:
        raise ProofError(f"cosigner key {vkey!r}: key is not base64") from None
    if len(tagged) != 1 + _ED25519_KEY_SIZE or tagged[0] != _ALGORITHM_COSIGNATURE_V1:
        raise ProofError(f"cosigner key {vkey!r}: not a 0x04 (cosignature/v1 Ed25519) key")
    public_key = tagged[1:]
    key_id = bytes.fromhex(hex_id)
    if key_id != _cosigner_key_id(name, public_key):
        raise ProofError(f"cosigner key {vkey!r}: key ID does not match the key")
    return name, key_id, public_key


def cosign_checkpoint(checkpoint_text: str, skey: str, timestamp_s: int) -> str:
    """Cosign checkpoint note text at ``timestamp_s``; return the signature line (with newline).

    The text must be a well-formed checkpoint body, and the timestamp positive (tlog-witness
    forbids a zero timestamp).
    """
    parse_checkpoint(checkpoint_text)
    if type(timestamp_s) is not int or timestamp_s <= 0:
        raise FormatError("a cosignature timestamp must be a positive int (POSIX seconds)")
    name, _, private = _parse_signer_key(skey)
    signature = private.sign(cosignature_message(checkpoint_text, timestamp_s))
    key_id = _cosigner_key_id(name, private.public_key().public_bytes_raw())
    raw = key_id + timestamp_s.to_bytes(_TIMESTAMP_SIZE, "big") + signature
    return f"{_SIGNATURE_PREFIX}{name} {base64.b64encode(raw).decode('ascii')}\n"


def _known_cosigners(vkeys: Sequence[str]) -> dict[tuple[str, bytes], bytes]:
    if isinstance(vkeys, str):
        raise ProofError("witness keys must be a sequence of cosigner keys, not one str")
    known: dict[tuple[str, bytes], bytes] = {}
    for vkey in vkeys:
        name, key_id, public_key = parse_cosigner_key(vkey)
        if known.setdefault((name, key_id), public_key) != public_key:
            raise ProofError(f"two cosigner keys share name and key ID {name}+{key_id.hex()}")
    return known


def _check_cosignature(text: str, name: str, key_id: bytes, raw: bytes, public_key: bytes) -> Cosignature:
    if len(raw) != _TIMESTAMP_SIZE + _ED25519_SIGNATURE_SIZE:
        raise ProofError(f"cosignature from {name}+{key_id.hex()} has the wrong length")
    timestamp_s = int.from_bytes(raw[:_TIMESTAMP_SIZE], "big")
    if timestamp_s > COSIGNATURE_TIMESTAMP_MAX:
        raise ProofError(f"cosignature from {name}+{key_id.hex()} has a timestamp beyond 2^63-1")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            raw[_TIMESTAMP_SIZE:], cosignature_message(text, timestamp_s))
    except (InvalidSignature, ValueError):
        raise ProofError(f"invalid cosignature from {name}+{key_id.hex()}") from None
    return Cosignature(name=name, key_id=key_id, public_key=public_key, timestamp_s=timestamp_s)


def verify_cosignatures(note: str | bytes, witness_vkeys: Sequence[str]) -> tuple[Cosignature, ...]:
    """Every valid cosignature on ``note`` by one of ``witness_vkeys`` (0x04 keys), in note order.

    Lines from unknown (name, key ID) pairs are ignored, as the signed-note spec requires; a
    line from a known pair that does not verify rejects the whole note (:class:`ProofError`).
    Other signatures (the log's) are not checked here: see :func:`verify_cosigned_checkpoint`.
    """
    known = _known_cosigners(witness_vkeys)
    text, lines = _split_note(note)
    found = []
    for line in lines:
        name, key_id, raw = _parse_signature_line(line)
        public_key = known.get((name, key_id))
        if public_key is not None:
            found.append(_check_cosignature(text, name, key_id, raw, public_key))
    return tuple(found)


def verify_cosigned_checkpoint(
    note_text: str | bytes,
    log_vkey: str,
    witness_vkeys: Sequence[str],
    quorum: int,
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Verify a checkpoint signed by the log and cosigned by at least ``quorum`` witnesses.

    ``note_text`` is the whole signed note; ``log_vkey`` the log's Ed25519 note key;
    ``witness_vkeys`` the trusted witnesses' cosigner (0x04) keys; ``origin`` defaults to the
    log key's name (tlog-checkpoint: the key name SHOULD match the origin). Witnesses are
    counted by distinct public key. Raises :class:`ProofError` unless all of it holds.
    """
    if type(quorum) is not int or quorum < 0:
        raise ProofError(f"quorum must be a non-negative int, got {quorum!r}")
    trusted = {public_key for public_key in _known_cosigners(witness_vkeys).values()}
    if quorum > len(trusted):
        raise ProofError(f"a quorum of {quorum} cannot be met by {len(trusted)} distinct witness keys")
    if not isinstance(log_vkey, str):
        raise ProofError("log_vkey must be one verifier key (a str)")
    expected_origin = parse_verifier_key(log_vkey).name if origin is None else origin
    checkpoint = verify_checkpoint(note_text, [log_vkey], expected_origin)
    signers = {cosignature.public_key for cosignature in verify_cosignatures(note_text, witness_vkeys)}
    if len(signers) < quorum:
        raise ProofError(f"checkpoint {checkpoint.origin} at size {checkpoint.size} has valid "
                         f"cosignatures from {len(signers)} trusted witnesses; the quorum is {quorum}")
    return checkpoint


def _vkey_name_and_id(vkey: str) -> tuple[str, bytes]:
    name, _, rest = vkey.partition("+") if isinstance(vkey, str) else ("", "", "")
    hex_id = rest.partition("+")[0]
    if not _is_valid_name(name) or not _KEY_ID_PATTERN.fullmatch(hex_id):
        raise FormatError(f"malformed verifier key {vkey!r}")
    return name, bytes.fromhex(hex_id)


def select_signatures(note: str | bytes, vkeys: Sequence[str]) -> tuple[str, ...]:
    """The signature lines (each ending in a newline) of ``note`` whose key name and ID match one
    of ``vkeys`` (note or cosigner keys). Nothing is verified here; malformed input raises
    :class:`FormatError`."""
    if isinstance(vkeys, str):
        raise FormatError("vkeys must be a sequence of verifier keys, not one str")
    wanted = {_vkey_name_and_id(vkey) for vkey in vkeys}
    try:
        _, lines = _split_note(note)
        return tuple(f"{line}\n" for line in lines if _parse_signature_line(line)[:2] in wanted)
    except ProofError as error:
        raise FormatError(str(error)) from None


def _check_signed_note(note: str | bytes) -> tuple[str, list[str]]:
    text, lines = _split_note(note)
    for line in lines:
        _parse_signature_line(line)
    return text, lines


def append_signatures(note: str, signature_lines: str) -> str:
    """``note`` (a signed note) with ``signature_lines`` (one or more ``— name base64\\n`` lines,
    as a witness answers them) appended; :class:`FormatError` if either is malformed."""
    if not isinstance(note, str) or not isinstance(signature_lines, str) or not signature_lines.endswith("\n"):
        raise FormatError("note and signature lines must be str, the lines ending in a newline")
    try:
        _check_signed_note(note)
        for line in signature_lines[:-1].split("\n"):
            _parse_signature_line(line)
        _check_signed_note(note + signature_lines)  # also bounds the number of signatures
    except ProofError as error:
        raise FormatError(str(error)) from None
    return note + signature_lines
