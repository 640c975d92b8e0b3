"""format_display: the currency's digits with thousands separators, exact from integer nanos."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revstream.money import AMOUNT_NANOS_MAX, MINOR_UNIT_DIGITS, format_amount, format_display, format_nanos_exact, parse_amount, split_minor

CURRENCIES = sorted(MINOR_UNIT_DIGITS)


@pytest.mark.parametrize("nanos, currency, text", [
    (1_234_567_890_000_000, "USD", "1,234,567.89 USD"),
    (12_000_000_000_000, "JPY", "12,000 JPY"),
    (1_234_567_890, "KWD", "1.235 KWD"),
    (999_994_999_999, "USD", "999.99 USD"),
    (999_995_000_000, "USD", "1,000.00 USD"),  # half-even: 99999.5 cents -> 100000
    (-1_234_500_000_000, "EUR", "-1,234.50 EUR"),
    (-1, "USD", "0.00 USD"),  # no "-0.00"
    (0, "JPY", "0 JPY"),
    (10**27, "USD", "1,000,000,000,000,000,000.00 USD"),  # beyond 2**63 nanos
])
def test_examples(nanos, currency, text):
    assert format_display(nanos, currency) == text


@pytest.mark.parametrize("nanos, currency, text", [
    (36_000, "USD", "0.000036 USD"),
    (200_000_000, "USD", "0.20 USD"),
    (1_000_000_000_001, "JPY", "1,000.000000001 JPY"),
])
def test_exact_keeps_every_digit(nanos, currency, text):
    assert format_display(nanos, currency, exact=True) == text


@given(st.integers(min_value=-AMOUNT_NANOS_MAX, max_value=AMOUNT_NANOS_MAX), st.sampled_from(CURRENCIES))
def test_without_separators_and_code_it_is_the_rounded_amount(nanos, currency):
    text = format_display(nanos, currency)
    number, code = text.split(" ")
    assert code == currency
    assert number.replace(",", "") == format_amount(nanos, currency)
    minor, _ = split_minor(nanos, currency)
    assert parse_amount(number.replace(",", ""), currency) == minor * 10 ** (9 - MINOR_UNIT_DIGITS[currency])


@given(st.integers(min_value=-AMOUNT_NANOS_MAX, max_value=AMOUNT_NANOS_MAX), st.sampled_from(CURRENCIES))
def test_exact_text_reads_back_to_the_same_nanos(nanos, currency):
    number, _ = format_display(nanos, currency, exact=True).split(" ")
    assert number.replace(",", "") == format_nanos_exact(nanos, currency)
    whole = number.lstrip("-").split(".")[0]
    groups = whole.split(",")
    assert all(len(group) == 3 for group in groups[1:]) and 1 <= len(groups[0]) <= 3
