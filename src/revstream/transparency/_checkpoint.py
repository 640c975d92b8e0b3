"""C2SP tlog-checkpoint bodies (c2sp.org/tlog-checkpoint) and their verification.

A checkpoint body is ``origin\\nsize\\nbase64(root)\\n`` plus optional
extension lines; it is published as a signed note (see ``_note``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._errors import FormatError, ProofError
from ._merkle import EMPTY_ROOT, HASH_SIZE, TREE_SIZE_MAX
from ._note import verify_note
from ._verify import verify_consistency

__all__ = (
    "CHECKPOINT_EXTENSIONS_MAX",
    "Checkpoint",
    "format_checkpoint",
    "parse_checkpoint",
    "verify_checkpoint",
    "verify_checkpoint_consistency",
)

CHECKPOINT_EXTENSIONS_MAX = 16
"""Most extension lines accepted in a checkpoint body (the spec discourages any)."""

_SIZE_PATTERN = re.compile(r"0|[1-9][0-9]*")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f]")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's signed tree head: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def _check_line(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or _CONTROL_CHARACTER.search(value):
        raise FormatError(f"{what} must be a non-empty line without control characters")
    return value


def format_checkpoint(
    origin: str, size: int, root: bytes, extensions: Sequence[str] = ()
) -> str:
    """Return the checkpoint note text ``origin\\nsize\\nbase64(root)\\n[extensions\\n]``."""
    _check_line(origin, "origin")
    if type(size) is not int or not 0 <= size <= TREE_SIZE_MAX:
        raise FormatError(f"size must be an int in [0, {TREE_SIZE_MAX}]")
    if not isinstance(root, (bytes, bytearray)) or len(root) != HASH_SIZE:
        raise FormatError(f"root must be {HASH_SIZE} bytes")
    if isinstance(extensions, str) or len(extensions) > CHECKPOINT_EXTENSIONS_MAX:
        raise FormatError(f"extensions must be a sequence of at most {CHECKPOINT_EXTENSIONS_MAX} lines")
    lines = [origin, str(size), base64.b64encode(bytes(root)).decode("ascii")]
    lines.extend(_check_line(line, "extension line") for line in extensions)
    return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text (strictly: canonical size and base64); raise :class:`FormatError`."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise FormatError("checkpoint text must be a str ending in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or len(lines) > 3 + CHECKPOINT_EXTENSIONS_MAX:
        raise FormatError("checkpoint must have origin, size, root and at most "
                          f"{CHECKPOINT_EXTENSIONS_MAX} extension lines")
    origin, size_text, root_text, *extensions = lines
    _check_line(origin, "origin")
    for line in extensions:
        _check_line(line, "extension line")
    if not _SIZE_PATTERN.fullmatch(size_text) or int(size_text) > TREE_SIZE_MAX:
        raise FormatError(f"bad tree size {size_text!r}")
    try:
        root = base64.b64decode(root_text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise FormatError("root is not base64") from None
    if len(root) != HASH_SIZE or base64.b64encode(root).decode("ascii") != root_text:
        raise FormatError(f"root must be the canonical base64 of {HASH_SIZE} bytes")
    return Checkpoint(origin=origin, size=int(size_text), root=root, extensions=tuple(extensions))


def verify_checkpoint(note: str | bytes, vkeys: Sequence[str], origin: str) -> Checkpoint:
    """Verify a signed checkpoint from the log ``origin``; raise :class:`ProofError` otherwise.

    The note must carry a valid signature from one of ``vkeys`` and its body
    must be a well-formed checkpoint naming ``origin``.
    """
    text = verify_note(note, vkeys)
    try:
        checkpoint = parse_checkpoint(text)
    except FormatError as error:
        raise ProofError(f"signed note is not a checkpoint: {error}") from None
    if checkpoint.origin != origin:
        raise ProofError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return checkpoint


def verify_checkpoint_consistency(
    old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]
) -> None:
    """Check that ``new`` extends ``old`` (same origin, valid consistency proof).

    This is the rollback/fork check a verifier runs against the last checkpoint
    it accepted. Raises :class:`ProofError`.

    An empty ``old`` (size 0) is extended by every tree, so no consistency proof
    is checked (:func:`verify_consistency` rejects size1 == 0 < size2, as
    transparency-dev/merkle does); ``old.root`` must still be the empty root,
    ``proof`` must be empty, and an empty ``new`` must have the empty root too.
    """
    if old.origin != new.origin:
        raise ProofError(f"checkpoints come from different logs: {old.origin!r}, {new.origin!r}")
    if old.size == 0:
        if old.root != EMPTY_ROOT:
            raise ProofError("checkpoint of size 0 does not have the empty root")
        if new.size == 0 and new.root != EMPTY_ROOT:
            raise ProofError("checkpoint of size 0 does not have the empty root")
        if isinstance(proof, (bytes, bytearray, str)) or len(proof):
            raise ProofError("a consistency proof from an empty tree is meaningless")
        return
    verify_consistency(old.size, new.size, proof, old.root, new.root)
