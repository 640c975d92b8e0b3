"""The recitation package's errors, one hierarchy:

    RecitationError
    ├── KeyFormatError        a fingerprint key's text form is malformed
    ├── FingerprintError      a fingerprint file is malformed or made with another key
    ├── IndexFormatError      a window-index file or its manifest is malformed or mismatched
    ├── WorkError             a work cannot be registered as asked (too short, bad mode or limit,
    │                         number already taken or unknown)
    ├── LeafError             a `recitation` transparency-log leaf is malformed or of an unknown version
    └── AuditError            an author audit cannot run as asked (work too short for one excerpt, ...)

Every message names what was wrong, so the CLI can print it as it is.
"""

from __future__ import annotations


class RecitationError(Exception):
    """Base of every error raised by revstream.recitation."""


class KeyFormatError(RecitationError):
    pass


class FingerprintError(RecitationError):
    pass


class IndexFormatError(RecitationError):
    pass


class WorkError(RecitationError):
    pass


class LeafError(RecitationError):
    pass


class AuditError(RecitationError):
    pass
