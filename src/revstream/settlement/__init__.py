"""Revenue-share settlement: agreement terms, usage aggregates, period statements.

Pure values and functions, no I/O. ``compute_statement`` is deterministic and exact;
``validate_statement`` re-checks a statement read back from storage. Errors derive from
``SettlementError`` (see ``_errors``).
"""

from revstream.settlement._allocate import allocate_largest_remainder
from revstream.settlement._compute import Adjustment, UsageLine, compute_statement
from revstream.settlement._declare import draft_agreement, parse_stream_shares
from revstream.periods import day_us, period_bounds_us, period_of_us, shift_period
from revstream.settlement._rate import (
    STREAM_ADS,
    STREAM_API,
    STREAM_GROSS,
    STREAM_SUBSCRIPTION,
    UsageGroup,
    in_force,
    rate_usage,
    window_us,
)
from revstream.settlement._errors import (
    AgreementError,
    PeriodError,
    SettlementError,
    StatementError,
    TierParseError,
    UsageLineError,
)
from revstream.settlement._contributions import (
    Contribution,
    Contributor,
    contribute,
    contributing_kinds,
    register_contributor,
)
from revstream.settlement._draft import LEGACY_FORMAT, StatementInputs, draft_statement, plan_terms
from revstream.settlement._fees import FeeShare, attribute_fees, fee_groups
from revstream.settlement._publish import (
    STATEMENT_FORMAT,
    STATEMENT_NOTE_HEADER,
    agreement_from_terms,
    agreement_terms,
    checked_statement,
    statement_body_of_note_text,
    statement_bytes,
    statement_from_json,
    statement_id_of,
    statement_json,
    statement_note_text,
    usage_line_json,
    usage_line_of_json,
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
    "Contribution",
    "Contributor",
    "contribute",
    "contributing_kinds",
    "register_contributor",
    "LEGACY_FORMAT",
    "FeeShare",
    "StatementInputs",
    "attribute_fees",
    "draft_statement",
    "fee_groups",
    "plan_terms",
    "STATEMENT_FORMAT",
    "STATEMENT_NOTE_HEADER",
    "agreement_from_terms",
    "agreement_terms",
    "checked_statement",
    "statement_body_of_note_text",
    "statement_bytes",
    "statement_from_json",
    "statement_id_of",
    "statement_json",
    "statement_note_text",
    "usage_line_json",
    "usage_line_of_json",
    "BPS_PER_UNIT",
    "KNOWN_STREAMS",
    "STREAM_ADS",
    "STREAM_API",
    "STREAM_GROSS",
    "STREAM_SUBSCRIPTION",
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
    "UsageGroup",
    "UsageLine",
    "UsageLineError",
    "allocate_largest_remainder",
    "compute_statement",
    "day_us",
    "draft_agreement",
    "in_force",
    "parse_period",
    "parse_stream_shares",
    "parse_tiers",
    "period_bounds_us",
    "period_of_us",
    "rate_usage",
    "shift_period",
    "validate_statement",
    "window_us",
]
