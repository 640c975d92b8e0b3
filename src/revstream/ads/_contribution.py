"""The ``ads`` stream in settlement: impression and click leaves become revenue by model.

Registered once in ``revstream.features`` (one contributor per leaf kind), so the host's
close and the licensor's verifier turn the same leaves into the same statement lines. Each
leaf kind contributes rating groups of no usage whose ``fee_exact`` is the exact ad revenue
of one model on one UTC day (the agreement's dates are whole UTC days, so a day's group is
wholly in or out of force), in the stream ``ads``: the agreement's share for that stream
applies. A leaf that does not parse stops the statement (``UsageLineError``), as it stops a
verifier. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

from revstream.ads._errors import AdsLeafError
from revstream.ads._leaves import (
    CLICK_VERSION,
    IMPRESSION_VERSION,
    STREAM_ADS,
    parse_click_leaf,
    parse_impression_leaf,
)
from revstream.leaves import LeafKind, register
from revstream.periods import day_start_us
from revstream.settlement import Agreement, Contribution, UsageGroup, UsageLineError

register(LeafKind.IMPRESSION, IMPRESSION_VERSION)
register(LeafKind.CLICK, CLICK_VERSION)


def _contribution(kind: str, parse: Callable[[object], object], leaves: Sequence[dict],
                  agreement: Agreement) -> Contribution:
    totals: dict[tuple[str, int, str], Fraction] = {}
    seen: set[str] = set()
    for value in leaves:
        try:
            leaf = parse(value)
        except AdsLeafError as error:
            raise UsageLineError(f"an {kind} leaf: {error}") from None
        event_id = getattr(leaf, f"{kind}_id")
        if event_id in seen:
            raise UsageLineError(f"{kind} {event_id} appears twice in one close")
        seen.add(event_id)
        if leaf.charge_nanos and leaf.model in agreement.models:
            key = (leaf.model, day_start_us(leaf.time_us), leaf.currency)
            totals[key] = totals.get(key, Fraction(0)) + leaf.charge_nanos
    groups = tuple(
        UsageGroup(model, day_start, 0, 0, 0, STREAM_ADS, None, 0, gross, currency)
        for (model, day_start, currency), gross in sorted(totals.items())
    )
    return Contribution(groups)


def impression_contribution(agreement: Agreement, period: str, leaves: Sequence[dict]) -> Contribution:
    """Every charged impression's price (CPM), by model and day, in the ``ads`` stream."""
    return _contribution("impression", parse_impression_leaf, leaves, agreement)


def click_contribution(agreement: Agreement, period: str, leaves: Sequence[dict]) -> Contribution:
    """Every charged click's price (CPC), by model and day, in the ``ads`` stream."""
    return _contribution("click", parse_click_leaf, leaves, agreement)
