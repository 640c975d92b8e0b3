"""Encoding and decoding leaves: canonical JSON (RFC 8785) of an object that names its
``kind`` and ``version``; the registry of the (kind, version) pairs this code reads."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import orjson

from revstream.leaves._errors import MalformedLeafError, UnknownLeafError
from revstream.money import json_safe
from revstream.transparency import canonical_json


class LeafKind(StrEnum):
    """What a leaf records. Each kind's fields are versioned: adding one is a new version."""

    USAGE = "usage"
    FEE = "fee"
    IMPRESSION = "impression"
    CLICK = "click"
    MESSAGE = "message"
    LICENCE = "licence"
    RECITATION = "recitation"


LEGACY_USAGE_VERSION: Final = 1
"""Leaves appended before leaves were typed carry no ``kind``: they are usage records, version 1."""

_KNOWN: dict[LeafKind, frozenset[int]] = {}


def register(kind: LeafKind, *versions: int) -> None:
    """Declare that this code reads ``versions`` of ``kind`` (each kind's module does it once)."""
    _KNOWN[kind] = _KNOWN.get(kind, frozenset()) | frozenset(versions)


def known_versions(kind: LeafKind) -> frozenset[int]:
    return _KNOWN.get(kind, frozenset())


def encode_leaf(kind: LeafKind, version: int, fields: dict) -> bytes:
    """The leaf bytes: canonical JSON of ``fields`` with ``kind`` and ``version``; integers
    beyond a double's exact range become decimal strings."""
    if version not in known_versions(kind):
        raise UnknownLeafError(f"cannot write a {kind} leaf of unknown version {version}")
    value = json_safe({**fields, "kind": str(kind), "version": version})
    if all(key.isascii() for key in value):
        # Flat objects with ASCII keys and no floats: orjson's sorted output is RFC 8785
        # byte for byte (a property test pins it), at a fraction of the generic cost.
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return canonical_json(value)


def decode_leaf(data: bytes) -> tuple[LeafKind, int, dict]:
    """(kind, version, fields) of leaf bytes; UnknownLeafError for a kind or version this
    code does not know, MalformedLeafError for anything that is not a leaf."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise MalformedLeafError(f"a leaf is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise MalformedLeafError("a leaf is a JSON object")
    if "kind" not in value:
        return LeafKind.USAGE, LEGACY_USAGE_VERSION, value
    kind_text, version = value["kind"], value.get("version")
    try:
        kind = LeafKind(kind_text)
    except ValueError:
        raise UnknownLeafError(f"a leaf of kind {kind_text!r}, which this revstream does not know: upgrade it") from None
    if type(version) is not int or version not in known_versions(kind):
        raise UnknownLeafError(f"a {kind} leaf of version {version!r}, which this revstream does not know "
                               f"(it reads {sorted(known_versions(kind))}): upgrade it")
    return kind, version, value
