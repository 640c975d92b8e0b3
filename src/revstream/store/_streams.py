"""Settlement streams: how each stream's gross revenue is rated, and how subscription fees
are attributed to models (see `_settlement`, which owns the aggregation and the close).

A registry, not ifs: a new stream (messaging) is one entry in `STREAM_GROSS`.
"""

from __future__ import annotations

from fractions import Fraction
from types import MappingProxyType
from typing import Final

from sqlalchemy import Connection, func, select

from ..metering import STATUS_PENDING
from ..plans import STREAM_OF_KIND, Plan, discount_factor, overage_exact
from ..pricing import charge_exact
from ._plans import period_fees
from ._schema import NO_PLAN_STREAM, usage_records

# Usage without a plan is API access; a plan's usage and fees name their stream.
STREAM_API: Final = NO_PLAN_STREAM
STREAM_SUBSCRIPTION: Final = STREAM_OF_KIND["subscription"]
STREAM_ADS: Final = STREAM_OF_KIND["free"]


def _api_gross(group, price) -> Fraction:
    """Tokens × the price of the interval, less a commit plan's discount."""
    if price is None:
        return Fraction(0)
    return charge_exact(group.tokens_prompt, group.tokens_completion, price) * discount_factor(group.plan)


def _subscription_gross(group, price) -> Fraction:
    """The group's share of the fees plus its overage at the plan's overage price."""
    overage_tokens = group.tokens_prompt + group.tokens_completion - group.tokens_included
    return group.fee_exact + (overage_exact(group.plan, overage_tokens) if group.plan else Fraction(0))


def _unpaid_gross(group, price) -> Fraction:
    """The free tier: customers pay nothing; its advertisers' revenue joins this stream later."""
    return Fraction(0)


STREAM_GROSS: Final = MappingProxyType({
    STREAM_API: _api_gross, STREAM_SUBSCRIPTION: _subscription_gross, STREAM_ADS: _unpaid_gross,
})


def fee_shares(connection: Connection, period: str, start_us: int, end_us: int) -> list[tuple[str, Plan, Fraction]]:
    """(model, plan, exact fee share) of every plan's fees in `period`: each plan's fees,
    exact, split over its models in proportion to the tokens each served under the plan in
    the period; evenly over the plan's listed models when it served none (a plan open to
    every model that served nothing is attributed to no model)."""
    fees = period_fees(connection, period)
    if not fees:
        return []
    served = connection.execute(
        select(usage_records.c.plan_id, usage_records.c.model,
               func.sum(usage_records.c.tokens_prompt + usage_records.c.tokens_completion))
        .where(usage_records.c.plan_id.in_(sorted(fees)), usage_records.c.time_us >= start_us,
               usage_records.c.time_us < end_us, usage_records.c.status != STATUS_PENDING)
        .group_by(usage_records.c.plan_id, usage_records.c.model)
    ).all()
    shares = []
    for plan_id, (plan, fee) in sorted(fees.items()):
        tokens = {model: int(total or 0) for pid, model, total in served if pid == plan_id and total}
        weights = tokens or {model: 1 for model in plan.models}
        weight_total = sum(weights.values())
        shares.extend((model, plan, fee * weight / weight_total) for model, weight in sorted(weights.items()))
    return shares
