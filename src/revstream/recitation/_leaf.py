"""Recitation events: the response's `recitation` object and the transparency-log leaf.

A **recitation event** is one registered work found in one response: blocked or cited.
Its leaf, kind `recitation`, version 1, is this dict (canonical JSON, RFC 8785, when logged):

    {"kind": "recitation", "version": 1,
     "request_id": "req_...",        the response's usage record (whose leaf names the customer's pseudonym)
     "time_us": 1767225600000000,    when the guard found it (µs since the epoch)
     "model": "smollm2-135m-instruct",
     "work_id": "wrk_...",           the registered work
     "holder_id": "hld_...",         its rights holder (an id, never a person's name)
     "window_hash": "0004f2a1c3b2d9e1",  the window found (16 hex digits: 64 bits exceed JSON's exact integers)
     "action": "block" | "cite"}

No text of the work or of the response, no customer: a holder learns which of its works were
recited, when, by which model, and can check that the window is one of its own (it can
hash its text with the host's key), without learning who asked.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from ._errors import LeafError
from ._guard import RecitationHit
from ._hashing import hash_hex, parse_hash_hex
from ._works import MODES

RECITATION_LEAF_KIND = "recitation"
RECITATION_LEAF_VERSION = 1
RECITATION_LEAF_FIELDS = ("kind", "version", "request_id", "time_us", "model", "work_id", "holder_id",
                          "window_hash", "action")
_ID_CHARS_MAX = 200
_ID = re.compile(r"[^\x00-\x1f\x7f]+")
TIME_US_MAX = 2**53 - 1


@dataclass(frozen=True, slots=True)
class RecitationEvent:
    request_id: str
    time_us: int
    model: str
    work_id: str
    holder_id: str
    window_hash: int
    action: str


def recitation_event(hit: RecitationHit, request_id: str, time_us: int, model: str) -> RecitationEvent:
    """The event to record for a hit of the guard in a response."""
    return RecitationEvent(request_id, time_us, model, hit.work.work_id, hit.work.holder_id, hit.window_hash, hit.action)


def recitation_leaf(event: RecitationEvent) -> dict:
    """The event's public projection, as the log's leaf (see the module's docstring)."""
    return {
        "kind": RECITATION_LEAF_KIND, "version": RECITATION_LEAF_VERSION, "request_id": event.request_id,
        "time_us": event.time_us, "model": event.model, "work_id": event.work_id, "holder_id": event.holder_id,
        "window_hash": hash_hex(event.window_hash), "action": event.action,
    }


def _string(leaf: dict, name: str) -> str:
    value = leaf[name]
    if not isinstance(value, str) or not 0 < len(value) <= _ID_CHARS_MAX or _ID.fullmatch(value) is None:
        raise LeafError(f"recitation leaf field {name} must be a non-empty string of at most {_ID_CHARS_MAX} "
                        "characters without control characters")
    return value


def parse_recitation_leaf(leaf: dict) -> RecitationEvent:
    """The event a `recitation` leaf records; LeafError on a missing or extra field, a wrong
    type, or a kind or version this code does not know."""
    if not isinstance(leaf, dict):
        raise LeafError("a leaf is a JSON object")
    if leaf.get("kind") != RECITATION_LEAF_KIND:
        raise LeafError(f"not a recitation leaf (kind {leaf.get('kind')!r})")
    version = leaf.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise LeafError("a recitation leaf's version is an integer")
    if version != RECITATION_LEAF_VERSION:
        raise LeafError(f"unknown recitation leaf version {version} (known: {RECITATION_LEAF_VERSION})")
    missing = [name for name in RECITATION_LEAF_FIELDS if name not in leaf]
    extra = sorted(set(leaf) - set(RECITATION_LEAF_FIELDS))
    if missing or extra:
        raise LeafError(f"recitation leaf v1: missing {missing or 'nothing'}, unknown {extra or 'nothing'}")
    time_us = leaf["time_us"]
    if isinstance(time_us, bool) or not isinstance(time_us, int) or not 0 <= time_us <= TIME_US_MAX:
        raise LeafError("recitation leaf field time_us must be a non-negative integer")
    try:
        window_hash = parse_hash_hex(leaf["window_hash"])
    except ValueError as error:
        raise LeafError(f"recitation leaf field window_hash: {error}") from None
    if leaf["action"] not in MODES:
        raise LeafError(f"recitation leaf field action must be one of {', '.join(MODES)}")
    return RecitationEvent(_string(leaf, "request_id"), time_us, _string(leaf, "model"), _string(leaf, "work_id"),
                           _string(leaf, "holder_id"), window_hash, leaf["action"])


def recitation_counts(events: Iterable[RecitationEvent]) -> dict[tuple[str, str], int]:
    """Events per (work id, action), for the licensor's statement and the holder's view;
    `revstream verify` recomputes it from the parsed leaves of a statement's range. A
    response that cited a work and then was blocked by another counts once for each."""
    return dict(sorted(Counter((event.work_id, event.action) for event in events).items()))


def recitation_object(stop: RecitationHit | None, citations: Iterable[RecitationHit]) -> dict | None:
    """The `recitation` object of a response's choice (None when nothing was found):

        {"action": "block", "work_id": ..., "title": ..., "holder": ...,
         "citations": [{"work_id": ..., "title": ..., "holder": ...}, ...]}

    `action`, `work_id`, `title` and `holder` name the work that stopped the response
    (action "block"), else the first work cited (action "cite"); `citations` lists every
    `cite` work found, in order."""
    hits = tuple(citations)
    cited = [hit.work.public() for hit in hits]
    lead = stop if stop is not None else (hits[0] if hits else None)
    if lead is None:
        return None
    return {"action": lead.action, **lead.work.public(), "citations": cited}
