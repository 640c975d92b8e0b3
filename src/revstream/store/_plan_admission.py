"""Live plan enforcement inside the usage writer's transactions (see `_metering`).

At admission, under the customer's row lock: the customer's subscription in force (one
indexed read per batch, none per request), the quota window of each subscribed request
(created on first use), the decision of `revstream.plans.admit_plan`, and the included
tokens reserved on the window and on the pending record. Overage is handed back to the
money path as an amount to reserve, like a pay-as-you-go request. At finalization the
reservation settles to the tokens actually used; a discarded request gives it back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import Connection

from ..periods import US_PER_S, rfc3339
from ..plans import (
    KIND_FREE,
    KIND_SUBSCRIPTION,
    Plan,
    PlanAdmission,
    QuotaWindow,
    admit_plan,
    discount_factor,
    discounted_nanos,
    overage_exact,
    overage_hold_nanos,
    split_actual,
    window_bounds_s,
)
from ..pricing import charge_exact
from ._plans import SubscriptionRow, allowance, move_windows, plans_by_id, read_windows, renewal_us, window_start_us
from ._schema import NO_PLAN_STREAM

QUOTA_KINDS = (KIND_SUBSCRIPTION, KIND_FREE)


@dataclass(frozen=True, slots=True)
class PlanHold:
    """What a pending record carries for its plan: its stream, plan and subscription, and
    the included tokens it reserved on the quota window `window`."""

    stream: str = NO_PLAN_STREAM
    plan_id: str | None = None
    subscription_id: str | None = None
    tokens_included: int | None = None
    window: tuple[str, int] | None = None


NO_PLAN = PlanHold()


def list_cost_nanos(plan: Plan | None, tokens_prompt: int, max_completion_tokens: int, price) -> int:
    """The money reserved for a priced request of a customer without a quota plan:
    the maximum cost at list price, less a commit plan's discount (rounded up)."""
    return discounted_nanos(plan, charge_exact(tokens_prompt, max_completion_tokens, price), hold=True)


class PlanQuotas:
    """The quota windows of one admission batch and what the batch has taken from them."""

    def __init__(self, connection: Connection, subscribed: dict[str, SubscriptionRow], requests) -> None:
        self._subscribed = subscribed
        keys = [
            (s.subscription_id, window_start_us(s, r.pending.time_us))
            for r in requests
            if (s := subscribed.get(r.pending.customer_id)) is not None and s.plan.kind in QUOTA_KINDS
        ]
        self._state = read_windows(connection, keys)
        self._taken: dict[tuple[str, int], int] = defaultdict(int)

    def decide(self, request, tokens_max: int) -> tuple[PlanAdmission, PlanHold, int]:
        """The plan's decision, the hold the record would carry, and the overage money to reserve."""
        pending = request.pending
        subscription = self._subscribed.get(pending.customer_id)
        if subscription is None:
            return PlanAdmission(), NO_PLAN, 0
        plan = subscription.plan
        if plan.kind not in QUOTA_KINDS:
            decision = admit_plan(plan, pending.model, tokens_max, None, 0, "")
            return decision, PlanHold(plan.stream, plan.plan_id, subscription.subscription_id), 0
        key = (subscription.subscription_id, window_start_us(subscription, pending.time_us))
        used, reserved = self._state[key]
        window = QuotaWindow(allowance(subscription, key[1]), used, reserved)
        decision = admit_plan(plan, pending.model, tokens_max, window, self._taken[key],
                              rfc3339(renewal_us(subscription, pending.time_us)))
        hold = PlanHold(plan.stream, plan.plan_id, subscription.subscription_id, decision.tokens_included, key)
        overage = overage_hold_nanos(plan, decision.tokens_overage) if plan.kind == KIND_SUBSCRIPTION else 0
        return decision, hold, overage

    def take(self, hold: PlanHold) -> None:
        if hold.window is not None and hold.tokens_included:
            self._taken[hold.window] += hold.tokens_included

    def write(self, connection: Connection) -> None:
        move_windows(connection, {key: (tokens, 0) for key, tokens in self._taken.items() if tokens})


def uses_plan_money(subscription: SubscriptionRow | None) -> bool:
    """Whether a customer's requests are charged by their plan's quota rules rather than
    at the model's price: a subscription (overage) or a free plan (never charged)."""
    return subscription is not None and subscription.plan.kind in QUOTA_KINDS


# --- finalization ---------------------------------------------------------------------

def _window_of(plan: Plan, record) -> tuple[str, int]:
    return record.subscription_id, window_bounds_s(plan, record.time_us // US_PER_S)[0] * US_PER_S


class PlanFinals:
    """Rates the finished records of a batch that carry a plan, and settles their windows."""

    def __init__(self, connection: Connection, records) -> None:
        self._plans = plans_by_id(connection, [r.plan_id for r in records.values() if r.plan_id])
        self._deltas: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        self.tokens_included: dict[str, int] = {}

    def exact_charge(self, record, final, price) -> Fraction:
        """The exact charge of a finished record (nanos): at list price for a record without
        a plan, discounted under a commit plan, overage only under a subscription."""
        plan = self._plans.get(record.plan_id) if record.plan_id else None
        if plan is None or plan.kind not in QUOTA_KINDS:
            if price is None:
                return Fraction(0)
            return charge_exact(final.tokens_prompt, final.tokens_completion, price) * discount_factor(plan)
        included, overage = split_actual(final.tokens_prompt + final.tokens_completion, record.tokens_included or 0)
        self.tokens_included[final.request_id] = included
        key = _window_of(plan, record)
        self._deltas[key][0] -= record.tokens_included or 0
        self._deltas[key][1] += included
        return overage_exact(plan, overage) if plan.kind == KIND_SUBSCRIPTION else Fraction(0)

    def release(self, record) -> None:
        """A discarded record gives its included tokens back."""
        plan = self._plans.get(record.plan_id) if record.plan_id else None
        if plan is not None and plan.kind in QUOTA_KINDS and record.tokens_included:
            self._deltas[_window_of(plan, record)][0] -= record.tokens_included

    def write(self, connection: Connection) -> None:
        move_windows(connection, {key: (r, u) for key, (r, u) in self._deltas.items() if r or u})

