"""Settlement streams in the store: how subscription fees are attributed to models (see
`_settlement`, which owns the aggregation and the close). How each stream's gross is rated
is pure and shared with the auditor's verifier: `revstream.settlement.STREAM_GROSS`."""

from __future__ import annotations

from fractions import Fraction

from sqlalchemy import Connection, func, select

from ..metering import STATUS_PENDING
from ..plans import Plan
from ..settlement import STREAM_ADS, STREAM_API, STREAM_GROSS, STREAM_SUBSCRIPTION
from ._plans import period_fees
from ._schema import usage_records

# The streams and their gross rules are pure (revstream.settlement); re-exported here for
# the store's readers.
__all__ = ("STREAM_ADS", "STREAM_API", "STREAM_GROSS", "STREAM_SUBSCRIPTION", "fee_shares")


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
