"""Typed, versioned transparency-log leaves: what each kind of log entry records, how its
bytes are written, and how a verifier reads them back. Pure: no storage.

Every leaf is the canonical JSON (RFC 8785) of one object naming its ``kind`` and
``version``; leaves appended before leaves were typed are usage records, version 1. A leaf's
bytes are written once, at append, and never recomputed into something else; adding a field
to a kind is a new version, and code that meets a kind or version it does not know refuses
it (``UnknownLeafError``) rather than guessing. Errors: ``LeafError`` and its subclasses.
"""

from revstream.leaves._codec import LEGACY_USAGE_VERSION, LeafKind, decode_leaf, encode_leaf, known_versions, register
from revstream.leaves._errors import LeafError, MalformedLeafError, UnknownLeafError
from revstream.leaves._fee import FEE_KINDS, FEE_VERSION, FeeEntry, fee_entry, fee_leaf, fraction_text, parse_fraction_text
from revstream.leaves._usage import LEGACY_SHAPES, USAGE_VERSION, UsageEntry, UsageRecordFields, charge_of, usage_entry, usage_leaf

__all__ = [
    "FEE_KINDS",
    "FEE_VERSION",
    "LEGACY_SHAPES",
    "LEGACY_USAGE_VERSION",
    "USAGE_VERSION",
    "FeeEntry",
    "LeafError",
    "LeafKind",
    "MalformedLeafError",
    "UnknownLeafError",
    "UsageEntry",
    "UsageRecordFields",
    "charge_of",
    "decode_leaf",
    "encode_leaf",
    "fee_entry",
    "fee_leaf",
    "fraction_text",
    "known_versions",
    "parse_fraction_text",
    "register",
    "usage_entry",
    "usage_leaf",
]
