"""Errors of the leaves core.

Hierarchy::

    LeafError                  base: a log leaf that cannot be read (also a ValueError)
    ├── UnknownLeafError       a kind or version this code does not know: refused, never guessed
    └── MalformedLeafError     not JSON, or a field missing or of the wrong type
"""

from __future__ import annotations


class LeafError(ValueError):
    """A transparency-log leaf that cannot be read."""


class UnknownLeafError(LeafError):
    """A leaf of a kind, or a version of a kind, this code does not know."""


class MalformedLeafError(LeafError):
    """A leaf that is not JSON, or lacks a field, or has one of the wrong type."""
