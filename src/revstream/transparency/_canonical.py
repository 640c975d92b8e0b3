"""Canonical JSON (RFC 8785, JCS) for transparency-log leaves.

Wraps the ``rfc8785`` package after a stricter type check of our own:

* allowed: dict with str keys, list, tuple, str, int, bool, None;
* floats are rejected: leaves hold money as integer nanos and counts as ints,
  and a float there is a bug (and a source of cross-language ambiguity);
* ints must lie within ±(2**53 - 1) (I-JSON, RFC 7493) so every JSON parser
  reads them exactly; encode larger values as decimal strings;
* nesting is bounded by JSON_DEPTH_MAX.
"""

from __future__ import annotations

import rfc8785

from ._errors import CanonicalJSONError

__all__ = ("JSON_DEPTH_MAX", "JSON_INT_MAX", "canonical_json")

JSON_DEPTH_MAX = 32
"""Deepest nesting of objects and arrays accepted in a leaf."""

JSON_INT_MAX = 2**53 - 1
"""Largest integer magnitude that every IEEE-double JSON parser reads exactly."""


def _check(value: object, depth: int) -> None:
    if depth > JSON_DEPTH_MAX:
        raise CanonicalJSONError(f"nesting deeper than {JSON_DEPTH_MAX}")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > JSON_INT_MAX:
            raise CanonicalJSONError(f"integer {value} outside ±{JSON_INT_MAX}; use a string")
        return
    if isinstance(value, float):
        raise CanonicalJSONError("floats are not allowed in canonical leaves; use integers")
    if isinstance(value, (list, tuple)):
        for item in value:
            _check(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"object keys must be str, got {type(key).__name__}")
            _check(item, depth + 1)
        return
    raise CanonicalJSONError(f"type {type(value).__name__} has no canonical JSON form")


def canonical_json(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 encoding of ``value``; raise :class:`CanonicalJSONError`."""
    _check(value, 0)
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as error:  # e.g. lone surrogates in a str
        raise CanonicalJSONError(str(error)) from None
