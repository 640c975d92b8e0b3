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
from types import MappingProxyType
from typing import Final

from revstream.plans import STREAM_OF_KIND, Plan, discount_factor, overage_exact
from revstream.pricing import ModelPrice, PriceSchedule, charge_exact
from revstream.settlement._compute import UsageLine
from revstream.settlement._errors import UsageLineError
from revstream.periods import day_us
from revstream.settlement._terms import Agreement

STREAM_API: Final = "api"
"""Metered API access without a plan, or under a pay-as-you-go or commit plan."""
STREAM_SUBSCRIPTION: Final = STREAM_OF_KIND["subscription"]
STREAM_ADS: Final = STREAM_OF_KIND["free"]
STREAM_MESSAGING: Final = "messaging"
"""Paid business messaging (issue 14): its revenue is the message fees (`fee_exact`), no usage."""


@dataclass(frozen=True, slots=True)
class UsageGroup:
    """Usage of one model, stream and plan over an interval in which its price and agreement
    are constant; ``first_us`` is any instant inside it (the earliest record's time). A fee
    comes as a group of its own (see `_fees.fee_groups`): no usage, ``fee_exact`` the part
    the agreement settles, in ``currency``."""

    model: str
    first_us: int
    requests: int
    tokens_prompt: int
    tokens_completion: int
    stream: str = STREAM_API
    plan: Plan | None = None
    tokens_included: int = 0
    fee_exact: Fraction = Fraction(0)
    currency: str | None = None


def _api_gross(group: UsageGroup, price: ModelPrice | None) -> Fraction:
    """Tokens × the price of the interval, less a commit plan's discount."""
    if price is None:
        return Fraction(0)
    return charge_exact(group.tokens_prompt, group.tokens_completion, price) * discount_factor(group.plan)


def _subscription_gross(group: UsageGroup, price: ModelPrice | None) -> Fraction:
    """Overage at the plan's overage price (the fees come as fee groups)."""
    overage_tokens = group.tokens_prompt + group.tokens_completion - group.tokens_included
    return overage_exact(group.plan, overage_tokens) if group.plan else Fraction(0)


def _unpaid_gross(group: UsageGroup, price: ModelPrice | None) -> Fraction:
    """The free tier: customers pay nothing; its advertisers' revenue joins this stream later."""
    return Fraction(0)


STREAM_GROSS: Final = MappingProxyType({
    STREAM_API: _api_gross, STREAM_SUBSCRIPTION: _subscription_gross, STREAM_ADS: _unpaid_gross,
    STREAM_MESSAGING: _unpaid_gross,  # messaging (issue 14): message fees come as groups' fee_exact
})
"""How each stream's usage is rated: a registry, so a new stream (messaging) is one entry.
A group's gross is its fee (``fee_exact``) plus its stream's rating of its usage."""


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


def rate_usage(agreement: Agreement, groups: Iterable[UsageGroup], schedule: PriceSchedule) -> tuple[UsageLine, ...]:
    """One line per model and stream of the agreement, gross exact (see STREAM_GROSS).

    Groups of models outside the agreement or outside its dates are skipped; a model
    without a price is rated at zero on the api stream. Raises UsageLineError for a
    stream without a rule, or a price or plan in another currency than the agreement's."""
    totals: dict[tuple[str, str], list] = {}
    for group in groups:
        if group.model not in agreement.models or not in_force(agreement, group.first_us):
            continue
        rate = STREAM_GROSS.get(group.stream)
        if rate is None:
            raise UsageLineError(f"no settlement rule for stream {group.stream!r}")
        price = schedule.price_at_us(group.model, group.first_us)
        gross = group.fee_exact + rate(group, price)
        currency = group.currency or (price.currency if group.stream == STREAM_API and price else
                                      group.plan.currency if group.plan else None)
        if gross and currency != agreement.currency:
            raise UsageLineError(f"model {group.model!r} is priced in {currency}, agreement "
                                 f"{agreement.agreement_id} settles in {agreement.currency}")
        total = totals.setdefault((group.model, group.stream), [0, 0, 0, Fraction(0)])
        for index, value in enumerate((group.requests, group.tokens_prompt, group.tokens_completion, gross)):
            total[index] += value
    return tuple(UsageLine(model, stream, t[0], t[1], t[2], t[3]) for (model, stream), t in sorted(totals.items()))
