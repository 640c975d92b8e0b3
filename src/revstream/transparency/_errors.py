"""Errors of the transparency package.

One hierarchy, rooted at :class:`TransparencyError`, so a caller can catch the
whole package in one clause and still tell the cases apart::

    TransparencyError                 base of everything raised here
    ├── ProofError                    evidence does not verify: an inclusion or
    │                                 consistency proof, a signed note, a verifier
    │                                 key handed to the verifier. The auditor's
    │                                 "reject" answer.
    ├── TreeRangeError (ValueError)   the log was asked for something it does not
    │                                 hold: a leaf or tree size beyond its size.
    ├── FormatError (ValueError)      text or keys we are asked to produce or parse
    │                                 are malformed: a checkpoint body, a signer key,
    │                                 a key name, note text without final newline.
    └── CanonicalJSONError (ValueError)
                                      a value has no canonical JSON form here
                                      (floats, non-string keys, unknown types).

The ValueError bases keep ``except ValueError`` working for callers that treat
these as ordinary bad arguments.
"""

from __future__ import annotations

__all__ = (
    "CanonicalJSONError",
    "FormatError",
    "ProofError",
    "TransparencyError",
    "TreeRangeError",
)


class TransparencyError(Exception):
    """Base class of every error raised by revstream.transparency."""


class ProofError(TransparencyError):
    """A proof, signed note or verifier key failed verification."""


class TreeRangeError(TransparencyError, ValueError):
    """A requested leaf index or tree size lies outside the tree."""


class FormatError(TransparencyError, ValueError):
    """Malformed checkpoint text, key text or note text given to a producer or parser."""


class CanonicalJSONError(TransparencyError, ValueError):
    """A value cannot be encoded as canonical JSON under this package's rules."""
