"""Errors of the money core.

Hierarchy::

    MoneyError                      base of every money failure
    ├── CurrencyError               not a known ISO 4217 code
    ├── CurrencyMismatchError       arithmetic across two currencies
    ├── AmountTypeError             a float, bool or other non-integer where nanos belong
    ├── AmountParseError            a decimal string that is not an exact amount
    │   └── PrecisionError          more digits than a nano (10^-9) holds
    └── AmountRangeError            beyond ±AMOUNT_NANOS_MAX, what every store and format holds

``AmountParseError`` also derives from ``ValueError`` and ``AmountTypeError`` from
``TypeError`` so generic callers that catch those still work.
"""

from __future__ import annotations


class MoneyError(Exception):
    """Base of every failure in the money core."""


class CurrencyError(MoneyError, ValueError):
    """A currency code that is malformed or not in ``MINOR_UNIT_DIGITS``."""


class CurrencyMismatchError(MoneyError):
    """Arithmetic or comparison between amounts in two different currencies."""


class AmountTypeError(MoneyError, TypeError):
    """A value that is not an exact integer or Fraction (a float, a bool, a str...)."""


class AmountParseError(MoneyError, ValueError):
    """A decimal string that is not a plain, exact decimal number."""


class AmountRangeError(MoneyError, ValueError):
    """An amount beyond ±``AMOUNT_NANOS_MAX``: refused before anything is written."""


class PrecisionError(AmountParseError):
    """A decimal with more fractional digits than the nano resolution allows."""
