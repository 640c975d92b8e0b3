"""Recitation: a registry of rights holders' works that the gateway never recites beyond a
short span, and the statistics of an honest author audit.

Pure core plus the host's file-based index; no store, no web framework. The pieces:

* `_normalize`: what "the same words" means (NFKC, case fold, punctuation and spacing
  aside), for whole texts and for text arriving in pieces.
* `_hashing`: the host's published fingerprint key and the keyed 64-bit window hash.
* `_fingerprint`: fingerprint files a holder computes on its own machine (the host never
  sees the text); `fingerprint_text` is what both sides run.
* `_index`, `_directory`: sorted (hash, work number) arrays in memory-mapped files, 12 bytes
  a window; adding and removing works.
* `_works`, `_guard`: the works in force and the streaming guard that stops a `block`
  work before a response carries more than its limit of words, and cites a `cite` work.
* `_leaf`: the response's `recitation` object, the `recitation` log leaf and its parser.
* `_statement`: the event as leaf bytes, and the statement section `recitation`.
* `_audit`: excerpts, scoring and the Wilson interval for `revstream audit-work`.

Errors: see `_errors` (everything raised is a `RecitationError`).
"""

from ._audit import (
    CAVEATS,
    PREFIX_TOKENS_DEFAULT,
    SAMPLES_DEFAULT,
    SUFFIX_TOKENS_DEFAULT,
    AuditReport,
    ExcerptOutcome,
    excerpt_starts,
    prefix_start,
    score_excerpt,
    wilson_interval,
    work_sha256,
)
from ._directory import SEGMENTS_MAX, IndexDirectory, Manifest
from ._errors import (
    AuditError,
    FingerprintError,
    IndexFormatError,
    KeyFormatError,
    LeafError,
    RecitationError,
    WorkError,
)
from ._fingerprint import (
    Fingerprint,
    check_fingerprint,
    fingerprint_submission,
    fingerprint_text,
    format_fingerprint,
    parse_fingerprint,
)
from ._guard import Emit, Guard, GuardFinished, RecitationHit
from ._hashing import (
    WINDOW_WORDS_DEFAULT,
    FingerprintKey,
    WindowHasher,
    hash_hex,
    new_fingerprint_key,
    parse_fingerprint_key,
)
from ._index import WindowIndex
from ._leaf import (
    RECITATION_LEAF_KIND,
    RECITATION_LEAF_VERSION,
    RecitationEvent,
    parse_recitation_leaf,
    recitation_counts,
    recitation_event,
    recitation_leaf,
    recitation_object,
)
from ._statement import STATEMENT_SECTION, recitation_contribution, recitation_leaf_bytes
from ._normalize import SEGMENT_CHARS_MAX, SegmentScanner, segments, words
from ._works import (
    LIMIT_WORDS_DEFAULT,
    MODE_BLOCK,
    MODE_CITE,
    MODES,
    Catalog,
    Work,
    check_limit,
    limit_words_min,
    new_work,
    next_work_number,
)

__all__ = [
    "CAVEATS",
    "LIMIT_WORDS_DEFAULT",
    "MODES",
    "MODE_BLOCK",
    "MODE_CITE",
    "PREFIX_TOKENS_DEFAULT",
    "RECITATION_LEAF_KIND",
    "RECITATION_LEAF_VERSION",
    "SAMPLES_DEFAULT",
    "SEGMENTS_MAX",
    "SEGMENT_CHARS_MAX",
    "STATEMENT_SECTION",
    "SUFFIX_TOKENS_DEFAULT",
    "WINDOW_WORDS_DEFAULT",
    "AuditError",
    "AuditReport",
    "Catalog",
    "Emit",
    "ExcerptOutcome",
    "Fingerprint",
    "FingerprintError",
    "FingerprintKey",
    "Guard",
    "GuardFinished",
    "IndexDirectory",
    "IndexFormatError",
    "KeyFormatError",
    "LeafError",
    "Manifest",
    "RecitationError",
    "RecitationEvent",
    "RecitationHit",
    "WindowHasher",
    "WindowIndex",
    "Work",
    "WorkError",
    "check_fingerprint",
    "check_limit",
    "excerpt_starts",
    "fingerprint_submission",
    "fingerprint_text",
    "format_fingerprint",
    "hash_hex",
    "limit_words_min",
    "new_fingerprint_key",
    "new_work",
    "next_work_number",
    "parse_fingerprint",
    "parse_fingerprint_key",
    "parse_recitation_leaf",
    "prefix_start",
    "recitation_contribution",
    "recitation_counts",
    "recitation_event",
    "recitation_leaf",
    "recitation_leaf_bytes",
    "recitation_object",
    "score_excerpt",
    "segments",
    "wilson_interval",
    "words",
    "work_sha256",
]
