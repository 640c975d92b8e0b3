"""The `licence` transparency-log leaf: one host's month of monthly active users and
acceptable-use counts, and its strict parser.

    {"kind": "licence", "version": 1, "month": "2025-03", "users": 123456, "method": "hll",
     "error_ppm": 8125, "sketch_sha256": "<64 hex>", "requests_classified": 98765,
     "requests_refused": 12, "acceptable_use": {"S1": 3, ..., "S14": 0}}

No personal data: a count, the SHA-256 of the month's MAU state (keyed hashes, never ids), and
per-category counts (never content). `error_ppm` is the relative standard error in parts per
million: 0 for an exact count, 8125 (0.8125 %) for the HyperLogLog sketch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ._errors import LeafError
from ._hazards import HAZARD_CODES
from ._hll import HLL_ERROR_PPM
from ._mau import EXACT, HLL, MauSnapshot
from ._policy import Decision

LEAF_KIND = "licence"
LEAF_VERSION = 1
_FIELDS = frozenset({"kind", "version", "month", "users", "method", "error_ppm", "sketch_sha256",
                     "requests_classified", "requests_refused", "acceptable_use"})
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class AcceptableUseCounts:
    """Requests classified in a period, those refused, and per hazard category (S1..S14 order)
    how many were found in it."""

    requests_classified: int = 0
    requests_refused: int = 0
    per_category: tuple[tuple[str, int], ...] = tuple((code, 0) for code in HAZARD_CODES)


def tally_decisions(decisions: Iterable[Decision]) -> AcceptableUseCounts:
    """Counts from the period's decisions (one per classified request)."""
    per_category = dict.fromkeys(HAZARD_CODES, 0)
    classified = refused = 0
    for decision in decisions:
        classified += 1
        refused += decision.refused
        for category in decision.categories:
            per_category[category] += 1
    return AcceptableUseCounts(classified, refused, tuple(per_category.items()))


@dataclass(frozen=True, slots=True)
class LicenceLeaf:
    month: str
    users: int
    method: str
    error_ppm: int
    sketch_sha256: str
    acceptable_use: AcceptableUseCounts


def licence_leaf(snapshot: MauSnapshot, counts: AcceptableUseCounts) -> dict:
    """The leaf's dict (to be serialized as RFC 8785 canonical JSON by the log)."""
    return {
        "kind": LEAF_KIND, "version": LEAF_VERSION, "month": snapshot.month, "users": snapshot.users,
        "method": snapshot.method, "error_ppm": snapshot.error_ppm, "sketch_sha256": snapshot.sketch_sha256,
        "requests_classified": counts.requests_classified, "requests_refused": counts.requests_refused,
        "acceptable_use": dict(counts.per_category),
    }


def parse_licence_leaf(leaf: Mapping[str, Any]) -> LicenceLeaf:
    """The leaf as a value; raises `LeafError` on a missing or extra field, a wrong type, an
    inconsistent value or an unknown (kind, version)."""
    if not isinstance(leaf, Mapping):
        raise LeafError("a licence leaf is a JSON object")
    if leaf.get("kind") != LEAF_KIND:
        raise LeafError(f"kind: expected {LEAF_KIND!r}, got {leaf.get('kind')!r}")
    if _integer(leaf, "version") != LEAF_VERSION:
        raise LeafError(f"version {leaf['version']} of the licence leaf is unknown (this verifier knows {LEAF_VERSION})")
    missing, extra = sorted(_FIELDS - set(leaf)), sorted(set(leaf) - _FIELDS)
    if missing or extra:
        raise LeafError(f"licence leaf: missing {missing}, unexpected {extra}")
    month, method, digest = leaf["month"], leaf["method"], leaf["sketch_sha256"]
    if not isinstance(month, str) or not _MONTH.fullmatch(month):
        raise LeafError("month: expected YYYY-MM")
    if method not in (EXACT, HLL):
        raise LeafError(f"method: expected {EXACT!r} or {HLL!r}")
    error_ppm = _integer(leaf, "error_ppm")
    if error_ppm != (0 if method == EXACT else HLL_ERROR_PPM):
        raise LeafError(f"error_ppm: {error_ppm} does not match method {method!r}")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise LeafError("sketch_sha256: expected 64 lower-case hexadecimal digits")
    categories = leaf["acceptable_use"]
    if not isinstance(categories, Mapping) or set(categories) != set(HAZARD_CODES):
        raise LeafError("acceptable_use: expected a count for each of S1..S14")
    counts = AcceptableUseCounts(
        _integer(leaf, "requests_classified"), _integer(leaf, "requests_refused"),
        tuple((code, _integer(categories, code)) for code in HAZARD_CODES),
    )
    if counts.requests_refused > counts.requests_classified:
        raise LeafError("requests_refused exceeds requests_classified")
    return LicenceLeaf(month, _integer(leaf, "users"), method, error_ppm, digest, counts)


def _integer(values: Mapping[str, Any], key: str) -> int:
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LeafError(f"{key}: expected a non-negative integer, got {value!r}")
    return value


def licence_statement_line(leaf: LicenceLeaf, threshold_users: int | None) -> dict:
    """The licensor's statement line for one month, from its (verified) leaf: the count, its
    method and error, an upper bound at three standard errors, the share of the licence
    threshold in basis points (floor), and the acceptable-use counts."""
    upper = leaf.users if leaf.error_ppm == 0 else -(-leaf.users * (1_000_000 + 3 * leaf.error_ppm) // 1_000_000)
    counts = leaf.acceptable_use
    return {
        "stream": "licence", "month": leaf.month, "users": leaf.users, "users_upper_bound": upper,
        "method": leaf.method, "error_ppm": leaf.error_ppm, "sketch_sha256": leaf.sketch_sha256,
        "threshold_users": threshold_users,
        "threshold_bps": None if not threshold_users else leaf.users * 10_000 // threshold_users,
        "requests_classified": counts.requests_classified, "requests_refused": counts.requests_refused,
        "acceptable_use": dict(counts.per_category),
    }
