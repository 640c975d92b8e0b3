"""Fees in settlement: how every fee of a period is attributed to models, leaving none
unattributed, and what part of it an agreement settles. Pure, and the same on the host and
in the licensor's verifier (which reads the fees from the log's ``fee`` leaves).

The rule, one for every fee (a subscription fee, a commit minimum's top-up):

1. a fee belongs to its plan and its stream (``subscription`` for a fee, ``api`` for a
   commit minimum) and is earned evenly over its interval ``[from_us, to_us)``;
2. it is split over models in proportion to the tokens (prompt + completion) its plan
   served of each model in the period (every model, under every agreement: a plan that
   also serves another licensor's model shares its fee with it);
3. a plan that served nothing in the period splits it evenly over the fee's ``models``:
   the plan's listed models, or, for a plan open to every model, every model the host
   prices at the close;
4. an agreement settles the part of each of its models' shares earned while it was in
   force: ``share × overlap(interval, agreement dates) / length(interval)``.

So a month with an agreement from its 15th settles the fees earned from the 15th, and
every cent of a fee lands on one statement line for every second an agreement covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from revstream.leaves import FeeEntry
from revstream.settlement._rate import UsageGroup, window_us
from revstream.settlement._terms import Agreement


@dataclass(frozen=True, slots=True)
class FeeShare:
    """The part of one fee attributed to one model, exact nanos, earned over [from_us, to_us)."""

    model: str
    plan: str
    stream: str
    currency: str
    from_us: int
    to_us: int
    amount_exact: Fraction


def attribute_fees(fees: Iterable[FeeEntry], plan_tokens: Mapping[str, Mapping[str, int]]) -> tuple[FeeShare, ...]:
    """Every fee split over models by the rule above. ``plan_tokens``: plan id → model →
    tokens the plan served in the fee's period. A fee with no tokens and no models (a
    host that prices no model at all) is the one case left unattributed."""
    shares = []
    for fee in fees:
        served = {model: tokens for model, tokens in plan_tokens.get(fee.plan, {}).items() if tokens > 0}
        weights = served or {model: 1 for model in fee.models}
        total = sum(weights.values())
        for model, weight in sorted(weights.items()):
            shares.append(FeeShare(model, fee.plan, fee.stream, fee.currency, fee.from_us, fee.to_us,
                                   fee.amount_exact * weight / total))
    return tuple(shares)


def fee_groups(agreement: Agreement, shares: Iterable[FeeShare]) -> list[UsageGroup]:
    """The agreement's part of each share, as rating groups of no usage: the share of each of
    its models, prorated to the time the agreement was in force."""
    groups = []
    for share in shares:
        if share.model not in agreement.models:
            continue
        window_from, window_to = window_us(agreement, share.from_us, share.to_us)
        if window_to <= window_from:
            continue
        amount = share.amount_exact * (window_to - window_from) / (share.to_us - share.from_us)
        groups.append(UsageGroup(share.model, window_from, 0, 0, 0, share.stream, None, 0, amount, share.currency))
    return groups
