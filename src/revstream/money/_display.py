"""Amounts for people: thousands separators and the currency code ("1,234,567.89 USD").

Pure and exact: the digits come from the integer nanos, never from a float. Programs read
the exact nanos (`--json`); this text is only for eyes.
"""

from __future__ import annotations

from revstream.money._money import format_amount, format_nanos_exact


def format_display(nanos: int, currency: str, *, exact: bool = False) -> str:
    """``nanos`` of ``currency`` as people read it, with ``,`` between thousands.

    By default rounded half-even to the currency's minor unit, showing exactly its minor
    digits: "1,234,567.89 USD", "12,000 JPY", "1.235 KWD", "-0.50 EUR". With ``exact=True``
    every non-zero digit is kept (at least the minor digits), for amounts that live below
    the minor unit such as prices per million tokens or sub-cent charges: "0.000036 USD".
    """
    text = format_nanos_exact(nanos, currency) if exact else format_amount(nanos, currency)
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, point, fraction = digits.partition(".")
    return f"{sign}{int(whole):,}{point}{fraction} {currency}"
