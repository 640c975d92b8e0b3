"""Model prices, price schedules and the charge for a request.

Prices are configured as decimal strings per million tokens ("0.20" = 0.20 currency
units per 1M tokens) and held as integer ``nanos_per_mtok``. A request's exact charge
is ``(tokens_prompt * input + tokens_completion * output) / 1_000_000`` nanos, a
``Fraction``; the provisional charge rounds it half-even to the nano, and a reservation
rounds it up so a reservation is never below the real cost.

Times: ``effective_from`` and the ``when`` of a lookup are a ``date`` (meaning 00:00 UTC
of that day) or a timezone-aware ``datetime`` in UTC. Naive datetimes are rejected
because their instant is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from typing import Final

from revstream.money import MoneyError, parse_nanos, validate_currency
from revstream.pricing._errors import (
    NoPriceError,
    PriceParseError,
    PriceScheduleError,
    TokenCountError,
)

TOKENS_PER_MTOK: Final = 1_000_000


def parse_price(text: str) -> int:
    """Parse a price per million tokens ("0.20") into exact integer nanos per Mtok.

    Rejects negatives, exponents, NaN, non-numeric text and more than 9 decimals
    (finer than a nano per Mtok) with ``PriceParseError``.
    """
    try:
        return parse_nanos(text, allow_negative=False)
    except MoneyError as error:
        raise PriceParseError(f"invalid price per Mtok {text!r}: {error}") from error


def to_utc_instant(moment: date | datetime, what: str = "time") -> datetime:
    """A ``date`` as 00:00 UTC of that day, or an aware UTC ``datetime`` unchanged."""
    if isinstance(moment, datetime):
        offset = moment.utcoffset()
        if offset is None:
            raise PriceScheduleError(f"{what} must be timezone-aware UTC, got naive {moment!r}")
        if offset != timedelta(0):
            raise PriceScheduleError(f"{what} must be in UTC, got offset {offset}")
        return moment
    if isinstance(moment, date):
        return datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)
    raise PriceScheduleError(f"{what} must be a date or datetime, got {type(moment).__name__}")


def _require_price_nanos(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise PriceParseError(f"{what} must be a non-negative int of nanos per Mtok, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """The price of one model in one currency, in effect from ``effective_from`` on."""

    model: str
    currency: str
    input_nanos_per_mtok: int
    output_nanos_per_mtok: int
    effective_from: date | datetime

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise PriceScheduleError(f"model must be a non-empty string, got {self.model!r}")
        try:
            validate_currency(self.currency)
        except MoneyError as error:
            raise PriceScheduleError(str(error)) from error
        _require_price_nanos(self.input_nanos_per_mtok, "input_nanos_per_mtok")
        _require_price_nanos(self.output_nanos_per_mtok, "output_nanos_per_mtok")
        to_utc_instant(self.effective_from, "effective_from")

    @classmethod
    def from_strings(
        cls, model: str, currency: str, input_per_mtok: str, output_per_mtok: str,
        effective_from: date | datetime,
    ) -> ModelPrice:
        """Build from configured decimal strings ("0.20", "0.60")."""
        return cls(model, currency, parse_price(input_per_mtok), parse_price(output_per_mtok), effective_from)

    @property
    def effective_from_utc(self) -> datetime:
        """``effective_from`` as an aware UTC instant."""
        return to_utc_instant(self.effective_from)

    @property
    def effective_from_us(self) -> int:
        """``effective_from`` in epoch microseconds (exact)."""
        return _epoch_us(self.effective_from_utc)


@dataclass(frozen=True, slots=True)
class PriceSchedule:
    """An immutable set of prices; the price at a time is the latest one started by then."""

    prices: tuple[ModelPrice, ...]
    # Prices by model, latest start first: derived once, so a lookup on the request
    # path is a dict access and a short scan.
    _by_model: dict = field(init=False, repr=False, compare=False)
    _starts_us: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.prices, tuple):
            raise PriceScheduleError("prices must be a tuple of ModelPrice")
        seen: set[tuple[str, datetime]] = set()
        for price in self.prices:
            if not isinstance(price, ModelPrice):
                raise PriceScheduleError(f"not a ModelPrice: {price!r}")
            key = (price.model, price.effective_from_utc)
            if key in seen:
                raise PriceScheduleError(f"two prices for {price.model!r} from {key[1].isoformat()}")
            seen.add(key)
        by_model: dict[str, list[ModelPrice]] = {}
        for price in self.prices:
            by_model.setdefault(price.model, []).append(price)
        object.__setattr__(self, "_by_model", {
            model: tuple(sorted(prices, key=lambda p: p.effective_from_utc, reverse=True))
            for model, prices in by_model.items()
        })
        object.__setattr__(self, "_starts_us", {
            model: tuple((_epoch_us(p.effective_from_utc), p) for p in prices)
            for model, prices in self._by_model.items()
        })

    def models(self) -> tuple[str, ...]:
        """The priced models, sorted."""
        return tuple(sorted(self._by_model))

    def has_model(self, model: str) -> bool:
        return model in self._by_model

    def price_at_us(self, model: str, time_us: int) -> ModelPrice | None:
        """The price in force at `time_us` (epoch microseconds, UTC), or None: the
        per-record lookup, without building a datetime."""
        for start_us, price in self._starts_us.get(model, ()):
            if start_us <= time_us:
                return price
        return None

    def price_at(self, model: str, when: date | datetime) -> ModelPrice:
        """The price of ``model`` with the latest ``effective_from <= when``; ``NoPriceError`` if none."""
        instant = to_utc_instant(when, "when")
        for price in self._by_model.get(model, ()):
            if price.effective_from_utc <= instant:
                return price
        raise NoPriceError(f"no price for model {model!r} in effect at {instant.isoformat()}")


def _epoch_us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _require_tokens(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise TokenCountError(f"{what} must be a non-negative int, got {value!r}")
    return value


def charge_exact(tokens_prompt: int, tokens_completion: int, price: ModelPrice) -> Fraction:
    """The exact charge in nanos (a Fraction) for the tokens at ``price``."""
    _require_tokens(tokens_prompt, "tokens_prompt")
    _require_tokens(tokens_completion, "tokens_completion")
    total = tokens_prompt * price.input_nanos_per_mtok + tokens_completion * price.output_nanos_per_mtok
    return Fraction(total, TOKENS_PER_MTOK)


def _charge_numerator(tokens_prompt: int, tokens_completion: int, price: ModelPrice) -> int:
    """The charge in nanos times TOKENS_PER_MTOK: an exact integer."""
    _require_tokens(tokens_prompt, "tokens_prompt")
    _require_tokens(tokens_completion, "tokens_completion")
    return tokens_prompt * price.input_nanos_per_mtok + tokens_completion * price.output_nanos_per_mtok


def provisional_charge_nanos(tokens_prompt: int, tokens_completion: int, price: ModelPrice) -> int:
    """The provisional per-request charge: the exact charge rounded half-even to the nano.

    Integer arithmetic, equal to ``round_half_even(charge_exact(...))`` (a property test
    pins that): this runs once per usage record."""
    quotient, remainder = divmod(_charge_numerator(tokens_prompt, tokens_completion, price), TOKENS_PER_MTOK)
    twice = 2 * remainder
    if twice > TOKENS_PER_MTOK or (twice == TOKENS_PER_MTOK and quotient % 2 == 1):
        return quotient + 1
    return quotient


def max_cost_nanos(tokens_prompt: int, max_completion_tokens: int, price: ModelPrice) -> int:
    """The reservation for a request: its largest possible charge, rounded up (ceiling).

    Never below ``provisional_charge_nanos`` for any completion up to ``max_completion_tokens``.
    """
    return -(-_charge_numerator(tokens_prompt, max_completion_tokens, price) // TOKENS_PER_MTOK)
