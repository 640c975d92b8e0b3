"""Errors of the pricing core.

Hierarchy::

    PricingError                base of every pricing failure
    ├── PriceParseError         a price string that is not an exact, non-negative decimal
    ├── PriceScheduleError      an inconsistent schedule (duplicate model and start)
    ├── NoPriceError            no price in effect for a model at a time
    └── TokenCountError         a token count that is not a non-negative int
"""

from __future__ import annotations


class PricingError(Exception):
    """Base of every failure in the pricing core."""


class PriceParseError(PricingError, ValueError):
    """A configured price that is not a plain non-negative decimal with at most 9 decimals."""


class PriceScheduleError(PricingError, ValueError):
    """A schedule that cannot answer unambiguously (two prices for one model and start)."""


class NoPriceError(PricingError, LookupError):
    """No price is in effect for the model at the requested time."""


class TokenCountError(PricingError, ValueError):
    """A token count that is negative or not an int."""
