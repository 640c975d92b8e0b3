"""Rating a period's usage for one agreement: the gross of each model's line, exact.

Shared by the host's settlement (which aggregates records in SQL) and an auditor's
verifier (which aggregates the transparency log's entries): both feed the same
``UsageGroup`` values in, so both get the same lines out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction

from revstream.pricing import TOKENS_PER_MTOK, PriceSchedule
from revstream.settlement._compute import UsageLine
from revstream.settlement._errors import UsageLineError
from revstream.settlement._periods import day_us
from revstream.settlement._terms import Agreement

STREAM_API = "api"
"""Metered API access: the stream of gateway and imported usage."""


@dataclass(frozen=True, slots=True)
class UsageGroup:
    """Usage of one model over an interval in which its price and agreement are constant;
    ``first_us`` is any instant inside it (the earliest record's time)."""

    model: str
    first_us: int
    requests: int
    tokens_prompt: int
    tokens_completion: int


def in_force(agreement: Agreement, time_us: int) -> bool:
    """Whether the agreement's effective dates (whole UTC days) cover the instant ``time_us``."""
    if time_us < day_us(agreement.effective_from):
        return False
    return agreement.effective_to is None or time_us < day_us(agreement.effective_to + timedelta(days=1))


def window_us(agreement: Agreement, start_us: int, end_us: int) -> tuple[int, int]:
    """The part of ``[start_us, end_us)`` inside the agreement's effective dates."""
    window_from = max(start_us, day_us(agreement.effective_from))
    if agreement.effective_to is None:
        return window_from, end_us
    return window_from, min(end_us, day_us(agreement.effective_to + timedelta(days=1)))


def rate_usage(
    agreement: Agreement, groups: Iterable[UsageGroup], schedule: PriceSchedule, stream: str = STREAM_API
) -> tuple[UsageLine, ...]:
    """One line per model of the agreement, gross exact at the price in force for each group.

    Groups of models outside the agreement or outside its dates are skipped; a model
    without a price is rated at zero. Raises UsageLineError when a price's currency is
    not the agreement's."""
    totals: dict[str, list[int]] = {}
    for group in groups:
        if group.model not in agreement.models or not in_force(agreement, group.first_us):
            continue
        price = schedule.price_at_us(group.model, group.first_us)
        numerator = 0
        if price is not None:
            if price.currency != agreement.currency:
                raise UsageLineError(f"model {group.model!r} is priced in {price.currency}, agreement "
                                     f"{agreement.agreement_id} settles in {agreement.currency}")
            numerator = (group.tokens_prompt * price.input_nanos_per_mtok
                         + group.tokens_completion * price.output_nanos_per_mtok)
        total = totals.setdefault(group.model, [0, 0, 0, 0])
        for index, value in enumerate((group.requests, group.tokens_prompt, group.tokens_completion, numerator)):
            total[index] += value
    return tuple(
        UsageLine(model, stream, t[0], t[1], t[2], Fraction(t[3], TOKENS_PER_MTOK))
        for model, t in sorted(totals.items())
    )
