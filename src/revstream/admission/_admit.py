"""Admission decisions for a batch of requests: state in, decisions out.

The store reads, under the customers' row locks, each customer's funding, budget windows and
plan quota windows, and hands them here with the requests (`Ask`) in batch order. Each request
is decided in turn against what the earlier requests of the batch took:

1. the money hold at the model's price: the request's largest possible charge (prompt bound
   plus ``max_tokens``, rounded up), less a commit plan's discount; a quota plan (subscription
   or free) is priced by its plan instead;
2. the plan's decision: a model outside the plan is refused; a quota plan reserves included
   tokens from its window, and what does not fit is overage, reserved as money at the plan's
   overage price (a subscription) or refused (a hard stop);
3. the money, when there is any to hold: funding (prepaid credit or a postpaid limit) and every
   budget window of the customer or of the request's key in the hold's currency must have room.

Nothing here reads a clock, a database or a global: the licensor's verifier and the property
tests run the same decisions the gateway runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final, Mapping, NamedTuple, Sequence

from revstream.billing import (
    CODE_AMOUNT_OUT_OF_RANGE,
    REQUEST_NANOS_MAX,
    BudgetWindow,
    Funding,
    check_reservation,
)
from revstream.money import format_nanos_exact
from revstream.plans import (
    KIND_FREE,
    KIND_SUBSCRIPTION,
    Plan,
    QuotaWindow,
    admit_plan,
    discounted_nanos,
    overage_hold_nanos,
)
from revstream.pricing import ModelPrice, charge_exact, max_cost_nanos

QUOTA_KINDS: Final = (KIND_SUBSCRIPTION, KIND_FREE)
"""Plans whose requests are priced by the plan's included tokens and overage, not the model's price."""
NO_PLAN_STREAM: Final = "api"
CODE_INSUFFICIENT_QUOTA: Final = "insufficient_quota"
CODE_UNKNOWN_CUSTOMER: Final = "insufficient_quota"

WindowKey = tuple[str, int]
"""(budget id or subscription id, window start in µs)."""


@dataclass(frozen=True, slots=True)
class PlanInForce:
    """The subscription a customer holds at the request's time. `window` is the quota
    window the request falls in (quota plans only), `renews_at` when it renews (RFC 3339)."""

    plan: Plan
    subscription_id: str
    window: WindowKey | None = None
    renews_at: str = ""

    @property
    def is_quota(self) -> bool:
        return self.plan.kind in QUOTA_KINDS


class Ask(NamedTuple):
    """One request to admit: who, which model at which price, and its token bounds."""

    customer_id: str
    key_id: str
    model: str
    tokens_prompt_max: int
    tokens_completion_max: int
    price: ModelPrice | None
    plan: PlanInForce | None = None

    @property
    def tokens_max(self) -> int:
        return self.tokens_prompt_max + self.tokens_completion_max


@dataclass(frozen=True, slots=True)
class Books:
    """What the admitting transaction read: funding and budget windows by customer id, quota
    windows by (subscription id, window start)."""

    fundings: Mapping[str, Funding] = field(default_factory=dict)
    budgets: Mapping[str, tuple[BudgetWindow, ...]] = field(default_factory=dict)
    quotas: Mapping[WindowKey, QuotaWindow] = field(default_factory=dict)


class Admission(NamedTuple):
    """The decision for one request: refused (a code and a message for the customer), or
    admitted with the hold its pending record carries. (Ask, Admission, Held and Settlement
    are NamedTuples: one of each is made per request on the hot path, and a tuple is built
    several times faster than a frozen dataclass.)"""

    refused_code: str | None = None
    message: str = ""
    hold_nanos: int | None = None
    currency: str | None = None
    funding_kind: str | None = None
    budget_windows: tuple[WindowKey, ...] = ()
    stream: str = NO_PLAN_STREAM
    plan_id: str | None = None
    subscription_id: str | None = None
    tokens_included: int | None = None
    quota_window: WindowKey | None = None

    @property
    def admitted(self) -> bool:
        return self.refused_code is None


@dataclass(frozen=True, slots=True)
class AdmittedBatch:
    """Every request's decision, in order, and what the batch reserves on each budget window
    (nanos) and each quota window (tokens)."""

    admissions: tuple[Admission, ...]
    budget_reserved_nanos: Mapping[WindowKey, int]
    quota_reserved_tokens: Mapping[WindowKey, int]


def _refused(message: str, code: str = CODE_INSUFFICIENT_QUOTA) -> Admission:
    return Admission(refused_code=code, message=message)


def price_hold_nanos(ask: Ask) -> int | None:
    """The money to hold at the model's price: the largest charge the request can reach,
    rounded up (less a commit plan's discount, rounded up). None: nothing to hold at the
    model's price (unpriced, or a quota plan prices it)."""
    if ask.price is None or (ask.plan is not None and ask.plan.is_quota):
        return None
    if ask.plan is None:
        return max_cost_nanos(ask.tokens_prompt_max, ask.tokens_completion_max, ask.price)
    exact = charge_exact(ask.tokens_prompt_max, ask.tokens_completion_max, ask.price)
    return discounted_nanos(ask.plan.plan, exact, hold=True)


def _out_of_range(amount: int, currency: str) -> Admission:
    return _refused(f"this request could cost up to {format_nanos_exact(amount, currency)} {currency}, "
                    f"more than one request may reserve; lower max_tokens", CODE_AMOUNT_OUT_OF_RANGE)


_NO_PLAN: Final = Admission()


class _Batch:
    """What the batch has taken so far (local to one `admit_batch` call)."""

    def __init__(self, books: Books) -> None:
        self.books = books
        self.held: dict[str, int] = defaultdict(int)
        self.budget: dict[WindowKey, int] = defaultdict(int)
        self.quota: dict[WindowKey, int] = defaultdict(int)
        self.scopes: dict[tuple[str, str, str], tuple] = {}

    def plan_part(self, ask: Ask) -> tuple[Admission | None, Admission, int]:
        """(refusal or None, the plan fields of the admission, overage money to hold)."""
        in_force = ask.plan
        if in_force is None:
            return None, _NO_PLAN, 0
        plan = in_force.plan
        if not in_force.is_quota or in_force.window is None:
            decision = admit_plan(plan, ask.model, ask.tokens_max, None, 0, "")
            fields = Admission(stream=plan.stream, plan_id=plan.plan_id, subscription_id=in_force.subscription_id)
        else:
            window = self.books.quotas.get(in_force.window, QuotaWindow(0, 0, 0))
            decision = admit_plan(plan, ask.model, ask.tokens_max, window, self.quota[in_force.window], in_force.renews_at)
            fields = Admission(stream=plan.stream, plan_id=plan.plan_id,
                               subscription_id=in_force.subscription_id, tokens_included=decision.tokens_included,
                               quota_window=in_force.window)
        if decision.refused_code:
            return _refused(decision.message, decision.refused_code), fields, 0
        overage = overage_hold_nanos(plan, decision.tokens_overage) if plan.kind == KIND_SUBSCRIPTION else 0
        return None, fields, overage

    def decide(self, ask: Ask) -> Admission:
        amount = price_hold_nanos(ask)
        currency = ask.price.currency if ask.price is not None else None
        if amount is not None and amount > REQUEST_NANOS_MAX:
            return _out_of_range(amount, currency)
        if ask.plan is None:  # the hot path: no plan
            return self._hold(ask, _NO_PLAN, amount, currency) if amount else _NO_PLAN
        refusal, fields, overage = self.plan_part(ask)
        if refusal is not None:
            return refusal
        if overage:
            amount, currency = overage, ask.plan.plan.currency
            if amount > REQUEST_NANOS_MAX:
                return _out_of_range(amount, currency)
        if not amount:
            return self._take(fields)
        return self._hold(ask, fields, amount, currency)

    def _scope(self, ask: Ask, currency: str) -> tuple:
        """(funding, its account kind, the budget windows that apply, the keys of those in
        `currency`) of a request's customer and key: the same for every request of them in
        the batch, so found once."""
        scope_key = (ask.customer_id, ask.key_id, currency)
        scope = self.scopes.get(scope_key)
        if scope is None:
            funding = self.books.fundings.get(ask.customer_id)
            applicable = tuple([w for w in self.books.budgets.get(ask.customer_id, ()) if w.key_id in ("", ask.key_id)])
            charged = tuple([(w.budget_id, w.window_start_us) for w in applicable if w.currency == currency])
            kind = str(funding.funding_kind) if funding is not None else None
            scope = self.scopes[scope_key] = (funding, kind, applicable, charged)
        return scope

    def _hold(self, ask: Ask, fields: Admission, amount: int, currency: str) -> Admission:
        funding, funding_kind, applicable, charged = self._scope(ask, currency)
        if funding is None:
            return _refused("unknown customer", CODE_UNKNOWN_CUSTOMER)
        denial = check_reservation(amount, currency, funding, applicable, self.held[ask.customer_id], self.budget)
        if denial is not None:
            return _refused(denial.message, denial.code)
        self.held[ask.customer_id] += amount
        for key in charged:
            self.budget[key] += amount
        return self._take(Admission(
            None, "", amount, currency, funding_kind, charged, fields.stream, fields.plan_id, fields.subscription_id,
            fields.tokens_included, fields.quota_window,
        ))

    def _take(self, admission: Admission) -> Admission:
        if admission.quota_window is not None and admission.tokens_included:
            self.quota[admission.quota_window] += admission.tokens_included
        return admission


def admit_batch(asks: Sequence[Ask], books: Books) -> AdmittedBatch:
    """Decide each request in order; each sees what the earlier ones reserved."""
    batch = _Batch(books)
    admissions = tuple(batch.decide(ask) for ask in asks)
    return AdmittedBatch(
        admissions,
        {key: nanos for key, nanos in batch.budget.items() if nanos},
        {key: tokens for key, tokens in batch.quota.items() if tokens},
    )
