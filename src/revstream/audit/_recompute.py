"""Recompute a statement from the transparency log's entries: pure, no I/O.

A signed statement carries what is needed to recompute it: the agreement terms, the
prices of its models and its plans (contract terms), the checkpoint that closed its period
(size ``N``), the previous close's size ``N_prev``, and the lines earlier statements settled
of each period it adjusts. From the entries of the log the statement of period ``P``
settles exactly:

* as the period's own lines, every ``usage`` entry below ``N`` whose time falls in ``P``
  and that is not late (``late_period`` null), and every ``fee`` entry of ``P`` below ``N``
  (attributed to models by `revstream.settlement.attribute_fees` from the plans' usage);
* as adjustments, every late usage entry of an earlier period at an index in ``[N_prev, N)``.

The host's close guarantees this binding (see ``revstream.store._settlement``); the
verifier feeds the same values to the same `revstream.settlement.draft_statement` as the
host, so an honest statement is reproduced byte for byte. Statements of the first form
(no ``format``) declared their fees; they are recomputed with those declared fees. An
entry of a kind or version this verifier does not know fails the check: it is never
guessed at.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from ..leaves import LeafError, LeafKind, decode_leaf, fee_entry, usage_entry
from ..money import MoneyError, parse_json_int
from ..periods import datetime_of_us
from ..plans import Plan, PlanError
from ..pricing import ModelPrice, PriceSchedule
from ..settlement import (
    LEGACY_FORMAT,
    STREAM_SUBSCRIPTION,
    Agreement,
    StatementInputs,
    UsageGroup,
    UsageLine,
    agreement_from_terms,
    agreement_terms,
    attribute_fees,
    contribute,
    contributing_kinds,
    draft_statement,
    period_bounds_us,
    period_of_us,
    statement_bytes,
    usage_line_of_json,
    window_us,
)
from .. import features  # noqa: F401  (every stream's contributor, as the host has them)
from ._errors import AuditError

_PLAN_AMOUNTS = ("fee_nanos", "minimum_nanos", "overage_nanos_per_mtok")


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
    format: int
    # Statements of the first form declared their fees (as rating groups).
    declared_fees: tuple[UsageGroup, ...] = ()


def _signed_int(value: object, what: str) -> int:
    """An integer that may be negative (a carried rounding residue is, when the minor total was rounded up)."""
    try:
        return parse_json_int(value, what)
    except MoneyError:
        raise AuditError(f"statement: {what} must be an integer, got {value!r}") from None


def _int(value: object, what: str) -> int:
    try:
        number = parse_json_int(value, what)
    except MoneyError:
        number = -1
    if number < 0:
        raise AuditError(f"statement: {what} must be a non-negative integer, got {value!r}")
    return number


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
            ModelPrice(item["model"], item["currency"], _int(item["input_nanos_per_mtok"], "input price"),
                       _int(item["output_nanos_per_mtok"], "output price"),
                       datetime_of_us(_int(item["effective_from_us"], "price effective_from_us")))
            for item in prices
        ))
    except (KeyError, TypeError, ValueError) as error:
        raise AuditError(f"statement: malformed prices: {error}") from None


def _plan(item: dict) -> Plan:
    return Plan(**{name: parse_json_int(value, name) if name in _PLAN_AMOUNTS and value is not None else value
                   for name, value in item.items()})


def _declared_fees(value: dict, plans: dict[str, Plan]) -> tuple[UsageGroup, ...]:
    start_us = period_bounds_us(value["period"])[0]
    return tuple(UsageGroup(item["model"], start_us, 0, 0, 0, STREAM_SUBSCRIPTION, plans[item["plan"]],
                            fee_exact=Fraction(item["fee_exact"])) for item in value.get("fees", []))


def statement_facts(value: dict) -> StatementFacts:
    """Parse what ``value`` (a statement's JSON) declares; AuditError if anything is missing."""
    try:
        agreement = agreement_from_terms(value["terms"])
        if agreement_terms(agreement) != value["terms"]:
            raise AuditError("statement: the agreement terms do not round-trip")
        prior = {item["period"]: tuple(usage_line_of_json(line) for line in item["prior_lines"])
                 for item in value["adjustment_basis"]}
        plans = {item["plan_id"]: _plan(item) for item in value.get("plans", [])}
        format_ = value.get("format", LEGACY_FORMAT)
        if format_ not in (LEGACY_FORMAT, 2):
            raise AuditError(f"statement: format {format_!r} is unknown to this verifier: upgrade revstream")
        return StatementFacts(value["statement"], value["period"], agreement, _schedule(value["prices"]),
                              _binding(value.get("log")), _signed_int(value["carry_in_residue_nanos"], "carry-in"), prior,
                              plans, format_, _declared_fees(value, plans) if format_ == LEGACY_FORMAT else ())
    except (KeyError, TypeError, ValueError, PlanError, MoneyError) as error:
        raise AuditError(f"statement: malformed or missing field: {error!r}") from None


class Tally:
    """Aggregates entries by what rating needs: usage per (model, stream, plan, price
    interval), for the period's own usage and each earlier period's late usage; the
    period's fees; and the tokens each plan served of every model (what fees are
    attributed by). The per-entry work is kept to dict lookups and integer comparisons: a
    statement may have 10M entries."""

    def __init__(self, facts: StatementFacts) -> None:
        self._facts = facts
        self._models = frozenset(facts.agreement.models)
        self._start_us, self._end_us = period_bounds_us(facts.period)
        self._window = window_us(facts.agreement, 0, 2**63)
        # Looked up per entry (10M of them): computed once per price here.
        self._price_start_us = {id(price): price.effective_from_us for price in facts.schedule.prices}
        self.own: dict[tuple, list[int]] = {}
        self.late: dict[str, dict[tuple, list[int]]] = defaultdict(dict)
        self.fees: list = []
        self.plan_tokens: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        # Leaves of the kinds settled by position, in [previous_size, size) (see settlement._contributions).
        self.positional: dict[LeafKind, list[dict]] = defaultdict(list)
        self._positional_kinds = contributing_kinds()
        self.later_first_index: dict[str, int] = {}
        self._later = ("", 0, 0)  # the later period last noted, and its bounds

    def add(self, index: int, data: bytes) -> None:
        try:
            kind, _, value = decode_leaf(data)
            if kind is LeafKind.USAGE:
                self._add_usage(index, usage_entry(value))
            elif kind is LeafKind.FEE:
                fee = fee_entry(value)
                if fee.period == self._facts.period:
                    self.fees.append(fee)
            elif kind in self._positional_kinds and self._facts.log.previous_size <= index < self._facts.log.size:
                self.positional[kind].append(value)
        except LeafError as error:
            raise AuditError(f"log entry {index}: {error}") from None

    def _add_usage(self, index: int, entry) -> None:
        time_us, late_period = entry.time_us, entry.late_period
        if late_period is None:
            if self._start_us <= time_us < self._end_us:
                if entry.plan is not None:
                    self.plan_tokens[entry.plan][entry.model] += entry.tokens_prompt + entry.tokens_completion
                self._count(self.own, index, entry)
            elif time_us >= self._end_us:
                self._note_later(index, time_us)
        elif late_period < self._facts.period and index >= self._facts.log.previous_size:
            self._count(self.late[late_period], index, entry)

    def _note_later(self, index: int, time_us: int) -> None:
        period, start_us, end_us = self._later
        if not start_us <= time_us < end_us:
            period = period_of_us(time_us)
            start_us, end_us = period_bounds_us(period)
            self._later = (period, start_us, end_us)
        self.later_first_index.setdefault(period, index)

    def _count(self, groups: dict, index: int, entry) -> None:
        time_us, model, tokens_prompt, tokens_completion, _, stream, plan, tokens_included = entry
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


def _groups(groups: dict, plans: dict[str, Plan]) -> tuple[UsageGroup, ...]:
    return tuple(UsageGroup(model, t[0], t[1], t[2], t[3], stream, plans.get(plan) if plan else None, t[4])
                 for (model, stream, plan, _), t in sorted(groups.items(), key=lambda item: repr(item[0])))


def expected_statement(facts: StatementFacts, tally: Tally, actual: dict) -> bytes:
    """The canonical bytes the statement must have, recomputed from the tallied entries.
    The declared inputs (log binding, prices, plans, adjustment basis) are taken from ``actual``."""
    legacy = facts.format == LEGACY_FORMAT
    inputs = StatementInputs(
        facts.agreement, facts.period, _groups(tally.own, facts.plans),
        {period: _groups(groups, facts.plans) for period, groups in tally.late.items()},
        () if legacy else attribute_fees(tally.fees, tally.plan_tokens), facts.schedule,
        facts.carry_in_residue_nanos, facts.prior_lines, actual.get("log"), facts.format,
        declared_fee_groups=facts.declared_fees,
        legacy_evidence={name: actual.get(name) for name in ("plans", "fees")} if legacy else {},
        contribution=contribute(facts.agreement, facts.period, tally.positional),
    )
    return statement_bytes(draft_statement(inputs)[1])


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
