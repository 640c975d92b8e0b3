"""Model prices per million tokens, price schedules, and request charges.

Pure values and functions, no I/O. Errors derive from ``PricingError`` (see ``_errors``).
"""

from revstream.pricing._errors import (
    NoPriceError,
    PriceParseError,
    PriceScheduleError,
    PricingError,
    TokenCountError,
)
from revstream.pricing._price import (
    TOKENS_PER_MTOK,
    ModelPrice,
    PriceSchedule,
    charge_exact,
    max_cost_nanos,
    parse_price,
    provisional_charge_nanos,
    to_utc_instant,
)

__all__ = [
    "TOKENS_PER_MTOK",
    "ModelPrice",
    "NoPriceError",
    "PriceParseError",
    "PriceSchedule",
    "PriceScheduleError",
    "PricingError",
    "TokenCountError",
    "charge_exact",
    "max_cost_nanos",
    "parse_price",
    "provisional_charge_nanos",
    "to_utc_instant",
]
