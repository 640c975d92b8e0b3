"""Finalization decisions: what a finished request is charged and what its holds release.

A pending record carries its holds (`Held`): money reserved at admission (or none), the plan
it ran under and the included tokens it reserved. When the request ends, `settle` decides:

- the charge: the tokens used at the price in force at the record's time, rounded half-even
  to the nano; less a commit plan's discount; under a quota plan (subscription or free) only
  the overage beyond the reserved included tokens, at the plan's overage price (a free plan
  never charges). Never above the money held: a record without a hold is charged at most 0;
- the included tokens used (a quota plan's records name them, and are charged 0 when they
  stay inside them, never left without a charge);
- what moves: every budget window the hold was counted on gives the hold back and counts
  the charge as spent; the quota window gives the reserved included tokens back and counts
  those used.

A discarded request (it never reached a backend) is `release`d: everything held goes back.
"""

from __future__ import annotations

from typing import NamedTuple

from revstream.money import round_half_even
from revstream.plans import KIND_SUBSCRIPTION, Plan, discount_factor, overage_exact, split_actual
from revstream.pricing import ModelPrice, charge_exact, provisional_charge_nanos

from ._admit import QUOTA_KINDS


class Held(NamedTuple):
    """What a pending record holds: money (`reserved_nanos`, None without a hold), the plan
    it ran under (`plan`, None without one or with one the store no longer knows), and the
    included tokens it reserved."""

    reserved_nanos: int | None = None
    plan: Plan | None = None
    tokens_included: int | None = None

    @property
    def on_quota(self) -> bool:
        return self.plan is not None and self.plan.kind in QUOTA_KINDS


class Settlement(NamedTuple):
    """A finished request's charge (None: not charged, e.g. an unpriced model), the included
    tokens it used (None: no quota plan), and the moves on its windows: the budget windows'
    reserved and spent nanos, the quota window's reserved and used tokens."""

    charge_nanos: int | None
    tokens_included: int | None = None
    budget_reserved_delta_nanos: int = 0
    budget_spent_delta_nanos: int = 0
    quota_reserved_delta_tokens: int = 0
    quota_used_delta_tokens: int = 0

    @property
    def books_money(self) -> bool:
        """Whether the charge moves money (it is booked in the ledger)."""
        return bool(self.charge_nanos)


NOT_CHARGED = Settlement(None)


def charge_before_cap(held: Held, tokens_prompt: int, tokens_completion: int, price: ModelPrice | None) -> int:
    """The charge of the tokens before the hold caps it (nanos, half-even)."""
    plan = held.plan
    if held.on_quota:
        _, overage = split_actual(tokens_prompt + tokens_completion, held.tokens_included or 0)
        return round_half_even(overage_exact(plan, overage)) if plan.kind == KIND_SUBSCRIPTION else 0
    if price is None:
        return 0
    if plan is None:  # the hot path: integer arithmetic only
        return provisional_charge_nanos(tokens_prompt, tokens_completion, price)
    return round_half_even(charge_exact(tokens_prompt, tokens_completion, price) * discount_factor(plan))


def settle(held: Held, tokens_prompt: int, tokens_completion: int, price: ModelPrice | None) -> Settlement:
    """Decide a finished request (see the module's text)."""
    reserved = held.reserved_nanos
    if held.plan is None:  # the hot path: pay as you go, integer arithmetic only
        if reserved is None:
            return NOT_CHARGED
        charge = min(provisional_charge_nanos(tokens_prompt, tokens_completion, price), reserved) if price else 0
        return Settlement(charge, None, -reserved, charge)
    if not held.on_quota and reserved is None:
        return NOT_CHARGED
    reserved = reserved or 0
    charge = min(charge_before_cap(held, tokens_prompt, tokens_completion, price), reserved)
    if not held.on_quota:
        return Settlement(charge, None, -reserved, charge)
    included, _ = split_actual(tokens_prompt + tokens_completion, held.tokens_included or 0)
    return Settlement(charge, included, -reserved, charge, -(held.tokens_included or 0), included)


def release(held: Held) -> Settlement:
    """A discarded request: nothing charged, every hold given back."""
    tokens = (held.tokens_included or 0) if held.on_quota else 0
    return Settlement(None, None, -(held.reserved_nanos or 0), 0, -tokens, 0)


def expected_charge(held: Held, tokens_prompt: int, tokens_completion: int, price: ModelPrice | None) -> int | None:
    """The charge `settle` books for a final record's tokens, as the ledger check re-prices it
    (None: an unpriced record outside a quota plan, nothing to compare). A final record's
    `tokens_included` are those it used, so the overage split is the same as at settling."""
    if price is None and not held.on_quota:
        return None
    charge = charge_before_cap(held, tokens_prompt, tokens_completion, price)
    if held.reserved_nanos is None:
        return 0 if held.on_quota else charge
    return min(charge, held.reserved_nanos)
