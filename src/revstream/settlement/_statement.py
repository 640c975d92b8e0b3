"""Statement values and their invariants.

A statement settles one agreement for one period. Its totals obey, exactly:

* ``share_total_nanos == sum(line shares) + minimum_top_up_nanos - cap_reduction_nanos
  + sum(adjustment shares)``;
* ``host_net_nanos == gross_total_nanos - share_total_nanos`` (gross includes adjustments);
* the bracket lines' net and share add up to the net and share of the tiered lines;
* ``share_total_minor * nanos_per_minor + residue_nanos == share_total_nanos +
  carry_in_residue_nanos``, the minor amount rounded half-even once.
"""

from __future__ import annotations

from dataclasses import dataclass

from revstream.money import nanos_per_minor, split_minor
from revstream.settlement._errors import StatementError

TIERED_RATE = "tiered"


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One (model, stream) of the period: quantities, gross and net revenue, rate, share."""

    model: str
    stream: str
    requests: int
    tokens_prompt: int
    tokens_completion: int
    gross_nanos: int
    net_nanos: int
    rate: str
    share_nanos: int

    @property
    def host_net_nanos(self) -> int:
        """What the host keeps of this line before the minimum or cap: gross - share."""
        return self.gross_nanos - self.share_nanos


@dataclass(frozen=True, slots=True)
class BracketLine:
    """The part of the tiered net volume inside one bracket and the share on it.

    ``upper_nanos`` is ``None`` for the open top bracket.
    """

    lower_nanos: int
    upper_nanos: int | None
    bps: int
    net_nanos: int
    share_nanos: int


@dataclass(frozen=True, slots=True)
class AdjustmentLine:
    """Late usage of an earlier ``period``, settled in this statement ("adjustment for YYYY-MM")."""

    period: str
    description: str
    model: str
    stream: str
    requests: int
    tokens_prompt: int
    tokens_completion: int
    gross_nanos: int
    net_nanos: int
    share_nanos: int


@dataclass(frozen=True, slots=True)
class Statement:
    """The settlement of one agreement for one period (see the module docstring)."""

    agreement_id: str
    licensor: str
    currency: str
    period: str
    lines: tuple[StatementLine, ...]
    bracket_lines: tuple[BracketLine, ...]
    adjustment_lines: tuple[AdjustmentLine, ...]
    minimum_top_up_nanos: int
    cap_reduction_nanos: int
    gross_total_nanos: int
    net_total_nanos: int
    share_total_nanos: int
    host_net_nanos: int
    carry_in_residue_nanos: int
    share_total_minor: int
    residue_nanos: int


def _total_errors(stmt: Statement) -> list[StatementError]:
    errors = []
    line_shares = sum(line.share_nanos for line in stmt.lines)
    adjustment_shares = sum(line.share_nanos for line in stmt.adjustment_lines)
    expected_share = line_shares + stmt.minimum_top_up_nanos - stmt.cap_reduction_nanos + adjustment_shares
    if expected_share != stmt.share_total_nanos:
        errors.append(StatementError(f"shares add up to {expected_share}, total says {stmt.share_total_nanos}"))
    every_line = stmt.lines + stmt.adjustment_lines
    gross = sum(line.gross_nanos for line in every_line)
    if gross != stmt.gross_total_nanos:
        errors.append(StatementError(f"gross adds up to {gross}, total says {stmt.gross_total_nanos}"))
    net = sum(line.net_nanos for line in every_line)
    if net != stmt.net_total_nanos:
        errors.append(StatementError(f"net adds up to {net}, total says {stmt.net_total_nanos}"))
    if stmt.host_net_nanos != stmt.gross_total_nanos - stmt.share_total_nanos:
        errors.append(StatementError("host net is not gross total minus share total"))
    if stmt.minimum_top_up_nanos < 0 or stmt.cap_reduction_nanos < 0:
        errors.append(StatementError("minimum top-up and cap reduction must not be negative"))
    if stmt.minimum_top_up_nanos and stmt.cap_reduction_nanos:
        errors.append(StatementError("a statement cannot both top up to a minimum and cut to a cap"))
    return errors


def _bracket_errors(stmt: Statement) -> list[StatementError]:
    tiered = [line for line in stmt.lines if line.rate == TIERED_RATE]
    if not stmt.bracket_lines:
        return [StatementError("tiered lines without bracket lines")] if tiered else []
    errors = []
    if sum(b.net_nanos for b in stmt.bracket_lines) != sum(line.net_nanos for line in tiered):
        errors.append(StatementError("bracket net does not add up to the net of the tiered lines"))
    if sum(b.share_nanos for b in stmt.bracket_lines) != sum(line.share_nanos for line in tiered):
        errors.append(StatementError("bracket shares do not add up to the shares of the tiered lines"))
    return errors


def _rounding_errors(stmt: Statement) -> list[StatementError]:
    due_nanos = stmt.share_total_nanos + stmt.carry_in_residue_nanos
    if (stmt.share_total_minor, stmt.residue_nanos) != split_minor(due_nanos, stmt.currency):
        return [StatementError("share_total_minor and residue are not the half-even split of share plus carry-in")]
    if stmt.share_total_minor * nanos_per_minor(stmt.currency) + stmt.residue_nanos != due_nanos:
        return [StatementError("minor total plus residue does not equal share plus carry-in")]
    return []


def validate_statement(stmt: Statement) -> list[StatementError]:
    """Every way in which ``stmt``'s lines fail to add up to its totals (empty when sound)."""
    return _total_errors(stmt) + _bracket_errors(stmt) + _rounding_errors(stmt)
