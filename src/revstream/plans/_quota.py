"""Live plan enforcement, as pure decisions: state read in the admitting transaction in,
a decision out (the store applies it under the customer's row lock).

Included tokens are reserved at admission like money: a request takes up to its maximum
tokens (prompt plus ``max_tokens``) from the window's remaining allowance; concurrent
requests count against each other, and at finalization the reservation settles to the
tokens actually used. What does not fit is overage: charged at the plan's overage price
(reserved as money first, like pay as you go) or, with a hard stop, refused before the
model is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from revstream.money import round_half_even, round_up
from revstream.plans._plan import BPS_PER_UNIT, KIND_COMMIT, KIND_FREE, Plan
from revstream.pricing import TOKENS_PER_MTOK

CODE_QUOTA: Final = "insufficient_quota"
CODE_MODEL_NOT_IN_PLAN: Final = "model_not_in_plan"


@dataclass(frozen=True, slots=True)
class QuotaWindow:
    """A subscription's quota window as read at admission."""

    allowance_tokens: int
    used_tokens: int
    reserved_tokens: int

    @property
    def remaining_tokens(self) -> int:
        return max(0, self.allowance_tokens - self.used_tokens - self.reserved_tokens)


@dataclass(frozen=True, slots=True)
class PlanAdmission:
    """``refused`` with a code and message, or the tokens to reserve from the window and
    the overage tokens to reserve as money."""

    tokens_included: int = 0
    tokens_overage: int = 0
    refused_code: str | None = None
    message: str = ""


def admit_plan(
    plan: Plan, model: str, tokens_max: int, window: QuotaWindow | None, tokens_taken_in_batch: int, renews_at: str,
) -> PlanAdmission:
    """Decide a request of up to ``tokens_max`` tokens under ``plan``. ``tokens_taken_in_batch``
    is what earlier requests of the same batch reserved from the same window."""
    if not plan.allows(model):
        return PlanAdmission(refused_code=CODE_MODEL_NOT_IN_PLAN, message=(
            f"The model `{model}` is not part of your plan '{plan.name}', which covers: {', '.join(plan.models)}."))
    if window is None:
        return PlanAdmission()
    remaining = max(0, window.remaining_tokens - tokens_taken_in_batch)
    included = min(remaining, tokens_max)
    overage = tokens_max - included
    if overage and plan.hard_stop:
        period = "daily" if plan.kind == KIND_FREE else "monthly"
        return PlanAdmission(refused_code=CODE_QUOTA, message=(
            f"Your plan '{plan.name}' has {remaining} of its {window.allowance_tokens} {period} included tokens left "
            f"and this request may use up to {tokens_max}. The plan renews at {renews_at}; lower max_tokens or change plans."))
    return PlanAdmission(tokens_included=included, tokens_overage=overage)


def overage_exact(plan: Plan, tokens: int) -> Fraction:
    return Fraction(tokens * (plan.overage_nanos_per_mtok or 0), TOKENS_PER_MTOK)


def overage_hold_nanos(plan: Plan, tokens: int) -> int:
    """The most ``tokens`` of overage can cost: the money reserved at admission."""
    return round_up(overage_exact(plan, tokens))


def split_actual(tokens_used: int, tokens_included_reserved: int) -> tuple[int, int]:
    """(included, overage) tokens of a finished request that had reserved
    ``tokens_included_reserved`` included tokens."""
    included = min(tokens_used, tokens_included_reserved)
    return included, tokens_used - included


def discount_factor(plan: Plan | None) -> Fraction:
    """What a commit plan pays of the list price (1 for every other plan)."""
    if plan is None or plan.kind != KIND_COMMIT:
        return Fraction(1)
    return Fraction(BPS_PER_UNIT - plan.discount_bps, BPS_PER_UNIT)


def discounted_nanos(plan: Plan | None, list_exact: Fraction, hold: bool = False) -> int:
    """A list-price amount after the plan's discount: half-even to the nano for a charge,
    rounded up for a hold (so the hold always covers the charge)."""
    exact = list_exact * discount_factor(plan)
    return round_up(exact) if hold else round_half_even(exact)
