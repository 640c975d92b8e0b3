"""The range every amount lives in, and its JSON form.

An amount is an unbounded Python int of nanos in memory; what stores and formats hold is
bounded by ``AMOUNT_NANOS_MAX``: 9 × 10^18 currency units (the stores keep whole units in
a signed 64-bit column beside the nanos, as google.type.Money does), far beyond any real
revenue in any currency (a licensor's share of a large host is billions; some currencies
count millions per dollar). Beyond it an amount is refused with ``AmountRangeError``,
before anything is written.

In JSON (the API, `--json`, statements, invoices, log leaves) an integer is a number while
a double holds it exactly (±(2^53 − 1)), and a decimal string beyond, so every JSON parser
reads every amount exactly and canonical JSON (RFC 8785, I-JSON) stays valid.
"""

from __future__ import annotations

import re
from typing import Final

from revstream.money._currency import NANOS_PER_UNIT
from revstream.money._errors import AmountRangeError, AmountTypeError

AMOUNT_UNITS_MAX: Final = 9 * 10**18
AMOUNT_NANOS_MAX: Final = AMOUNT_UNITS_MAX * NANOS_PER_UNIT
JSON_SAFE_INT_MAX: Final = 2**53 - 1
"""Largest integer magnitude every IEEE-double JSON parser reads exactly."""
_JSON_INT_TEXT: Final = re.compile(r"-?(0|[1-9][0-9]{0,63})", re.ASCII)


def check_amount_range(nanos: int, what: str = "amount") -> int:
    """Return ``nanos`` if within ±AMOUNT_NANOS_MAX, else raise AmountRangeError."""
    if type(nanos) is not int:
        raise AmountTypeError(f"{what} must be an int of nanos, got {type(nanos).__name__}")
    if not -AMOUNT_NANOS_MAX <= nanos <= AMOUNT_NANOS_MAX:
        raise AmountRangeError(f"{what} is beyond the ±{AMOUNT_UNITS_MAX:,} units an amount may hold")
    return nanos


def json_int(value: int) -> int | str:
    """``value`` as JSON carries it exactly: an int within ±(2^53 − 1), else its decimal string."""
    return value if -JSON_SAFE_INT_MAX <= value <= JSON_SAFE_INT_MAX else str(value)


def parse_json_int(value: object, what: str = "value") -> int:
    """The int a JSON value carries: a number (not a bool or float), or a decimal string
    of an integer beyond the double range written as `json_int` writes it."""
    if type(value) is int:
        return value
    if isinstance(value, str) and _JSON_INT_TEXT.fullmatch(value):
        number = int(value)
        if -JSON_SAFE_INT_MAX <= number <= JSON_SAFE_INT_MAX:
            raise AmountTypeError(f"{what}: {value!r} is within the range of a JSON number and must be one")
        return number
    raise AmountTypeError(f"{what} must be an integer (a number, or a decimal string beyond ±2^53), got {value!r}")


def json_safe(value: object) -> object:
    """``value`` with every int beyond the double range turned into its decimal string
    (dicts, lists and tuples walked; everything else as it is)."""
    if type(value) is int:
        return json_int(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value
