"""Money as the dashboard shows it: exact texts for people, integers for charts to plot.

An amount leaves the server as ``money_json``: its exact nanos, the minor units it rounds
to (half-even, what a statement or invoice would say), and ``text``, every non-zero digit
with thousands separators (``revstream.money.format_display(..., exact=True)``), so that a
charge of 0.000036 USD reads "0.000036", never "0.00". ``display`` adds the currency.

A chart plots integers, never floats computed from money: each currency's chart chooses a
unit ``10^-plot_digits`` of the currency (the minor unit, or finer while its largest point
would show fewer than ``PLOT_POINT_UNITS_MIN`` units, down to the nano), and every point
is its amount rounded half-even to that unit. A month of sub-cent charges is then a bar
of millionths, not a flat line at 0.00; tooltips show the exact texts.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Final, Iterable, Mapping

from ..money import format_display, minor_unit_digits, nanos_per_minor, round_half_even, split_minor

NANO_DIGITS: Final = 9
# The largest point of a chart spans at least this many plotted units when the currency's
# precision allows (three significant digits).
PLOT_POINT_UNITS_MIN: Final = 100
# A plotted integer stays exact in a browser's double.
PLOT_UNITS_MAX: Final = 2**53 - 1


def money_text(nanos: int, currency: str) -> str:
    """Every digit of the amount that is not zero, thousands separated, no currency code."""
    return format_display(nanos, currency, exact=True).rsplit(" ", 1)[0]


def money_json(nanos: int, currency: str) -> dict:
    """An amount as the page shows it: exact nanos, its minor units, its exact text."""
    return {"nanos": nanos, "currency": currency, "minor": split_minor(nanos, currency)[0],
            "text": money_text(nanos, currency), "display": format_display(nanos, currency, exact=True)}


def minor_money_json(minor: int, currency: str) -> dict:
    """An amount already rounded to the minor unit (a statement's payable)."""
    return money_json(minor * nanos_per_minor(currency), currency)


def money_list_json(amounts: Mapping[str, int]) -> list[dict]:
    """Amounts in several currencies (nanos by currency), one entry a currency, in order."""
    return [money_json(nanos, currency) for currency, nanos in sorted(amounts.items())]


def plot_digits(currency: str, points_nanos: Iterable[int]) -> int:
    """The decimal digits of the unit a chart of ``currency`` plots (see the module doc):
    negative when even the minor unit would overflow a browser's exact integers."""
    largest = max((abs(point) for point in points_nanos), default=0)
    digits = minor_unit_digits(currency)
    if largest == 0:
        return digits
    while digits < NANO_DIGITS and largest < PLOT_POINT_UNITS_MIN * 10 ** (NANO_DIGITS - digits):
        digits += 1
    while largest > PLOT_UNITS_MAX * 10 ** (NANO_DIGITS - digits):
        digits -= 1
    return digits


def plot_units(nanos: int, digits: int) -> int:
    """``nanos`` rounded half-even to units of 10^-digits of the currency."""
    return round_half_even(Fraction(nanos, 10 ** (NANO_DIGITS - digits)))


def money_dataset(label: str, points_nanos: list[int], currency: str, digits: int,
                  total_exact: Fraction | int | None = None) -> dict:
    """One chart dataset of amounts: the plotted units, each point's exact nanos and text,
    and the total (the exact sum when given, rounded once; else the points' sum)."""
    total = sum(points_nanos) if total_exact is None else round_half_even(Fraction(total_exact))
    return {"label": label, "data": [plot_units(nanos, digits) for nanos in points_nanos], "nanos": points_nanos,
            "texts": [money_text(nanos, currency) for nanos in points_nanos], "total": money_json(total, currency)}


def money_chart(currency: str, series: Mapping[str, list[Fraction]], extra_total_exact: Fraction | int = 0) -> dict:
    """One currency's chart: a dataset per label of exact points (nanos, Fractions allowed),
    each point rounded once; the currency's total is the exact sum of every point, rounded
    once (``extra_total_exact`` adds what no dataset plots)."""
    rounded = {label: [round_half_even(Fraction(point)) for point in points] for label, points in series.items()}
    digits = plot_digits(currency, (point for points in rounded.values() for point in points))
    total = sum((Fraction(point) for points in series.values() for point in points), Fraction(extra_total_exact))
    return {
        "currency": currency, "minor_digits": minor_unit_digits(currency), "plot_digits": digits,
        "total": money_json(round_half_even(total), currency),
        "datasets": [money_dataset(label, rounded[label], currency, digits, sum(series[label], Fraction(0)))
                     for label in sorted(series)],
    }
