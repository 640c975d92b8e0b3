"""Admission and finalization decisions, pure: how much a request holds, whether its
funding, budgets and plan admit it, what it is charged when it ends and what it gives back.

The store reads the state inside its transaction, calls these functions and writes what
they decide; the gateway sizes a request's token bounds with them. No I/O, no clock.
"""

from revstream.admission._admit import (
    QUOTA_KINDS,
    Admission,
    AdmittedBatch,
    Ask,
    Books,
    PlanInForce,
    admit_batch,
    price_hold_nanos,
)
from revstream.admission._bounds import (
    TEMPLATE_TOKENS_MAX,
    TEMPLATE_TOKENS_PER_MESSAGE_MAX,
    completion_tokens_bound,
    plan_rate_limits,
    prompt_tokens_bound,
)
from revstream.admission._budgets import budget_window_bounds_us
from revstream.admission._settle import Held, Settlement, charge_before_cap, expected_charge, release, settle

__all__ = [
    "QUOTA_KINDS",
    "TEMPLATE_TOKENS_MAX",
    "TEMPLATE_TOKENS_PER_MESSAGE_MAX",
    "Admission",
    "AdmittedBatch",
    "Ask",
    "Books",
    "Held",
    "PlanInForce",
    "Settlement",
    "admit_batch",
    "budget_window_bounds_us",
    "charge_before_cap",
    "completion_tokens_bound",
    "expected_charge",
    "plan_rate_limits",
    "price_hold_nanos",
    "prompt_tokens_bound",
    "release",
    "settle",
]
