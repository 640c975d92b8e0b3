"""Pins the public face of revstream.recitation: a change here is a deliberate API change."""

import revstream.recitation as recitation


def test_public_api_is_pinned() -> None:
    assert sorted(recitation.__all__) == sorted([
        "CAVEATS", "LIMIT_WORDS_DEFAULT", "MODES", "MODE_BLOCK", "MODE_CITE", "PREFIX_TOKENS_DEFAULT",
        "RECITATION_LEAF_KIND", "RECITATION_LEAF_VERSION", "SAMPLES_DEFAULT", "SEGMENTS_MAX", "SEGMENT_CHARS_MAX",
        "STATEMENT_SECTION",        "SUFFIX_TOKENS_DEFAULT", "WINDOW_WORDS_DEFAULT", "AuditError", "AuditReport", "Catalog", "Emit",
        "ExcerptOutcome", "Fingerprint", "FingerprintError", "FingerprintKey", "Guard", "GuardFinished",
        "IndexDirectory", "IndexFormatError", "KeyFormatError", "LeafError", "Manifest", "RecitationError",
        "RecitationEvent", "RecitationHit", "WindowHasher", "WindowIndex", "Work", "WorkError", "check_fingerprint",
        "check_limit", "excerpt_starts", "fingerprint_submission", "fingerprint_text", "format_fingerprint",
        "hash_hex", "limit_words_min", "new_fingerprint_key", "new_work", "next_work_number", "parse_fingerprint",
        "parse_fingerprint_key", "parse_recitation_leaf", "prefix_start", "recitation_contribution", "recitation_counts", "recitation_event",
        "recitation_leaf", "recitation_leaf_bytes", "recitation_object", "score_excerpt", "segments", "wilson_interval", "words",
        "work_sha256",
    ])
    for name in recitation.__all__:
        assert hasattr(recitation, name), name


def test_the_core_imports_no_store_or_web_framework() -> None:
    import subprocess
    import sys

    code = ("import sys, revstream.recitation; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'starlette', 'uvicorn') or m.startswith('revstream.store') or m.startswith('revstream.gateway')];"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
