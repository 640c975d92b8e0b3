"""Recitation events in the log and in the licensor's statement.

`recitation_leaf_bytes` writes an event as its log leaf (canonical JSON through
`revstream.leaves`, checked by the parser first: the host never writes a leaf a verifier
would refuse). `recitation_contribution` turns the `recitation` leaves a close settles into
the statement section `recitation`: one line per work and action, with its holder and the
count, sorted. The host's settlement and the licensor's verifier both call it (registered
in `revstream.features`), so `revstream verify` recomputes the section from the log. Pure.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from ..leaves import LeafKind, encode_leaf, register
from ..settlement import Agreement, Contribution, UsageLineError
from ._errors import LeafError
from ._leaf import RECITATION_LEAF_VERSION, RecitationEvent, parse_recitation_leaf, recitation_leaf

STATEMENT_SECTION = "recitation"
"""The name of the statement section the `recitation` leaves of a close become."""

register(LeafKind.RECITATION, RECITATION_LEAF_VERSION)


def recitation_leaf_bytes(event: RecitationEvent) -> bytes:
    leaf = recitation_leaf(event)
    parse_recitation_leaf(leaf)
    fields = {name: value for name, value in leaf.items() if name not in ("kind", "version")}
    return encode_leaf(LeafKind.RECITATION, RECITATION_LEAF_VERSION, fields)


def recitation_contribution(agreement: Agreement, period: str, leaves: Sequence[dict]) -> Contribution:
    """The `recitation` section of every statement of the close: events per (work, holder,
    action) among the leaves it settles; no section when it settles none. The same for every
    agreement: a work recited is reported whatever model recited it."""
    try:
        events = [parse_recitation_leaf(value) for value in leaves]
    except LeafError as error:
        raise UsageLineError(f"a recitation leaf: {error}") from None
    counts = Counter((event.work_id, event.holder_id, event.action) for event in events)
    lines = [{"work_id": work_id, "holder_id": holder_id, "action": action, "events": count}
             for (work_id, holder_id, action), count in sorted(counts.items())]
    return Contribution((), ((STATEMENT_SECTION, lines),)) if lines else Contribution()
