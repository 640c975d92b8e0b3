"""Prices per million tokens, schedules and request charges."""

from datetime import date, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revstream.pricing import (
    ModelPrice,
    NoPriceError,
    PriceParseError,
    PriceSchedule,
    PriceScheduleError,
    PricingError,
    TokenCountError,
    charge_exact,
    max_cost_nanos,
    parse_price,
    provisional_charge_nanos,
)

UTC = timezone.utc
PRICE = ModelPrice.from_strings("llama-3-8b", "USD", "0.20", "0.60", date(2025, 1, 1))


def test_parse_price_examples() -> None:
    assert parse_price("0.20") == 200_000_000
    assert parse_price("3") == 3_000_000_000
    assert parse_price("0.000000001") == 1
    assert parse_price("0") == 0


@pytest.mark.parametrize("text", ["-0.20", "0.0000000001", "abc", "NaN", "1e-3", "", " 0.2", "Infinity", "0x1"])
def test_parse_price_rejects_bad_prices(text: str) -> None:
    with pytest.raises(PriceParseError) as raised:
        parse_price(text)
    assert repr(text) in str(raised.value)


def test_parse_price_rejects_non_strings() -> None:
    with pytest.raises(PricingError):
        parse_price(0.2)  # type: ignore[arg-type]


def test_model_price_validation() -> None:
    with pytest.raises(PriceParseError):
        ModelPrice("m", "USD", -1, 0, date(2025, 1, 1))
    with pytest.raises(PriceParseError):
        ModelPrice("m", "USD", 1.0, 0, date(2025, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(PriceScheduleError):
        ModelPrice("m", "usd", 1, 0, date(2025, 1, 1))
    with pytest.raises(PriceScheduleError):
        ModelPrice("m", "USD", 1, 0, datetime(2025, 1, 1))  # naive
    with pytest.raises(PriceScheduleError):
        ModelPrice("m", "USD", 1, 0, datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=2))))


def test_charge_examples() -> None:
    # 1000 prompt tokens at 0.20/M + 500 completion at 0.60/M = 0.0002 + 0.0003 = 0.0005
    assert charge_exact(1000, 500, PRICE) == Fraction(500_000)
    assert provisional_charge_nanos(1000, 500, PRICE) == 500_000
    price = ModelPrice("m", "USD", 1, 3, date(2025, 1, 1))
    assert charge_exact(1, 0, price) == Fraction(1, 1_000_000)
    assert provisional_charge_nanos(500_000, 0, price) == 0  # exactly half a nano: ties to even
    assert provisional_charge_nanos(1_500_000, 0, price) == 2
    assert max_cost_nanos(1, 0, price) == 1


def test_token_counts_must_be_non_negative_ints() -> None:
    for bad in (-1, 1.0, True):
        with pytest.raises(TokenCountError):
            charge_exact(bad, 0, PRICE)  # type: ignore[arg-type]


@given(
    st.integers(0, 10**7), st.integers(0, 10**6), st.integers(0, 10**6),
    st.integers(0, 10**12), st.integers(0, 10**12),
)
def test_reservation_never_below_the_real_cost(
    tokens_prompt: int, tokens_completion: int, extra: int, input_nanos: int, output_nanos: int
) -> None:
    price = ModelPrice("m", "EUR", input_nanos, output_nanos, date(2025, 1, 1))
    reserved = max_cost_nanos(tokens_prompt, tokens_completion + extra, price)
    exact = charge_exact(tokens_prompt, tokens_completion, price)
    assert reserved >= exact
    assert reserved >= provisional_charge_nanos(tokens_prompt, tokens_completion, price)
    assert abs(provisional_charge_nanos(tokens_prompt, tokens_completion, price) - exact) <= Fraction(1, 2)


def test_schedule_picks_latest_effective_price() -> None:
    old = ModelPrice("m", "USD", 100, 200, date(2025, 1, 1))
    new = ModelPrice("m", "USD", 150, 250, datetime(2025, 3, 1, 12, tzinfo=UTC))
    other = ModelPrice("n", "USD", 1, 1, date(2024, 1, 1))
    schedule = PriceSchedule((new, other, old))
    assert schedule.models() == ("m", "n")
    assert schedule.price_at("m", date(2025, 2, 1)) == old
    assert schedule.price_at("m", date(2025, 3, 1)) == old  # a date means 00:00 UTC
    assert schedule.price_at("m", datetime(2025, 3, 1, 12, tzinfo=UTC)) == new
    assert schedule.price_at("m", datetime(2030, 1, 1, tzinfo=UTC)) == new


def test_schedule_errors() -> None:
    schedule = PriceSchedule((ModelPrice("m", "USD", 100, 200, date(2025, 1, 1)),))
    with pytest.raises(NoPriceError, match="no price for model 'm'"):
        schedule.price_at("m", date(2024, 12, 31))
    with pytest.raises(NoPriceError):
        schedule.price_at("unknown", date(2025, 6, 1))
    with pytest.raises(PriceScheduleError):
        schedule.price_at("m", datetime(2025, 6, 1))  # naive
    duplicate = ModelPrice("m", "USD", 1, 2, datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(PriceScheduleError, match="two prices"):
        PriceSchedule(schedule.prices + (duplicate,))
    with pytest.raises(PriceScheduleError):
        PriceSchedule([duplicate])  # type: ignore[arg-type]


# --- the integer fast paths equal the exact Fraction arithmetic --------------------

from datetime import date as _date

from hypothesis import given as _given
from hypothesis import strategies as _st

from revstream.money import round_half_even as _round_half_even
from revstream.money import round_up as _round_up
from revstream.pricing import charge_exact as _charge_exact
from revstream.pricing import max_cost_nanos as _max_cost_nanos
from revstream.pricing import ModelPrice as _ModelPrice
from revstream.pricing import provisional_charge_nanos as _provisional


@_given(
    prompt=_st.integers(0, 10**9), completion=_st.integers(0, 10**9),
    input_price=_st.integers(0, 10**15), output_price=_st.integers(0, 10**15),
)
def test_integer_rounding_equals_fraction_rounding(prompt, completion, input_price, output_price):
    price = _ModelPrice("m", "USD", input_price, output_price, _date(2026, 1, 1))
    exact = _charge_exact(prompt, completion, price)
    assert _provisional(prompt, completion, price) == _round_half_even(exact)
    assert _max_cost_nanos(prompt, completion, price) == _round_up(exact)


def test_half_even_ties_on_the_integer_path():
    # 1 token at 500_000 nanos/Mtok = 0.5 nanos -> 0; at 1_500_000 = 1.5 -> 2; 2_500_000 = 2.5 -> 2
    for per_mtok, expected in ((500_000, 0), (1_500_000, 2), (2_500_000, 2), (3_500_000, 4)):
        price = _ModelPrice("m", "USD", per_mtok, 0, _date(2026, 1, 1))
        assert _provisional(1, 0, price) == expected
