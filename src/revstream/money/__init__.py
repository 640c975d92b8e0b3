"""Exact money: integer nanos with an ISO 4217 currency, parsing, rounding, formatting.

Pure values and functions, no I/O. See ``_errors`` for the error hierarchy
(``MoneyError`` at its root).
"""

from revstream.money._currency import (
    MINOR_UNIT_DIGITS,
    NANOS_PER_UNIT,
    minor_unit_digits,
    nanos_per_minor,
    validate_currency,
)
from revstream.money._display import format_display
from revstream.money._errors import (
    AmountParseError,
    AmountRangeError,
    AmountTypeError,
    CurrencyError,
    CurrencyMismatchError,
    MoneyError,
    PrecisionError,
)
from revstream.money._range import (
    AMOUNT_NANOS_MAX,
    AMOUNT_UNITS_MAX,
    JSON_SAFE_INT_MAX,
    check_amount_range,
    json_int,
    json_safe,
    parse_json_int,
)
from revstream.money._money import (
    Money,
    amount_text_chars_max,
    format_amount,
    format_nanos_exact,
    parse_amount,
    parse_nanos,
    round_half_even,
    round_up,
    split_minor,
)

__all__ = [
    "AMOUNT_NANOS_MAX",
    "AMOUNT_UNITS_MAX",
    "JSON_SAFE_INT_MAX",
    "AmountRangeError",
    "check_amount_range",
    "json_int",
    "json_safe",
    "parse_json_int",
    "MINOR_UNIT_DIGITS",
    "NANOS_PER_UNIT",
    "AmountParseError",
    "AmountTypeError",
    "CurrencyError",
    "CurrencyMismatchError",
    "Money",
    "MoneyError",
    "PrecisionError",
    "amount_text_chars_max",
    "format_amount",
    "format_display",
    "format_nanos_exact",
    "minor_unit_digits",
    "nanos_per_minor",
    "parse_amount",
    "parse_nanos",
    "round_half_even",
    "round_up",
    "split_minor",
    "validate_currency",
]
