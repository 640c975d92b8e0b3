"""Pins the public face of revstream.money: a change here is a deliberate API change."""

import revstream.money as money


def test_public_api_is_pinned() -> None:
    assert sorted(money.__all__) == sorted([
        "AMOUNT_NANOS_MAX", "AMOUNT_UNITS_MAX", "JSON_SAFE_INT_MAX", "MINOR_UNIT_DIGITS", "NANOS_PER_UNIT",
        "AmountParseError", "AmountRangeError", "check_amount_range", "json_int", "json_safe", "parse_json_int", "AmountTypeError",
        "CurrencyError", "CurrencyMismatchError", "Money", "MoneyError", "PrecisionError",
        "amount_text_chars_max", "format_amount", "format_display", "format_nanos_exact", "minor_unit_digits",
        "nanos_per_minor", "parse_amount", "parse_nanos", "round_half_even", "round_up",
        "split_minor", "validate_currency",
    ])
    for name in money.__all__:
        assert hasattr(money, name), name
