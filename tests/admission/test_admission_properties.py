"""Property tests of the pure admission core, without a database: a charge never exceeds its
hold and is never negative; no sequence of admissions and finalizations spends more than a
budget, the credit or a plan's included tokens; amounts stay exact integers of nanos at the
range's edges (10^18 currency units); the ledger check's re-pricing agrees with the finalizer."""

from __future__ import annotations

import math
from datetime import date
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.admission import (
    Ask,
    Books,
    Held,
    PlanInForce,
    admit_batch,
    expected_charge,
    price_hold_nanos,
    release,
    settle,
)
from revstream.billing import CODE_AMOUNT_OUT_OF_RANGE, REQUEST_NANOS_MAX, BudgetWindow, Funding
from revstream.plans import QuotaWindow, draft_plan
from revstream.pricing import ModelPrice, charge_exact

UNITS_10_18 = 10**18 * 10**9  # 10^18 currency units, in nanos
TOKENS = st.integers(0, 2_000_000)
PRICES = st.builds(
    lambda i, o: ModelPrice("m", "USD", i, o, date(2020, 1, 1)),
    st.integers(0, 10**13), st.integers(0, 10**13),  # up to 10,000 units per token
)
HUGE_PRICES = st.builds(
    lambda i, o: ModelPrice("m", "USD", i, o, date(2020, 1, 1)),
    st.integers(0, UNITS_10_18), st.integers(0, UNITS_10_18),
)


def _plan(kind: str, discount_bps: int = 0, overage: str | None = None, included: int = 0):
    plan = {
        "commit": lambda: draft_plan(name="c", kind="commit", discount_bps=discount_bps),
        "subscription": lambda: draft_plan(name="s", kind="subscription", fee="5.00", tokens_included=included,
                                           overage_per_mtok=overage),
        "free": lambda: draft_plan(name="f", kind="free", tokens_per_day=max(included, 1), models=("m",)),
    }[kind]()
    return type(plan)(**{**{f: getattr(plan, f) for f in plan.__slots__}, "plan_id": f"pln_{kind}"})


PLANS = st.one_of(
    st.none(),
    st.builds(lambda bps: _plan("commit", discount_bps=bps), st.integers(0, 10_000)),
    st.builds(lambda o, n: _plan("subscription", overage=o, included=n),
              st.sampled_from([None, "0", "0.000000001", "2.50", "1000000000"]), st.integers(0, 10**7)),
    st.builds(lambda n: _plan("free", included=n), st.integers(1, 10**7)),
)


@settings(max_examples=500, deadline=None)
@given(PRICES, PLANS, TOKENS, TOKENS, TOKENS, TOKENS, st.one_of(st.none(), st.integers(0, REQUEST_NANOS_MAX)),
       st.one_of(st.none(), st.integers(0, 10**7)))
def test_a_charge_is_never_negative_and_never_above_its_hold(price, plan, prompt_max, completion_max,
                                                               prompt, completion, reserved, included):
    held = Held(reserved, plan, included)
    settled = settle(held, prompt, completion, price)
    if settled.charge_nanos is not None:
        assert type(settled.charge_nanos) is int and 0 <= settled.charge_nanos <= (reserved or 0)
        assert settled.budget_spent_delta_nanos == settled.charge_nanos
        assert settled.budget_reserved_delta_nanos == -(reserved or 0)
    if held.on_quota:
        assert settled.charge_nanos is not None, "a plan's record inside its included tokens is charged 0, not null"
        assert 0 <= settled.tokens_included <= (included or 0)
    gone = release(held)
    assert gone.charge_nanos is None and gone.budget_reserved_delta_nanos == -(reserved or 0)


@settings(max_examples=500, deadline=None)
@given(PRICES, PLANS, TOKENS, TOKENS, st.data())
def test_the_hold_covers_every_charge_the_request_can_reach(price, plan, prompt_max, completion_max, data):
    """Priced at the model's price, the hold is the ceiling of the largest charge: any usage
    within the bounds is charged in full (the cap never bites)."""
    in_force = PlanInForce(plan, "sub") if plan is not None and plan.kind == "commit" else None
    ask = Ask("c", "k", "m", prompt_max, completion_max, price, in_force)
    hold = price_hold_nanos(ask)
    prompt, completion = data.draw(st.integers(0, prompt_max)), data.draw(st.integers(0, completion_max))
    exact_max = charge_exact(prompt_max, completion_max, price) * (
        Fraction(10_000 - plan.discount_bps, 10_000) if in_force else 1)
    assert hold == math.ceil(exact_max)
    settled = settle(Held(hold, in_force.plan if in_force else None), prompt, completion, price)
    uncapped = round(charge_exact(prompt, completion, price) * (
        Fraction(10_000 - plan.discount_bps, 10_000) if in_force else 1))
    assert settled.charge_nanos == uncapped <= hold


@settings(max_examples=300, deadline=None)
@given(HUGE_PRICES, st.integers(0, 10**9), st.integers(0, 10**9))
def test_holds_at_the_range_edges_are_exact_or_refused_before_anything_is_held(price, prompt_max, completion_max):
    ask = Ask("c", "k", "m", prompt_max, completion_max, price)
    exact = Fraction(prompt_max * price.input_nanos_per_mtok + completion_max * price.output_nanos_per_mtok, 10**6)
    assert price_hold_nanos(ask) == math.ceil(exact)
    funding = Funding("c", "c", "prepaid", "USD", -UNITS_10_18, None)
    window = BudgetWindow("b", "", "lifetime", "USD", UNITS_10_18, 0, 0, 0)
    [admission] = admit_batch([ask], Books({"c": funding}, {"c": (window,)})).admissions
    if math.ceil(exact) > REQUEST_NANOS_MAX:
        assert admission.refused_code == CODE_AMOUNT_OUT_OF_RANGE and admission.hold_nanos is None
    elif math.ceil(exact) > 0:
        assert admission.admitted and admission.hold_nanos == math.ceil(exact)
        assert type(admission.hold_nanos) is int and admission.budget_windows == (("b", 0),)


@settings(max_examples=500, deadline=None)
@given(PRICES, PLANS, TOKENS, TOKENS, st.one_of(st.none(), st.integers(0, REQUEST_NANOS_MAX)),
       st.one_of(st.none(), st.integers(0, 10**7)))
def test_the_ledger_checks_repricing_agrees_with_the_finalizer(price, plan, prompt, completion, reserved, included):
    """A final record (its `tokens_included` now those it used) re-prices to the charge it was booked."""
    settled = settle(Held(reserved, plan, included), prompt, completion, price)
    if settled.charge_nanos is None:
        return
    final = Held(reserved, plan, settled.tokens_included if settled.tokens_included is not None else included)
    assert expected_charge(final, prompt, completion, price) == settled.charge_nanos


# --- sequences: a model of the store that applies what the core decides --------------------

class Ledger:
    """One customer with prepaid credit, a customer budget, a key budget and a quota window."""

    def __init__(self, credit: int, customer_limit: int, key_limit: int, allowance: int) -> None:
        self.credit, self.charged = credit, 0
        self.windows = {("cust", 0): [customer_limit, 0, 0], ("key", 0): [key_limit, 0, 0]}
        self.quota = [allowance, 0, 0]  # allowance, used, reserved
        self.pending: dict[int, tuple[Ask, object]] = {}
        self.next_id = 0

    def books(self) -> Books:
        held = sum(a.hold_nanos or 0 for _, a in self.pending.values())
        funding = Funding("c", "c", "prepaid", "USD", self.charged - self.credit, None, held)
        budgets = (BudgetWindow("cust", "", "lifetime", "USD", *self._window("cust")),
                   BudgetWindow("key", "k1", "lifetime", "USD", *self._window("key")))
        return Books({"c": funding}, {"c": budgets}, {("sub", 0): QuotaWindow(*self.quota)})

    def _window(self, budget: str) -> tuple[int, int, int, int]:
        limit, spent, reserved = self.windows[(budget, 0)]
        return limit, 0, spent, reserved

    def admit(self, asks: list[Ask]) -> None:
        batch = admit_batch(asks, self.books())
        for key, nanos in batch.budget_reserved_nanos.items():
            self.windows[key][2] += nanos
        for _, tokens in batch.quota_reserved_tokens.items():
            self.quota[2] += tokens
        for ask, admission in zip(asks, batch.admissions):
            if admission.admitted:
                self.pending[self.next_id] = (ask, admission)
                self.next_id += 1

    def finish(self, request: int, prompt: int, completion: int, discard: bool) -> None:
        ask, admission = self.pending.pop(request)
        held = Held(admission.hold_nanos, ask.plan.plan if ask.plan else None, admission.tokens_included)
        settled = release(held) if discard else settle(held, prompt, completion, ask.price)
        self.charged += settled.charge_nanos or 0
        for key in admission.budget_windows:
            self.windows[key][1] += settled.budget_spent_delta_nanos
            self.windows[key][2] += settled.budget_reserved_delta_nanos
        if admission.quota_window is not None:
            self.quota[1] += settled.quota_used_delta_tokens
            self.quota[2] += settled.quota_reserved_delta_tokens

    def check(self) -> None:
        held = sum(a.hold_nanos or 0 for _, a in self.pending.values())
        assert self.charged + held <= self.credit, "credit overspent"
        for key, (limit, spent, reserved) in self.windows.items():
            on_window = sum(a.hold_nanos for _, a in self.pending.values() if key in a.budget_windows)
            assert reserved == on_window, "a budget window's reservation is the sum of its holds"
            assert 0 <= spent and spent + reserved <= limit, f"budget {key} exceeded"
        allowance, used, reserved = self.quota
        assert 0 <= used and 0 <= reserved and used + reserved <= allowance, "included tokens overspent"


SCALES = st.sampled_from([1, 10**9, UNITS_10_18])


@st.composite
def scenarios(draw):
    scale = draw(SCALES)
    prices = [ModelPrice("m", "USD", draw(st.integers(0, 10**6)) * (scale // 10**3 or 1),
                         draw(st.integers(0, 10**6)) * (scale // 10**3 or 1), date(2020, 1, 1))]
    plan = draw(st.sampled_from([None, "commit", "subscription"]))
    in_force = {None: None,
                "commit": PlanInForce(_plan("commit", discount_bps=draw(st.integers(0, 10_000))), "sub"),
                "subscription": PlanInForce(_plan("subscription", overage="0.50", included=1), "sub", ("sub", 0), "2030")}[plan]
    credit = draw(st.integers(0, 10**4)) * scale
    limits = (draw(st.integers(0, 10**4)) * scale, draw(st.integers(0, 10**4)) * scale)
    steps = draw(st.lists(st.tuples(st.booleans(), st.lists(st.tuples(
        st.sampled_from(["k1", "k2"]), st.integers(0, 10**4), st.integers(0, 10**4)), min_size=1, max_size=4),
        st.integers(0, 10**6), st.booleans()), min_size=1, max_size=12))
    return prices[0], in_force, credit, limits, draw(st.integers(0, 10**5)), steps


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_no_sequence_of_admissions_and_finalizations_overspends(scenario):
    price, in_force, credit, (customer_limit, key_limit), allowance, steps = scenario
    ledger = Ledger(credit, customer_limit, key_limit, allowance)
    for admit, asks, seed, discard in steps:
        if admit or not ledger.pending:
            ledger.admit([Ask("c", key, "m", prompt, completion, price, in_force) for key, prompt, completion in asks])
        else:
            request = sorted(ledger.pending)[seed % len(ledger.pending)]
            ask = ledger.pending[request][0]
            # A backend can report more than the bound: the hold still caps the charge.
            prompt, completion = seed % (ask.tokens_prompt_max + 2), (seed // 7) % (ask.tokens_completion_max + 2)
            ledger.finish(request, prompt, completion, discard)
        ledger.check()
    for request in sorted(ledger.pending):
        ledger.finish(request, 0, 0, True)
    ledger.check()
    assert all(reserved == 0 for _, _, reserved in ledger.windows.values()) and ledger.quota[2] == 0, "nothing held is leaked"
