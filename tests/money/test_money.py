"""Exact money: parsing, rounding, splitting, formatting and Money arithmetic."""

from fractions import Fraction

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from revstream.money import (
    AMOUNT_NANOS_MAX,
    JSON_SAFE_INT_MAX,
    MINOR_UNIT_DIGITS,
    AmountRangeError,
    json_int,
    json_safe,
    parse_json_int,
    AmountParseError,
    AmountTypeError,
    CurrencyError,
    CurrencyMismatchError,
    Money,
    MoneyError,
    PrecisionError,
    format_amount,
    format_nanos_exact,
    nanos_per_minor,
    parse_amount,
    parse_nanos,
    round_half_even,
    round_up,
    split_minor,
    validate_currency,
)

CURRENCIES = st.sampled_from(sorted(MINOR_UNIT_DIGITS))
NANOS = st.integers(min_value=-AMOUNT_NANOS_MAX, max_value=AMOUNT_NANOS_MAX)
# Twenty of these always sum inside the range.
SUMMANDS = st.integers(min_value=-AMOUNT_NANOS_MAX // 20, max_value=AMOUNT_NANOS_MAX // 20)


def test_parse_amount_examples() -> None:
    assert parse_amount("10.00", "USD") == 10_000_000_000
    assert parse_amount("0.000000001", "USD") == 1
    assert parse_amount("-1.5", "EUR") == -1_500_000_000
    assert parse_amount("+7", "JPY") == 7_000_000_000


@pytest.mark.parametrize(
    "text",
    ["", " 1", "1 ", "1e3", "1E-3", "NaN", "nan", "inf", "Infinity", "1_000", "1.", ".5", "--1",
     "1,5", "0x10", "١٢", "1.2.3", "9" * 65],
)
def test_parse_amount_rejects_non_plain_decimals(text: str) -> None:
    with pytest.raises(AmountParseError):
        parse_amount(text, "USD")


def test_parse_amount_rejects_sub_nano_unless_rounding() -> None:
    with pytest.raises(PrecisionError):
        parse_amount("0.0000000015", "USD")
    assert parse_amount("0.0000000015", "USD", round_to_nano=True) == 2
    assert parse_amount("0.0000000025", "USD", round_to_nano=True) == 2
    assert parse_amount("-0.0000000025", "USD", round_to_nano=True) == -2


def test_parse_rejects_floats_and_unknown_currencies() -> None:
    with pytest.raises(AmountTypeError):
        parse_nanos(1.5)  # type: ignore[arg-type]
    with pytest.raises(CurrencyError):
        parse_amount("1", "XYZ")
    with pytest.raises(CurrencyError):
        validate_currency("usd")
    assert issubclass(CurrencyError, MoneyError)


def test_parse_nanos_can_forbid_negatives() -> None:
    with pytest.raises(AmountParseError):
        parse_nanos("-1", allow_negative=False)
    assert parse_nanos("-0.00", allow_negative=False) == 0


def test_round_half_even() -> None:
    assert [round_half_even(Fraction(n, 2)) for n in (-3, -1, 1, 3, 5)] == [-2, 0, 0, 2, 2]
    assert round_half_even(7) == 7
    assert round_up(Fraction(1, 3)) == 1 and round_up(Fraction(-1, 3)) == 0
    with pytest.raises(AmountTypeError):
        round_half_even(0.5)  # type: ignore[arg-type]
    with pytest.raises(AmountTypeError):
        round_half_even(True)  # type: ignore[arg-type]


def test_split_minor_examples() -> None:
    assert split_minor(12_345_000_000, "USD") == (1234, 5_000_000)
    assert split_minor(12_355_000_000, "USD") == (1236, -5_000_000)
    assert split_minor(1_500_000_000, "JPY") == (2, -500_000_000)
    assert split_minor(1_234_500_000, "KWD") == (1234, 500_000)
    assert nanos_per_minor("USD") == 10_000_000 and nanos_per_minor("BHD") == 1_000_000


@given(NANOS, CURRENCIES)
def test_split_minor_keeps_every_nano(nanos: int, currency: str) -> None:
    minor, residue = split_minor(nanos, currency)
    per_minor = nanos_per_minor(currency)
    assert minor * per_minor + residue == nanos
    assert abs(residue) * 2 <= per_minor


def test_format_amount() -> None:
    assert format_amount(12_345_000_000, "USD") == "12.34"
    assert format_amount(12_355_000_000, "USD") == "12.36"
    assert format_amount(12_300_000_000, "USD") == "12.30"
    assert format_amount(-5_000_000, "USD") == "0.00"
    assert format_amount(-15_000_000, "USD") == "-0.02"
    assert format_amount(1_500_000_000, "JPY") == "2"
    assert format_amount(1_234_500_000, "KWD") == "1.234"


def test_format_nanos_exact() -> None:
    assert format_nanos_exact(12_345_000_001) == "12.345000001"
    assert format_nanos_exact(12_000_000_000) == "12"
    assert format_nanos_exact(12_000_000_000, "USD") == "12.00"
    assert format_nanos_exact(-1) == "-0.000000001"


@given(NANOS)
def test_format_nanos_exact_round_trips(nanos: int) -> None:
    assert parse_nanos(format_nanos_exact(nanos)) == nanos


@given(NANOS, CURRENCIES)
def test_format_amount_parses_back_to_the_rounded_minor(nanos: int, currency: str) -> None:
    minor, _ = split_minor(nanos, currency)
    assert parse_amount(format_amount(nanos, currency), currency) == minor * nanos_per_minor(currency)


def test_money_arithmetic_within_one_currency() -> None:
    a, b = Money.parse("1.25", "USD"), Money(250_000_000, "USD")
    assert a + b == Money(1_500_000_000, "USD")
    assert a - b == Money(1_000_000_000, "USD")
    assert -a == Money(-1_250_000_000, "USD")
    assert b < a and a >= b
    assert str(a) == "1.25 USD" and a.format() == "1.25"
    assert Money.zero("EUR").nanos == 0


def test_money_refuses_mixed_currencies_and_floats() -> None:
    with pytest.raises(CurrencyMismatchError):
        Money(1, "USD") + Money(1, "EUR")
    with pytest.raises(CurrencyMismatchError):
        Money(1, "USD") < Money(1, "EUR")
    with pytest.raises(AmountTypeError):
        Money(1.0, "USD")  # type: ignore[arg-type]
    with pytest.raises(AmountTypeError):
        Money(True, "USD")  # type: ignore[arg-type]
    with pytest.raises(AmountTypeError):
        Money(1, "USD") + 1  # type: ignore[operator]


def test_money_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Money(1, "USD").nanos = 2  # type: ignore[misc]


@given(st.lists(SUMMANDS, max_size=20), CURRENCIES)
def test_money_sums_are_exact(values: list[int], currency: str) -> None:
    total = Money.zero(currency)
    for value in values:
        total = total + Money(value, currency)
    assert total.nanos == sum(values)


def test_amounts_beyond_the_range_are_refused_before_use() -> None:
    assert Money(AMOUNT_NANOS_MAX, "VND").nanos == 9 * 10**27
    with pytest.raises(AmountRangeError):
        Money(AMOUNT_NANOS_MAX + 1, "VND")
    with pytest.raises(AmountRangeError):
        Money(AMOUNT_NANOS_MAX, "VND") + Money(1, "VND")
    with pytest.raises(AmountRangeError):
        parse_amount("9000000000000000000.000000001", "USD")
    assert parse_amount("-9000000000000000000", "USD") == -AMOUNT_NANOS_MAX
    # 10^18 units, the floor the design promises, in every currency
    assert parse_amount("1000000000000000000", "VND") == 10**27


@given(st.integers(min_value=-(10**40), max_value=10**40))
def test_json_ints_are_exact_and_canonical(value: int) -> None:
    carried = json_int(value)
    assert parse_json_int(orjson.loads(orjson.dumps(carried))) == value
    assert isinstance(carried, int) == (abs(value) <= JSON_SAFE_INT_MAX)


@pytest.mark.parametrize("value", ["12", "0x10", "1e3", "01", " 5", True, 1.0, None, "9007199254740991"])
def test_json_ints_refuse_everything_else(value) -> None:
    with pytest.raises(AmountTypeError):
        parse_json_int(value)


def test_json_safe_walks_containers() -> None:
    big = 10**20
    assert json_safe({"a": [big, 1, {"b": (big, "x")}], "c": None}) == {"a": [str(big), 1, {"b": [str(big), "x"]}], "c": None}
