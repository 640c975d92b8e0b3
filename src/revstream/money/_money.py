"""Exact money: integer nanos plus an ISO 4217 currency.

An amount is ``nanos`` (10^-9 of the currency unit) and a currency code, the
google.type.Money convention. No float ever enters: decimal strings are parsed
digit by digit, ratios are ``fractions.Fraction``, and every rounding is
half-even (banker's rounding) to an explicit resolution, so totals are exact and
every rounding residue is a number the caller can post.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from revstream.money._currency import (
    NANO_DIGITS,
    NANOS_PER_UNIT,
    minor_unit_digits,
    nanos_per_minor,
    validate_currency,
)
from revstream.money._range import check_amount_range
from revstream.money._errors import (
    AmountParseError,
    AmountTypeError,
    CurrencyMismatchError,
    PrecisionError,
)

amount_text_chars_max: Final = 64
"""Longest decimal string accepted; bounds the size of the integers a parse can build."""

_DECIMAL_PATTERN: Final = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?", re.ASCII)


def _require_int(value: object, what: str) -> int:
    """Return ``value`` if it is a true int (bool and float are rejected)."""
    if type(value) is not int:
        raise AmountTypeError(f"{what} must be an int, got {type(value).__name__}: {value!r}")
    return value


def round_half_even(value: Fraction | int) -> int:
    """Round an exact value to the nearest int, ties to even (0.5 -> 0, 1.5 -> 2)."""
    if type(value) is int:
        return value
    if not isinstance(value, Fraction):
        raise AmountTypeError(f"expected int or Fraction, got {type(value).__name__}")
    return round(value)


def round_up(value: Fraction | int) -> int:
    """Round an exact value up to the next int (ceiling), used for reservations."""
    if type(value) is int:
        return value
    if not isinstance(value, Fraction):
        raise AmountTypeError(f"expected int or Fraction, got {type(value).__name__}")
    return math.ceil(value)


def parse_nanos(text: str, *, allow_negative: bool = True, round_to_nano: bool = False) -> int:
    """Parse a plain decimal string ("10.00", "-0.000000001") into integer nanos exactly.

    Accepted: optional sign, ASCII digits, optional "." followed by digits. Rejected:
    exponents, NaN/Infinity, spaces, underscores, non-ASCII digits and more than 9
    fractional digits (``PrecisionError``) unless ``round_to_nano`` asks for half-even
    rounding to the nano.
    """
    if not isinstance(text, str):
        raise AmountTypeError(f"amount must be a decimal string, got {type(text).__name__}")
    if len(text) > amount_text_chars_max:
        raise AmountParseError(f"amount string longer than {amount_text_chars_max} characters")
    match = _DECIMAL_PATTERN.fullmatch(text)
    if match is None:
        raise AmountParseError(f"not a plain decimal number: {text!r}")
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    if sign == "-" and not allow_negative and set(whole + fraction) != {"0"}:
        raise AmountParseError(f"negative amount not allowed: {text!r}")
    if len(fraction) <= NANO_DIGITS:
        magnitude = int(whole) * NANOS_PER_UNIT + int(fraction.ljust(NANO_DIGITS, "0"))
    elif round_to_nano:
        exact = Fraction(int(whole + fraction), 10 ** len(fraction)) * NANOS_PER_UNIT
        magnitude = round_half_even(exact)
    else:
        raise PrecisionError(f"{text!r} has more than {NANO_DIGITS} fractional digits (finer than a nano)")
    return check_amount_range(-magnitude if sign == "-" else magnitude, f"amount {text!r}")


def parse_amount(text: str, currency: str, *, round_to_nano: bool = False) -> int:
    """Parse ``text`` as an amount of ``currency`` into nanos ("10.00" USD -> 10_000_000_000)."""
    validate_currency(currency)
    return parse_nanos(text, round_to_nano=round_to_nano)


def split_minor(nanos: int, currency: str) -> tuple[int, int]:
    """Round nanos half-even to the currency's minor unit.

    Returns ``(minor_units, residue_nanos)`` with
    ``residue_nanos == nanos - minor_units * nanos_per_minor(currency)``; the residue is
    what an invoice or statement does not show and must be posted or carried, never lost.
    """
    _require_int(nanos, "nanos")
    per_minor = nanos_per_minor(currency)
    minor_units = round_half_even(Fraction(nanos, per_minor))
    return minor_units, nanos - minor_units * per_minor


def _format_fixed(magnitude_nanos: int, negative: bool, fraction_digits_min: int) -> str:
    whole, fraction = divmod(magnitude_nanos, NANOS_PER_UNIT)
    digits = str(fraction).rjust(NANO_DIGITS, "0").rstrip("0").ljust(fraction_digits_min, "0")
    text = f"{whole}.{digits}" if digits else str(whole)
    return f"-{text}" if negative and magnitude_nanos else text


def format_amount(nanos: int, currency: str) -> str:
    """Format nanos rounded half-even to the minor unit: 12_345_000_000 USD -> "12.34".

    Shows exactly the currency's minor digits ("12.30" USD, "12" JPY, "1.235" KWD).
    """
    minor_units, _ = split_minor(nanos, currency)
    digits = minor_unit_digits(currency)
    magnitude = abs(minor_units) * nanos_per_minor(currency)
    text = _format_fixed(magnitude, minor_units < 0, digits)
    return text if digits else text.split(".")[0]


def format_nanos_exact(nanos: int, currency: str | None = None) -> str:
    """Format nanos exactly, trailing zeros trimmed but at least the minor digits of ``currency``.

    ``parse_nanos(format_nanos_exact(n)) == n`` for every int ``n``.
    """
    _require_int(nanos, "nanos")
    digits_min = minor_unit_digits(currency) if currency is not None else 0
    return _format_fixed(abs(nanos), nanos < 0, digits_min)


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``nanos`` of ``currency``. Arithmetic only within one currency."""

    nanos: int
    currency: str

    def __post_init__(self) -> None:
        check_amount_range(self.nanos, "Money.nanos")
        validate_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """The zero amount of ``currency``."""
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse an exact decimal string ("10.00") as an amount of ``currency``."""
        return cls(parse_amount(text, currency), currency)

    def _same_currency(self, other: object, operation: str) -> Money:
        if not isinstance(other, Money):
            raise AmountTypeError(f"cannot {operation} Money and {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot {operation} {self.currency} and {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.nanos + self._same_currency(other, "add").nanos, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.nanos - self._same_currency(other, "subtract").nanos, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.nanos, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.nanos < self._same_currency(other, "compare").nanos

    def __le__(self, other: Money) -> bool:
        return self.nanos <= self._same_currency(other, "compare").nanos

    def __gt__(self, other: Money) -> bool:
        return self.nanos > self._same_currency(other, "compare").nanos

    def __ge__(self, other: Money) -> bool:
        return self.nanos >= self._same_currency(other, "compare").nanos

    def split_minor(self) -> tuple[int, int]:
        """``(minor_units, residue_nanos)``, see :func:`split_minor`."""
        return split_minor(self.nanos, self.currency)

    def format(self) -> str:
        """Rounded to the minor unit, e.g. "12.35"."""
        return format_amount(self.nanos, self.currency)

    def __str__(self) -> str:
        return f"{format_nanos_exact(self.nanos, self.currency)} {self.currency}"
