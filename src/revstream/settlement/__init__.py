"""Revenue-share settlement: agreement terms, usage aggregates, period statements.

Pure values and functions, no I/O. ``compute_statement`` is deterministic and exact;
``validate_statement`` re-checks a statement read back from storage. Errors derive from
``SettlementError`` (see ``_errors``).
"""

from revstream.settlement._allocate import allocate_largest_remainder
from revstream.settlement._compute import Adjustment, UsageLine, compute_statement
from revstream.settlement._declare import draft_agreement, parse_stream_shares
from revstream.settlement._errors import (
    AgreementError,
    PeriodError,
    SettlementError,
    StatementError,
    TierParseError,
    UsageLineError,
)
from revstream.settlement._statement import (
    TIERED_RATE,
    AdjustmentLine,
    BracketLine,
    Statement,
    StatementLine,
    validate_statement,
)
from revstream.settlement._terms import (
    BPS_PER_UNIT,
    KNOWN_STREAMS,
    Agreement,
    parse_period,
    parse_tiers,
)

__all__ = [
    "BPS_PER_UNIT",
    "KNOWN_STREAMS",
    "TIERED_RATE",
    "Adjustment",
    "AdjustmentLine",
    "Agreement",
    "AgreementError",
    "BracketLine",
    "PeriodError",
    "SettlementError",
    "Statement",
    "StatementError",
    "StatementLine",
    "TierParseError",
    "UsageLine",
    "UsageLineError",
    "allocate_largest_remainder",
    "compute_statement",
    "draft_agreement",
    "parse_period",
    "parse_stream_shares",
    "parse_tiers",
    "validate_statement",
]
