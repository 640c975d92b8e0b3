"""Recompute a statement from the transparency log's entries: pure, no I/O.

A signed statement carries what is needed to recompute it: the agreement terms, the
prices of its models, the checkpoint that closed its period (size ``N``), the previous
close's size ``N_prev``, and the lines earlier statements settled of each period it
adjusts. From the entries of the log the statement of period ``P`` settles exactly:

* as the period's own lines, every entry below ``N`` whose time falls in ``P`` and that
  is not late (``late_period`` null);
* as adjustments, every late entry of an earlier period at an index in ``[N_prev, N)``.

The host's close guarantees this binding (see ``revstream.store._settlement``); the
verifier feeds the same ``UsageGroup`` values to the same ``compute_statement`` as the
host, so an honest statement is reproduced byte for byte.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

import orjson

from ..periods import datetime_of_us, rfc3339
from ..plans import Plan, PlanError
from ..pricing import ModelPrice, PriceSchedule
from ..settlement import STREAM_API, STREAM_SUBSCRIPTION, Adjustment, Agreement, UsageGroup, UsageLine
from ..settlement import compute_statement, period_bounds_us, period_of_us, rate_usage, window_us
from ..store import agreement_from_terms, agreement_terms, statement_bytes, statement_json
from ._errors import AuditError

_ENTRY_FIELDS = ("time_us", "model", "tokens_prompt", "tokens_completion")


@dataclass(frozen=True, slots=True)
class LogBinding:
    """Where a statement's entries are in the log."""

    origin: str
    checkpoint: str
    size: int
    previous_size: int
    start: int


@dataclass(frozen=True, slots=True)
class StatementFacts:
    """The inputs a signed statement declares, parsed and checked for shape."""

    statement_id: str
    period: str
    agreement: Agreement
    schedule: PriceSchedule
    log: LogBinding
    carry_in_residue_nanos: int
    prior_lines: dict[str, tuple[UsageLine, ...]]
    plans: dict[str, Plan]
    fees: tuple[UsageGroup, ...]


def _int(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise AuditError(f"statement: {what} must be a non-negative integer, got {value!r}")
    return value


def _binding(value: object) -> LogBinding:
    if not isinstance(value, dict):
        raise AuditError("the statement is not bound to a transparency log (no 'log' section): "
                         "it was closed before the host ran `revstream log init`")
    try:
        binding = LogBinding(str(value["origin"]), str(value["checkpoint"]), _int(value["size"], "log.size"),
                             _int(value["previous_size"], "log.previous_size"), _int(value["start"], "log.start"))
    except KeyError as error:
        raise AuditError(f"statement: the log section lacks {error}") from None
    if not binding.previous_size <= binding.size or not binding.start <= binding.size:
        raise AuditError(f"statement: log range is inconsistent ({binding})")
    return binding


def _schedule(prices: object) -> PriceSchedule:
    try:
        return PriceSchedule(tuple(
            ModelPrice(item["model"], item["currency"], item["input_nanos_per_mtok"], item["output_nanos_per_mtok"],
                       datetime_of_us(_int(item["effective_from_us"], "price effective_from_us")))
            for item in prices
        ))
    except (KeyError, TypeError, ValueError) as error:
        raise AuditError(f"statement: malformed prices: {error}") from None


def _usage_line(item: dict) -> UsageLine:
    return UsageLine(item["model"], item["stream"], item["requests"], item["tokens_prompt"],
                     item["tokens_completion"], item["gross_nanos"])


def statement_facts(value: dict) -> StatementFacts:
    """Parse what ``value`` (a statement's JSON) declares; AuditError if anything is missing."""
    try:
        agreement = agreement_from_terms(value["terms"])
        if agreement_terms(agreement) != value["terms"]:
            raise AuditError("statement: the agreement terms do not round-trip")
        prior = {item["period"]: tuple(_usage_line(line) for line in item["prior_lines"])
                 for item in value["adjustment_basis"]}
        plans = {item["plan_id"]: Plan(**item) for item in value.get("plans", [])}
        start_us = period_bounds_us(value["period"])[0]
        fees = tuple(UsageGroup(item["model"], start_us, 0, 0, 0, STREAM_SUBSCRIPTION, plans[item["plan"]],
                                fee_exact=Fraction(item["fee_exact"])) for item in value.get("fees", []))
        return StatementFacts(value["statement"], value["period"], agreement, _schedule(value["prices"]),
                              _binding(value.get("log")), _int(value["carry_in_residue_nanos"], "carry-in"), prior,
                              plans, fees)
    except (KeyError, TypeError, ValueError, PlanError) as error:
        raise AuditError(f"statement: malformed or missing field: {error!r}") from None


def _entry_fields(index: int, data: bytes) -> tuple:
    """(time_us, model, tokens_prompt, tokens_completion, late_period, stream, plan,
    tokens_included) of a log entry."""
    try:
        value = orjson.loads(data)
        fields = (value["time_us"], value["model"], value["tokens_prompt"], value["tokens_completion"],
                  value.get("late_period"), value.get("stream", STREAM_API), value.get("plan"),
                  value.get("tokens_included") or 0)
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise AuditError(f"log entry {index} is not a usage record: {error}") from None
    if any(type(fields[position]) is not int for position in (0, 2, 3, 7)):
        raise AuditError(f"log entry {index} has non-integer time or tokens")
    return fields


class Tally:
    """Aggregates entries by what rating needs: per (model, price interval), for the
    period's own usage and for each earlier period's late usage. The per-entry work is
    kept to dict lookups and integer comparisons: a statement may have 10M entries."""

    def __init__(self, facts: StatementFacts) -> None:
        self._facts = facts
        self._models = frozenset(facts.agreement.models)
        self._start_us, self._end_us = period_bounds_us(facts.period)
        self._window = window_us(facts.agreement, 0, 2**63)
        # Looked up per entry (10M of them): computed once per price here.
        self._price_start_us = {id(price): price.effective_from_us
                                for price in facts.schedule.prices}
        self.own: dict[tuple[str, int], list[int]] = {}
        self.late: dict[str, dict[tuple[str, int], list[int]]] = defaultdict(dict)
        self.later_first_index: dict[str, int] = {}
        self._later = ("", 0, 0)  # the later period last noted, and its bounds

    def add(self, index: int, data: bytes) -> None:
        fields = _entry_fields(index, data)
        time_us, late_period = fields[0], fields[4]
        if late_period is None:
            if self._start_us <= time_us < self._end_us:
                self._count(self.own, index, fields)
            elif time_us >= self._end_us:
                self._note_later(index, time_us)
        elif late_period < self._facts.period and index >= self._facts.log.previous_size:
            self._count(self.late[late_period], index, fields)

    def _note_later(self, index: int, time_us: int) -> None:
        period, start_us, end_us = self._later
        if not start_us <= time_us < end_us:
            period = period_of_us(time_us)
            start_us, end_us = period_bounds_us(period)
            self._later = (period, start_us, end_us)
        self.later_first_index.setdefault(period, index)

    def _count(self, groups: dict, index: int, fields: tuple) -> None:
        time_us, model, tokens_prompt, tokens_completion, _, stream, plan, tokens_included = fields
        if model not in self._models:
            return
        if plan is not None and plan not in self._facts.plans:
            raise AuditError(f"log entry {index} was served under plan {plan}, which the statement does not declare")
        window_from, window_to = self._window
        if window_from <= time_us < window_to:
            price = self._facts.schedule.price_at_us(model, time_us)
            key = (model, stream, plan, -1 if price is None else self._price_start_us[id(price)])
        else:  # outside the agreement's dates: one group, skipped by the rating
            key = (model, stream, plan, -2)
        total = groups.get(key)
        if total is None:
            groups[key] = [time_us, 1, tokens_prompt, tokens_completion, tokens_included]
        else:
            total[1] += 1
            total[2] += tokens_prompt
            total[3] += tokens_completion
            total[4] += tokens_included


def _groups(groups: dict, plans: dict[str, Plan]) -> list[UsageGroup]:
    return [UsageGroup(model, t[0], t[1], t[2], t[3], stream, plans.get(plan) if plan else None, t[4])
            for (model, stream, plan, _), t in sorted(groups.items(), key=lambda item: repr(item[0]))]


def expected_statement(facts: StatementFacts, tally: Tally, actual: dict) -> bytes:
    """The canonical bytes the statement must have, recomputed from the tallied entries.
    The declared inputs (log binding, prices, adjustment basis) are taken from ``actual``."""
    agreement = facts.agreement
    adjustments = []
    for late_period in sorted(tally.late):
        lines = rate_usage(agreement, _groups(tally.late[late_period], facts.plans), facts.schedule)
        if lines and agreement.covers(late_period):
            adjustments.append(Adjustment(late_period, lines, facts.prior_lines.get(late_period, ())))
    lines = rate_usage(agreement, _groups(tally.own, facts.plans) + list(facts.fees), facts.schedule)
    statement = compute_statement(agreement, facts.period, lines, facts.carry_in_residue_nanos, tuple(adjustments))
    start_us, end_us = period_bounds_us(facts.period)
    window_from, window_to = window_us(agreement, start_us, end_us)
    usage = {"time_from": rfc3339(window_from), "time_before": rfc3339(window_to),
             "records": sum(line.requests for line in lines),
             "late_records": sum(line.requests for a in adjustments for line in a.lines)}
    evidence = {name: actual.get(name) for name in ("log", "prices", "adjustment_basis", "plans", "fees")}
    return statement_bytes(statement_json(statement, agreement_terms(agreement), usage, evidence))


def differences(expected: dict, actual: dict) -> list[str]:
    """Human-readable differences between the recomputed and the signed statement."""
    found = []
    for name in sorted(set(expected) | set(actual)):
        if name in ("lines", "adjustment_lines", "bracket_lines"):
            found.extend(_line_differences(name, expected.get(name) or [], actual.get(name) or []))
        elif expected.get(name) != actual.get(name):
            found.append(f"{name}: the log gives {expected.get(name)!r}, the statement says {actual.get(name)!r}")
    return found


def _line_differences(name: str, expected: list, actual: list) -> list[str]:
    def key(line: dict) -> tuple:
        return tuple(line.get(k) for k in ("period", "model", "stream", "lower_nanos"))
    want, have = {key(line): line for line in expected}, {key(line): line for line in actual}
    found = []
    for line_key in sorted(set(want) | set(have), key=repr):
        a, b = want.get(line_key), have.get(line_key)
        label = "/".join(str(part) for part in line_key if part is not None)
        if a is None:
            found.append(f"{name} {label}: in the statement but not in the log")
        elif b is None:
            found.append(f"{name} {label}: in the log but missing from the statement")
        else:
            for field in sorted(set(a) | set(b)):
                if a.get(field) != b.get(field):
                    found.append(f"{name} {label} {field}: the log gives {a.get(field)!r}, "
                                 f"the statement says {b.get(field)!r}")
    return found
