"""The ``messaging`` stream in a statement: message leaves become revenue groups. Pure.

A period's close settles the ``message`` leaves appended since the previous close (see
`revstream.settlement._contributions`). Every delivered message's charge is revenue of the
model its fee is attributed to (see ``_leaves.attribute_model``), in stream ``messaging``,
settled at the agreement's share for that stream (``stream_share_bps``, else its rule). The
host's settlement and the licensor's verifier both call ``messaging_contribution``
(registered in `revstream.features`), so ``revstream verify`` recomputes the stream from
the log's leaves alone.

Groups are per (model, currency, UTC day) so an agreement whose dates end inside the period
settles exactly the days it covers; failed messages count nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Final

from revstream.messaging._errors import LeafError
from revstream.messaging._events import STATUS_DELIVERED
from revstream.messaging._leaves import STREAM_MESSAGING, parse_message_leaf
from revstream.messaging._units import DAY_US
from revstream.settlement import Agreement, Contribution, UsageGroup, UsageLineError

SECTION_MESSAGING: Final = "messaging"
"""The statement section counting the period's messages by category."""


def messaging_contribution(agreement: Agreement, period: str, leaves: Sequence[dict]) -> Contribution:
    """The messaging revenue groups of the close's message leaves for ``agreement``, and a
    ``messaging`` section of message counts per priced category (delivered, failed)."""
    totals: dict[tuple[str, str, int], list[int]] = {}
    counts: dict[str, list[int]] = {}
    for value in leaves:
        try:
            leaf = parse_message_leaf(value)
        except LeafError as error:
            raise UsageLineError(f"a message leaf: {error}") from None
        count = counts.setdefault(leaf.priced_category, [0, 0])
        if leaf.status != STATUS_DELIVERED:
            count[1] += 1
            continue
        count[0] += 1
        if leaf.model not in agreement.models:
            continue
        day_us = leaf.time_us - leaf.time_us % DAY_US
        total = totals.setdefault((leaf.model, leaf.currency, day_us), [0, 0])
        total[0] += leaf.price_nanos
        total[1] += 1
    groups = tuple(
        UsageGroup(model, day_us, requests=0, tokens_prompt=0, tokens_completion=0, stream=STREAM_MESSAGING,
                   fee_exact=Fraction(gross), currency=currency)
        for (model, currency, day_us), (gross, _) in sorted(totals.items()) if gross
    )
    if not counts:
        return Contribution(groups)
    section = [{"category": category, "delivered": delivered, "failed": failed}
               for category, (delivered, failed) in sorted(counts.items())]
    return Contribution(groups, ((SECTION_MESSAGING, section),))
