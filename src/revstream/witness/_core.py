"""The witness's decision on one add-checkpoint request (c2sp.org/tlog-witness), pure.

Request body, every line ending in a newline::

    old <size>
    <base64 consistency proof hash>      (0 to 63 lines)
    <empty line>
    <signed checkpoint note>

:func:`add_checkpoint` runs the spec's checks in its order and either raises the
:class:`~revstream.witness.Refusal` whose status the spec prescribes or returns the new log
state and the cosignature line to answer. It reads no clock (``now_s`` is passed in) and
writes nothing: the caller persists the returned state *before* answering, atomically with
the check (tlog-witness: otherwise two racing requests could roll the log back).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..transparency import (
    EMPTY_ROOT,
    HASH_SIZE,
    TREE_SIZE_MAX,
    FormatError,
    ProofError,
    cosign_checkpoint,
    parse_checkpoint,
    select_signatures,
    verify_consistency,
    verify_note,
)
from ._config import WitnessConfig
from ._errors import BadRequest, Conflict, Forbidden, UnknownLog, Unprocessable
from ._state import LogState, WitnessState

__all__ = (
    "ADD_CHECKPOINT_BODY_BYTES_MAX",
    "CONSISTENCY_PROOF_LINES_MAX",
    "AddCheckpoint",
    "Cosigned",
    "add_checkpoint",
    "format_add_checkpoint",
    "parse_add_checkpoint",
)

ADD_CHECKPOINT_BODY_BYTES_MAX = 16 * 1024
"""Largest request body read (transparency-dev/witness uses the same bound)."""
CONSISTENCY_PROOF_LINES_MAX = 63
"""Most proof lines a client may send (the spec's bound)."""

_OLD_LINE = re.compile(r"old (0|[1-9][0-9]*)")


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """A parsed add-checkpoint request."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


@dataclass(frozen=True, slots=True)
class Cosigned:
    """The witness's yes: the log's new state (to persist first) and the response body."""

    origin: str
    log: LogState
    cosignature: str


def _hash_line(line: str) -> bytes:
    try:
        value = base64.b64decode(line.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise BadRequest(f"proof line {line[:60]!r} is not base64") from None
    if len(value) != HASH_SIZE or base64.b64encode(value).decode("ascii") != line:
        raise BadRequest(f"proof line {line[:60]!r} is not the base64 of a {HASH_SIZE}-byte hash")
    return value


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse a request body; :class:`BadRequest` (400) if it is malformed."""
    if not isinstance(body, (bytes, bytearray)) or len(body) > ADD_CHECKPOINT_BODY_BYTES_MAX:
        raise BadRequest(f"the body must be at most {ADD_CHECKPOINT_BODY_BYTES_MAX} bytes")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    head, separator, note = text.partition("\n\n")
    if not separator or not note:
        raise BadRequest("the body must be an old size line, proof lines, an empty line and a checkpoint")
    old_line, *proof_lines = head.split("\n")
    match = _OLD_LINE.fullmatch(old_line)
    if match is None or int(match.group(1)) > TREE_SIZE_MAX:
        raise BadRequest("the first line must be `old <size>` (decimal, no leading zeros)")
    if len(proof_lines) > CONSISTENCY_PROOF_LINES_MAX:
        raise BadRequest(f"at most {CONSISTENCY_PROOF_LINES_MAX} consistency proof lines")
    proof = tuple(_hash_line(line) for line in proof_lines)
    return AddCheckpoint(old_size=int(match.group(1)), proof=proof, note=note)


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The request body for ``old_size``, its consistency ``proof`` and a signed checkpoint ``note``."""
    if type(old_size) is not int or not 0 <= old_size <= TREE_SIZE_MAX:
        raise FormatError(f"old size must be an int in [0, {TREE_SIZE_MAX}]")
    if isinstance(proof, (bytes, str)) or len(proof) > CONSISTENCY_PROOF_LINES_MAX:
        raise FormatError(f"proof must be a sequence of at most {CONSISTENCY_PROOF_LINES_MAX} hashes")
    if any(not isinstance(value, bytes) or len(value) != HASH_SIZE for value in proof):
        raise FormatError(f"every proof hash must be {HASH_SIZE} bytes")
    if not isinstance(note, str) or not note.endswith("\n"):
        raise FormatError("the checkpoint note must be a str ending in a newline")
    lines = [f"old {old_size}", *(base64.b64encode(value).decode("ascii") for value in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode("utf-8")


def _check_consistency(request: AddCheckpoint, known: LogState | None, size: int, root: bytes) -> None:
    """The spec's 422 checks, once old size == the witness's size."""
    if size == 0 and root != EMPTY_ROOT:
        raise Unprocessable("a checkpoint of size 0 must have the empty tree's root")
    if request.old_size == 0:
        if request.proof:
            raise Unprocessable("the consistency proof from size 0 must be empty")
        return
    if request.old_size == size and known is not None and known.root != root:
        raise Unprocessable(f"split view: size {size} was cosigned with a different root")
    try:
        verify_consistency(request.old_size, size, request.proof, known.root, root)  # known: old_size > 0
    except ProofError as error:
        raise Unprocessable(f"consistency proof does not verify: {error}") from None


def add_checkpoint(
    request: AddCheckpoint, config: WitnessConfig, state: WitnessState, skey: str, now_s: int
) -> Cosigned:
    """Decide one request: verify, check consistency, cosign at ``now_s``; or raise a Refusal."""
    origin = request.note.partition("\n")[0]
    log = config.logs.get(origin)
    if log is None:
        raise UnknownLog(f"unknown log {origin[:200]!r}")
    try:
        text = verify_note(request.note, log.vkeys)
    except ProofError as error:
        raise Forbidden(f"no valid signature from the log's key: {error}") from None
    try:
        checkpoint = parse_checkpoint(text)
    except FormatError as error:
        raise BadRequest(f"the signed note is not a checkpoint: {error}") from None
    if request.old_size > checkpoint.size:
        raise BadRequest(f"old size {request.old_size} is above the checkpoint's size {checkpoint.size}")
    known = state.logs.get(origin)
    known_size = 0 if known is None else known.size
    if request.old_size != known_size:
        raise Conflict(known_size)
    _check_consistency(request, known, checkpoint.size, checkpoint.root)
    cosignature = cosign_checkpoint(text, skey, now_s)
    stored = text + "\n" + "".join(select_signatures(request.note, log.vkeys)) + cosignature
    return Cosigned(origin=origin, log=LogState(size=checkpoint.size, root=checkpoint.root, checkpoint=stored),
                    cosignature=cosignature)
