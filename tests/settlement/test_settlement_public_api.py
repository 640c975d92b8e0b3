"""Pins the public face of revstream.settlement."""

import revstream.settlement as settlement


def test_public_api_is_pinned() -> None:
    assert sorted(settlement.__all__) == sorted([
        "BPS_PER_UNIT", "KNOWN_STREAMS", "TIERED_RATE", "Adjustment", "AdjustmentLine", "Agreement",
        "AgreementError", "BracketLine", "PeriodError", "SettlementError", "Statement", "StatementError",
        "StatementLine", "TierParseError", "UsageLine", "UsageLineError", "allocate_largest_remainder",
        "compute_statement", "draft_agreement", "parse_period", "parse_stream_shares", "parse_tiers",
        "validate_statement", "STREAM_API", "STREAM_ADS", "STREAM_GROSS", "STREAM_SUBSCRIPTION", "UsageGroup", "in_force", "rate_usage", "window_us", "day_us",
        "period_bounds_us", "period_of_us", "shift_period", "STATEMENT_FORMAT", "STATEMENT_NOTE_HEADER",
        "agreement_from_terms", "agreement_terms", "checked_statement", "statement_body_of_note_text",
        "statement_bytes", "statement_from_json", "statement_id_of", "statement_json", "statement_note_text",
        "usage_line_json", "usage_line_of_json", "LEGACY_FORMAT", "FeeShare", "StatementInputs",
        "attribute_fees", "draft_statement", "fee_groups", "plan_terms", "Contribution", "Contributor", "contribute",
        "contributing_kinds", "register_contributor",
    ])
    for name in settlement.__all__:
        assert hasattr(settlement, name), name
