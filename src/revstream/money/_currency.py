"""ISO 4217 currencies and their minor units.

The table maps a currency code to the number of decimal digits of its minor unit
(USD 2 = cents, JPY 0, KWD 3). It is read-only; a currency missing here is rejected
rather than guessed, because a wrong minor unit would misround every invoice.
To support another currency, add it to the table (ISO 4217 list, "Minor unit" column).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Final, Mapping

from revstream.money._errors import CurrencyError

NANO_DIGITS: Final = 9
NANOS_PER_UNIT: Final = 10**NANO_DIGITS

MINOR_UNIT_DIGITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "AED": 2, "ARS": 2, "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2,
        "CLP": 0, "CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2,
        "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0,
        "JOD": 3, "JPY": 0, "KES": 2, "KRW": 0, "KWD": 3, "MXN": 2, "MYR": 2,
        "NGN": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PKR": 2, "PLN": 2,
        "QAR": 2, "RON": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3,
        "TRY": 2, "TWD": 2, "UAH": 2, "USD": 2, "VND": 0, "ZAR": 2,
    }
)

_CODE_PATTERN: Final = re.compile(r"[A-Z]{3}", re.ASCII)


def validate_currency(code: object) -> str:
    """Return ``code`` if it is a known ISO 4217 alphabetic code, else raise ``CurrencyError``.

    Codes are upper case exactly as ISO 4217 writes them: "usd" is rejected rather than
    silently normalised, so stored data has one spelling.
    """
    if not isinstance(code, str) or _CODE_PATTERN.fullmatch(code) is None:
        raise CurrencyError(f"currency must be a 3-letter upper-case ISO 4217 code, got {code!r}")
    if code not in MINOR_UNIT_DIGITS:
        raise CurrencyError(f"unknown currency {code!r}: add it to MINOR_UNIT_DIGITS")
    return code


def minor_unit_digits(currency: str) -> int:
    """Decimal digits of the currency's minor unit (USD 2, JPY 0, KWD 3)."""
    return MINOR_UNIT_DIGITS[validate_currency(currency)]


def nanos_per_minor(currency: str) -> int:
    """How many nanos one minor unit holds (USD: 10_000_000 per cent)."""
    return 10 ** (NANO_DIGITS - minor_unit_digits(currency))
