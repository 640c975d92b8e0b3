"""Compute a period's statement from usage aggregates: a pure, deterministic function.

Rounding, once each:

* a line's gross is its exact gross rounded half-even to the nano; net = gross (refunds
  and discounts will reduce net later);
* a flat (``share_bps``, stream override) or royalty line's share is its exact share
  rounded half-even to the nano;
* with tiers, the share is computed at agreement level: each bracket's exact share is
  summed and rounded half-even once; that total is then split over the bracket lines
  (by their exact shares) and over the tiered usage lines (by their net) with
  largest-remainder allocation, ties to the earlier line in input order. So the line
  shares add up to the agreement share exactly, and input order decides only ties;
* the statement total plus the carried-in residue is rounded half-even once to the minor
  unit; the new residue is carried to the next period.

Late usage for an earlier period P is an ``Adjustment``: its share is the increase of P's
share (after P's minimum and cap) when the late lines join P's original lines, split
over the late lines in proportion to their own shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from revstream.money import format_nanos_exact, round_half_even, split_minor
from revstream.settlement._allocate import allocate_largest_remainder
from revstream.settlement._errors import PeriodError, StatementError, UsageLineError
from revstream.settlement._statement import (
    TIERED_RATE,
    AdjustmentLine,
    BracketLine,
    Statement,
    StatementLine,
    validate_statement,
)
from revstream.settlement._terms import BPS_PER_UNIT, Agreement, parse_period, validate_stream

TOKENS_PER_MTOK: Final = 1_000_000
lines_per_statement_max: Final = 100_000


@dataclass(frozen=True, slots=True)
class UsageLine:
    """The period's usage of one model in one stream; ``gross_exact`` in nanos, unrounded."""

    model: str
    stream: str
    requests: int
    tokens_prompt: int
    tokens_completion: int
    gross_exact: Fraction

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise UsageLineError(f"model must be a non-empty string, got {self.model!r}")
        validate_stream(self.stream)
        for name in ("requests", "tokens_prompt", "tokens_completion"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise UsageLineError(f"{name} must be a non-negative int, got {value!r}")
        gross = self.gross_exact
        if type(gross) is int:
            object.__setattr__(self, "gross_exact", Fraction(gross))
        elif not isinstance(gross, Fraction):
            raise UsageLineError(f"gross_exact must be a Fraction or int of nanos, got {gross!r}")
        if self.gross_exact < 0:
            raise UsageLineError("gross_exact must not be negative")


@dataclass(frozen=True, slots=True)
class Adjustment:
    """Late usage ``lines`` of an earlier ``period``; ``prior_lines`` are the usage lines that
    period's statement already settled (needed for its tiers, minimum and cap)."""

    period: str
    lines: tuple[UsageLine, ...]
    prior_lines: tuple[UsageLine, ...] = ()


@dataclass(frozen=True, slots=True)
class _PeriodShares:
    lines: tuple[StatementLine, ...]
    brackets: tuple[BracketLine, ...]
    minimum_top_up_nanos: int
    cap_reduction_nanos: int
    total_nanos: int


def _flat_line(agreement: Agreement, line: UsageLine, net_nanos: int) -> tuple[str, int]:
    """The rate text and rounded share of a line not settled by tiers."""
    override_bps = agreement.stream_shares.get(line.stream)
    bps = override_bps if override_bps is not None else agreement.share_bps
    if override_bps is not None or agreement.royalty_nanos_per_mtok is None:
        return f"{bps}bps", round_half_even(Fraction(net_nanos * bps, BPS_PER_UNIT))
    royalty = agreement.royalty_nanos_per_mtok
    rate = f"{format_nanos_exact(royalty, agreement.currency)}/Mtok"
    tokens = line.tokens_prompt + line.tokens_completion
    return rate, round_half_even(Fraction(tokens * royalty, TOKENS_PER_MTOK))


def _brackets(tiers: tuple[tuple[int, int], ...], volume_nanos: int) -> tuple[BracketLine, ...]:
    """Marginal brackets over ``volume_nanos``; the total is rounded once and split."""
    parts: list[tuple[int, int | None, int, int]] = []
    for index, (lower, bps) in enumerate(tiers):
        upper = tiers[index + 1][0] if index + 1 < len(tiers) else None
        top = volume_nanos if upper is None else min(volume_nanos, upper)
        parts.append((lower, upper, bps, max(0, top - lower)))
    exact = [Fraction(net * bps, BPS_PER_UNIT) for _, _, bps, net in parts]
    shares = allocate_largest_remainder(round_half_even(sum(exact, Fraction(0))), exact)
    return tuple(BracketLine(lo, up, bps, net, share) for (lo, up, bps, net), share in zip(parts, shares))


def _settle_lines(agreement: Agreement, usage: tuple[UsageLine, ...]) -> _PeriodShares:
    """Shares of one period's usage, before the carry-in and the minor-unit rounding."""
    tiered = bool(agreement.tiers)
    nets = [round_half_even(line.gross_exact) for line in usage]
    rated: list[tuple[str, int] | None] = [
        None if tiered and line.stream not in agreement.stream_shares else _flat_line(agreement, line, net)
        for line, net in zip(usage, nets)
    ]
    brackets: tuple[BracketLine, ...] = ()
    if tiered:
        tiered_indexes = [index for index, rate in enumerate(rated) if rate is None]
        brackets = _brackets(agreement.tiers, sum(nets[index] for index in tiered_indexes))
        total = sum(bracket.share_nanos for bracket in brackets)
        split = allocate_largest_remainder(total, [nets[index] for index in tiered_indexes])
        for index, share in zip(tiered_indexes, split):
            rated[index] = (TIERED_RATE, share)
    lines = tuple(
        StatementLine(line.model, line.stream, line.requests, line.tokens_prompt, line.tokens_completion,
                      net, net, rate[0], rate[1])
        for line, net, rate in zip(usage, nets, rated) if rate is not None
    )
    raw = sum(line.share_nanos for line in lines)
    top_up = max(0, agreement.minimum_nanos - raw) if agreement.minimum_nanos is not None else 0
    cut = max(0, raw - agreement.cap_nanos) if agreement.cap_nanos is not None else 0
    return _PeriodShares(lines, brackets, top_up, cut, raw + top_up - cut)


def _check_usage(agreement: Agreement, lines: object, what: str) -> tuple[UsageLine, ...]:
    if not isinstance(lines, tuple) or len(lines) > lines_per_statement_max:
        raise UsageLineError(f"{what} must be a tuple of at most {lines_per_statement_max} UsageLine")
    keys = set()
    for line in lines:
        if not isinstance(line, UsageLine):
            raise UsageLineError(f"{what}: not a UsageLine: {line!r}")
        if line.model not in agreement.models:
            raise UsageLineError(f"{what}: model {line.model!r} is not under agreement {agreement.agreement_id!r}")
        if (line.model, line.stream) in keys:
            raise UsageLineError(f"{what}: two lines for model {line.model!r}, stream {line.stream!r}")
        keys.add((line.model, line.stream))
    return lines


def _adjustment_lines(agreement: Agreement, period: str, adjustment: Adjustment) -> tuple[AdjustmentLine, ...]:
    if not isinstance(adjustment, Adjustment):
        raise UsageLineError(f"not an Adjustment: {adjustment!r}")
    if parse_period(adjustment.period)[0] >= parse_period(period)[0]:
        raise PeriodError(f"adjustment period {adjustment.period} is not before {period}")
    if not agreement.covers(adjustment.period):
        raise PeriodError(f"agreement {agreement.agreement_id!r} does not cover {adjustment.period}")
    late = _check_usage(agreement, adjustment.lines, f"adjustment for {adjustment.period}")
    prior = _check_usage(agreement, adjustment.prior_lines, f"prior lines of {adjustment.period}")
    before = _settle_lines(agreement, prior)
    after = _settle_lines(agreement, prior + late)
    late_lines = after.lines[len(prior):]  # _settle_lines keeps input order, one line per usage line
    weights = [line.share_nanos for line in late_lines]
    if sum(weights) == 0:
        weights = [1 for _ in late_lines]
    split = allocate_largest_remainder(after.total_nanos - before.total_nanos, weights) if late_lines else ()
    description = f"adjustment for {adjustment.period}"
    return tuple(
        AdjustmentLine(adjustment.period, description, line.model, line.stream, line.requests,
                       line.tokens_prompt, line.tokens_completion, line.gross_nanos, line.net_nanos, share)
        for line, share in zip(late_lines, split)
    )


def compute_statement(
    agreement: Agreement,
    period: str,
    lines: tuple[UsageLine, ...],
    carry_in_residue_nanos: int,
    adjustments: tuple[Adjustment, ...] = (),
) -> Statement:
    """Settle ``agreement`` for ``period`` (see the module docstring); deterministic and exact."""
    if not isinstance(agreement, Agreement):
        raise UsageLineError("agreement must be an Agreement")
    if not agreement.covers(period):
        raise PeriodError(f"agreement {agreement.agreement_id!r} does not cover {period}")
    if type(carry_in_residue_nanos) is not int:
        raise UsageLineError("carry_in_residue_nanos must be an int")
    if not isinstance(adjustments, tuple) or len({a.period for a in adjustments}) != len(adjustments):
        raise PeriodError("adjustments must be a tuple with at most one Adjustment per period")
    current = _settle_lines(agreement, _check_usage(agreement, lines, "lines"))
    adjustment_lines = tuple(
        line for adjustment in adjustments for line in _adjustment_lines(agreement, period, adjustment)
    )
    share_total = current.total_nanos + sum(line.share_nanos for line in adjustment_lines)
    gross_total = sum(line.gross_nanos for line in current.lines + adjustment_lines)
    minor, residue = split_minor(share_total + carry_in_residue_nanos, agreement.currency)
    statement = Statement(
        agreement.agreement_id, agreement.licensor, agreement.currency, period,
        current.lines, current.brackets, adjustment_lines,
        current.minimum_top_up_nanos, current.cap_reduction_nanos,
        gross_total, sum(line.net_nanos for line in current.lines + adjustment_lines),
        share_total, gross_total - share_total, carry_in_residue_nanos, minor, residue,
    )
    errors = validate_statement(statement)
    if errors:
        raise StatementError(f"computed statement breaks its invariants: {errors}")
    return statement
