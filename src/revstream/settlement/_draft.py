"""Drafting a statement: from what a period settles (usage groups, late usage, attributed
fees, prices, plans) to the statement and its published JSON. Pure.

The host drafts every statement with this function when it closes a period; the licensor's
verifier drafts the same statement from the log's entries and compares the bytes, so the
two can only agree if every number is proven by the log the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from revstream.periods import period_bounds_us, rfc3339
from revstream.plans import Plan
from revstream.pricing import PriceSchedule
from revstream.settlement._compute import Adjustment, UsageLine, compute_statement
from revstream.settlement._contributions import Contribution
from revstream.settlement._fees import FeeShare, fee_groups
from revstream.settlement._publish import STATEMENT_FORMAT, agreement_terms, statement_json, usage_line_json
from revstream.settlement._rate import UsageGroup, rate_usage, window_us
from revstream.settlement._statement import Statement
from revstream.settlement._terms import Agreement

LEGACY_FORMAT: Final = 1
"""Statements of the first form declared their fees instead of proving them from the log."""


@dataclass(frozen=True, slots=True)
class StatementInputs:
    """Everything a statement of ``period`` is computed from."""

    agreement: Agreement
    period: str
    # The period's own usage, any model (rating keeps the agreement's), and its late usage
    # of earlier periods, by period.
    groups: tuple[UsageGroup, ...]
    late_groups: Mapping[str, tuple[UsageGroup, ...]]
    fees: tuple[FeeShare, ...]
    schedule: PriceSchedule
    carry_in_residue_nanos: int
    # What earlier statements settled of each period this one adjusts.
    prior_lines: Mapping[str, tuple[UsageLine, ...]]
    log: dict | None
    format: int = STATEMENT_FORMAT
    # Statements of the first form: their declared fees as rating groups, and their
    # declared evidence, kept as it was signed.
    declared_fee_groups: tuple[UsageGroup, ...] = ()
    legacy_evidence: Mapping[str, object] = field(default_factory=dict)
    # The other streams' revenue and reported sections (see `_contributions`).
    contribution: Contribution = Contribution()


def _prices_json(schedule: PriceSchedule, agreement: Agreement, end_us: int) -> list[dict]:
    """Every price of the agreement's models that started before ``end_us``: what a
    verifier rates the statement's entries with."""
    prices = [{"model": price.model, "currency": price.currency, "effective_from_us": price.effective_from_us,
               "input_nanos_per_mtok": price.input_nanos_per_mtok, "output_nanos_per_mtok": price.output_nanos_per_mtok}
              for price in schedule.prices if price.model in agreement.models and price.effective_from_us < end_us]
    return sorted(prices, key=lambda item: (item["model"], item["effective_from_us"]))


def plan_terms(plan: Plan) -> dict:
    """Every field of a plan, as `Plan(**terms)` reads it back (models as a list)."""
    terms = {name: getattr(plan, name) for name in Plan.__slots__}
    return {**terms, "models": list(plan.models)}


def _plans_json(agreement: Agreement, groups) -> list[dict]:
    """The plans the agreement's usage was rated under (their terms never change)."""
    plans = {group.plan.plan_id: group.plan for group in groups
             if group.model in agreement.models and group.plan is not None}
    return [plan_terms(plan) for _, plan in sorted(plans.items())]


def draft_statement(inputs: StatementInputs) -> tuple[Statement, dict]:
    """The statement of ``inputs.period`` under ``inputs.agreement`` and its published JSON."""
    agreement, period = inputs.agreement, inputs.period
    adjustments = []
    for late_period in sorted(inputs.late_groups):
        lines = rate_usage(agreement, inputs.late_groups[late_period], inputs.schedule)
        if lines and agreement.covers(late_period):
            adjustments.append(Adjustment(late_period, lines, tuple(inputs.prior_lines.get(late_period, ()))))
    own = [*inputs.groups, *fee_groups(agreement, inputs.fees), *inputs.declared_fee_groups,
           *inputs.contribution.groups]
    lines = rate_usage(agreement, own, inputs.schedule)
    statement = compute_statement(agreement, period, lines, inputs.carry_in_residue_nanos, tuple(adjustments))
    start_us, end_us = period_bounds_us(period)
    window_from, window_to = window_us(agreement, start_us, end_us)
    usage = {"time_from": rfc3339(window_from), "time_before": rfc3339(window_to),
             "records": sum(line.requests for line in lines),
             "late_records": sum(line.requests for a in adjustments for line in a.lines)}
    all_groups = list(inputs.groups) + [g for groups in inputs.late_groups.values() for g in groups]
    evidence = {
        "log": inputs.log,
        "prices": _prices_json(inputs.schedule, agreement, end_us),
        "plans": _plans_json(agreement, all_groups),
        "adjustment_basis": [{"period": a.period, "prior_lines": [usage_line_json(line) for line in a.prior_lines]}
                             for a in adjustments],
        **inputs.legacy_evidence,
        **({"sections": dict(inputs.contribution.sections)} if inputs.contribution.sections else {}),
    }
    value = statement_json(statement, agreement_terms(agreement), usage, evidence)
    if inputs.format == LEGACY_FORMAT:
        del value["format"]
    return statement, value
