"""The `licence` transparency-log leaf: one host's calendar month of monthly active users
and acceptable-use counts, its strict parser, and the statement line a licensor reads.

    {"kind": "licence", "version": 1, "month": "2025-03", "users": 123456, "method": "hll",
     "error_ppm": 8125, "sketch_sha256": "<64 hex>", "threshold_users": 700000000,
     "threshold_licence": "llama3.1", "requests_classified": 98765, "requests_flagged": 3,
     "requests_refused": 12, "acceptable_use": {"S1": 3, ..., "S14": 0}}

No personal data: a count, the SHA-256 of the month's MAU state (keyed hashes, never ids), the
licence threshold the host reckons in force (null when no served model's licence has one), and
per-category counts (never content). `error_ppm` is the relative standard error in parts per
million: 0 for an exact count, 8125 (0.8125 %) for the HyperLogLog sketch.

Written with `revstream.leaves.encode_leaf` (RFC 8785 canonical JSON naming kind and version);
`parse_licence_leaf` reads the fields of a decoded leaf and refuses anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..leaves import LeafKind, encode_leaf, register
from ._errors import LeafError
from ._hazards import HAZARD_CODES
from ._hll import HLL_ERROR_PPM
from ._mau import EXACT, HLL, MauSnapshot
from ._policy import Decision

LEAF_KIND = "licence"
LEAF_VERSION = 1
register(LeafKind.LICENCE, LEAF_VERSION)
STATEMENT_SECTION = "licence"
"""The name of the statement section the `licence` leaves of a close become."""
_FIELDS = frozenset({"kind", "version", "month", "users", "method", "error_ppm", "sketch_sha256", "threshold_users",
                     "threshold_licence", "requests_classified", "requests_flagged", "requests_refused",
                     "acceptable_use"})
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_LICENCE_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class AcceptableUseCounts:
    """Requests classified in a period, those flagged and those refused, and per hazard
    category (S1..S14 order) how many were found in it."""

    requests_classified: int = 0
    requests_refused: int = 0
    per_category: tuple[tuple[str, int], ...] = tuple((code, 0) for code in HAZARD_CODES)
    requests_flagged: int = 0


def tally_decisions(decisions: Iterable[Decision]) -> AcceptableUseCounts:
    """Counts from the period's decisions (one per classified request)."""
    per_category = dict.fromkeys(HAZARD_CODES, 0)
    classified = refused = flagged = 0
    for decision in decisions:
        classified += 1
        refused += decision.refused
        flagged += decision.flagged
        for category in decision.categories:
            per_category[category] += 1
    return AcceptableUseCounts(classified, refused, tuple(per_category.items()), flagged)


@dataclass(frozen=True, slots=True)
class LicenceLeaf:
    month: str
    users: int
    method: str
    error_ppm: int
    sketch_sha256: str
    acceptable_use: AcceptableUseCounts
    threshold_users: int | None = None
    threshold_licence: str | None = None


def licence_entry(snapshot: MauSnapshot, counts: AcceptableUseCounts, threshold_users: int | None = None,
                  threshold_licence: str | None = None) -> LicenceLeaf:
    """The leaf's value for a month's MAU snapshot, its acceptable-use counts and the threshold."""
    return LicenceLeaf(snapshot.month, snapshot.users, snapshot.method, snapshot.error_ppm, snapshot.sketch_sha256,
                       counts, threshold_users, threshold_licence)


def licence_fields(entry: LicenceLeaf) -> dict:
    """The leaf's fields (without kind and version), as the log writes them."""
    counts = entry.acceptable_use
    return {
        "month": entry.month, "users": entry.users, "method": entry.method, "error_ppm": entry.error_ppm,
        "sketch_sha256": entry.sketch_sha256, "threshold_users": entry.threshold_users,
        "threshold_licence": entry.threshold_licence, "requests_classified": counts.requests_classified,
        "requests_flagged": counts.requests_flagged, "requests_refused": counts.requests_refused,
        "acceptable_use": dict(counts.per_category),
    }


def licence_leaf(entry: LicenceLeaf) -> bytes:
    """The leaf bytes (canonical JSON naming kind and version), checked by the parser first:
    the host never writes a leaf a verifier would refuse."""
    fields = licence_fields(entry)
    parse_licence_leaf({**fields, "kind": LEAF_KIND, "version": LEAF_VERSION})
    return encode_leaf(LeafKind.LICENCE, LEAF_VERSION, fields)


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
    threshold, licence = leaf["threshold_users"], leaf["threshold_licence"]
    if threshold is not None and (_integer(leaf, "threshold_users") == 0):
        raise LeafError("threshold_users: a positive integer or null")
    if (threshold is None) != (licence is None) or (
            licence is not None and (not isinstance(licence, str) or not _LICENCE_ID.fullmatch(licence))):
        raise LeafError("threshold_licence: a licence id with threshold_users, null without")
    categories = leaf["acceptable_use"]
    if not isinstance(categories, Mapping) or set(categories) != set(HAZARD_CODES):
        raise LeafError("acceptable_use: expected a count for each of S1..S14")
    counts = AcceptableUseCounts(
        _integer(leaf, "requests_classified"), _integer(leaf, "requests_refused"),
        tuple((code, _integer(categories, code)) for code in HAZARD_CODES), _integer(leaf, "requests_flagged"),
    )
    if counts.requests_refused + counts.requests_flagged > counts.requests_classified:
        raise LeafError("requests_refused and requests_flagged exceed requests_classified")
    return LicenceLeaf(month, _integer(leaf, "users"), method, error_ppm, digest, counts, threshold, licence)


def _integer(values: Mapping[str, Any], key: str) -> int:
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LeafError(f"{key}: expected a non-negative integer, got {value!r}")
    return value


def users_upper_bound(users: int, error_ppm: int) -> int:
    """The count at three standard errors above the estimate (the count itself when exact)."""
    return users if error_ppm == 0 else -(-users * (1_000_000 + 3 * error_ppm) // 1_000_000)


def threshold_bps(users: int, threshold_users: int | None) -> int | None:
    """The count's share of the threshold in basis points (floor), None without a threshold."""
    return None if not threshold_users else users * 10_000 // threshold_users


def licence_statement_line(leaf: LicenceLeaf, threshold_users: int | None = None) -> dict:
    """The licensor's statement line for one month, from its (verified) leaf: the count, its
    method and error, an upper bound at three standard errors, the share of the licence
    threshold in basis points (floor), and the acceptable-use counts. `threshold_users`
    overrides the leaf's own threshold (a licensor checking against its licence)."""
    threshold = leaf.threshold_users if threshold_users is None else threshold_users
    counts = leaf.acceptable_use
    return {
        "stream": "licence", "month": leaf.month, "users": leaf.users,
        "users_upper_bound": users_upper_bound(leaf.users, leaf.error_ppm),
        "method": leaf.method, "error_ppm": leaf.error_ppm, "sketch_sha256": leaf.sketch_sha256,
        "threshold_users": threshold, "threshold_licence": leaf.threshold_licence,
        "threshold_bps": threshold_bps(leaf.users, threshold),
        "requests_classified": counts.requests_classified, "requests_flagged": counts.requests_flagged,
        "requests_refused": counts.requests_refused, "acceptable_use": dict(counts.per_category),
    }
