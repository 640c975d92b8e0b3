"""Rate cards: the price of one delivered message by channel, market, category, currency.

``revstream ratecards import FILE.csv`` reads rows of::

    market,category,currency,price,effective_from[,tier_from,tier_to][,channel][,book]

* ``market``: the recipient's rate-card market (``IN``, ``BR``, ``REST_OF_AFRICA``).
* ``category``: ``marketing``, ``utility``, ``authentication``,
  ``authentication_international`` or ``service``.
* ``price``: a decimal string per message in ``currency`` (``0.0250``), exact to the nano.
* ``effective_from``: an ISO date (midnight UTC) or date-time. For each (channel, market,
  category, currency, book) the rows with the latest ``effective_from`` at or before a
  send time are the version in force; a later version replaces all tiers of the key.
* ``tier_from``/``tier_to`` (optional, ``utility`` and ``authentication`` only): volume
  tier bounds, inclusive, counting the business's charged messages of that market and
  category in one calendar month from 1 (the platform's "25000001:50000000"); an empty
  ``tier_to`` is unbounded. A version's tiers must start at 1, follow each other without
  gap or overlap, end unbounded, and not get dearer with volume (so a quote, made before
  the message's place in the month is known, is a ceiling of its charge).
* ``channel`` (optional, default ``whatsapp``): the channel kind the row prices.
* ``book`` (optional, default ``price``): ``price`` is what the host charges businesses;
  ``cost`` is what the platform charges the host (the published platform rates), booked
  to a cost account so the margin per message is visible.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Mapping, NamedTuple

from revstream.money import MoneyError, parse_amount, validate_currency
from revstream.messaging._contacts import CHANNEL_KINDS, CHANNEL_WHATSAPP, validate_market
from revstream.messaging._errors import MessagingValueError, RateCardError
from revstream.messaging._units import instant_us, require_int

PRICED_MARKETING: Final = "marketing"
PRICED_UTILITY: Final = "utility"
PRICED_AUTHENTICATION: Final = "authentication"
PRICED_AUTHENTICATION_INTERNATIONAL: Final = "authentication_international"
PRICED_SERVICE: Final = "service"
PRICED_CATEGORIES: Final = (PRICED_MARKETING, PRICED_UTILITY, PRICED_AUTHENTICATION,
                            PRICED_AUTHENTICATION_INTERNATIONAL, PRICED_SERVICE)
TIERED_CATEGORIES: Final = (PRICED_UTILITY, PRICED_AUTHENTICATION)
BOOK_PRICE: Final = "price"
BOOK_COST: Final = "cost"
BOOKS: Final = (BOOK_PRICE, BOOK_COST)
REQUIRED_COLUMNS: Final = ("market", "category", "currency", "price", "effective_from")
OPTIONAL_COLUMNS: Final = ("tier_from", "tier_to", "channel", "book")
rate_card_rows_max: Final = 100_000
rate_card_chars_max: Final = 16 * 1024 * 1024


class RateKey(NamedTuple):
    channel: str
    market: str
    category: str
    currency: str
    book: str


@dataclass(frozen=True, slots=True)
class RateRow:
    """One row of a rate card (``price_nanos`` per delivered message)."""

    market: str
    category: str
    currency: str
    price_nanos: int
    effective_from_us: int
    tier_from: int = 1
    tier_to: int | None = None
    channel: str = CHANNEL_WHATSAPP
    book: str = BOOK_PRICE

    def __post_init__(self) -> None:
        try:
            validate_market(self.market)
        except MessagingValueError as error:
            raise RateCardError(str(error)) from None
        try:
            validate_currency(self.currency)
        except MoneyError as error:
            raise RateCardError(str(error)) from None
        if self.category not in PRICED_CATEGORIES:
            raise RateCardError(f"category must be one of {', '.join(PRICED_CATEGORIES)}, got {self.category!r}")
        if self.channel not in CHANNEL_KINDS:
            raise RateCardError(f"channel must be one of {', '.join(CHANNEL_KINDS)}, got {self.channel!r}")
        if self.book not in BOOKS:
            raise RateCardError(f"book must be one of {', '.join(BOOKS)}, got {self.book!r}")
        require_int(self.price_nanos, "price_nanos", minimum=0)
        require_int(self.effective_from_us, "effective_from_us")
        require_int(self.tier_from, "tier_from", minimum=1)
        if self.tier_to is not None and require_int(self.tier_to, "tier_to") < self.tier_from:
            raise RateCardError(f"tier_to {self.tier_to} is below tier_from {self.tier_from}")
        if (self.tier_from != 1 or self.tier_to is not None) and self.category not in TIERED_CATEGORIES:
            raise RateCardError(f"volume tiers apply to {' and '.join(TIERED_CATEGORIES)} only, not {self.category}")

    @property
    def key(self) -> RateKey:
        return RateKey(self.channel, self.market, self.category, self.currency, self.book)


@dataclass(frozen=True, slots=True)
class Tier:
    """The price of the ``from_ordinal``-th to ``to_ordinal``-th (inclusive) charged message."""

    from_ordinal: int
    to_ordinal: int | None
    price_nanos: int


@dataclass(frozen=True, slots=True)
class RateVersion:
    """The tiers of one key from ``effective_from_us`` on (a flat rate is one tier from 1)."""

    key: RateKey
    effective_from_us: int
    tiers: tuple[Tier, ...]

    def price_at(self, ordinal: int) -> int:
        """The price of the month's ``ordinal``-th charged message (1 = the first)."""
        return tier_price(self.tiers, ordinal)


def tier_price(tiers: tuple[Tier, ...], ordinal: int) -> int:
    """The price of the ``ordinal``-th charged message under ``tiers`` (graduated: each
    message at the tier its own place in the month falls in)."""
    require_int(ordinal, "ordinal", minimum=1)
    for tier in tiers:
        if tier.from_ordinal <= ordinal and (tier.to_ordinal is None or ordinal <= tier.to_ordinal):
            return tier.price_nanos
    raise RateCardError(f"no tier holds message {ordinal} of the month")


def _version(key: RateKey, effective_from_us: int, rows: list[RateRow]) -> RateVersion:
    rows = sorted(rows, key=lambda row: row.tier_from)
    where = f"{'/'.join(key)} from {effective_from_us}"
    expected_from = 1
    for index, row in enumerate(rows):
        if row.tier_from != expected_from:
            raise RateCardError(f"{where}: tiers must follow each other from 1, expected a tier from {expected_from}, "
                                f"got {row.tier_from}")
        if row.tier_to is None and index != len(rows) - 1:
            raise RateCardError(f"{where}: only the last tier may be unbounded")
        if index and row.price_nanos > rows[index - 1].price_nanos:
            raise RateCardError(f"{where}: a higher tier may not cost more than a lower one")
        expected_from = row.tier_to + 1 if row.tier_to is not None else 0
    if rows[-1].tier_to is not None:
        raise RateCardError(f"{where}: the last tier must be unbounded (empty tier_to)")
    return RateVersion(key, effective_from_us, tuple(Tier(r.tier_from, r.tier_to, r.price_nanos) for r in rows))


@dataclass(frozen=True, slots=True)
class RateCard:
    """All imported rows, indexed: ``version_at`` answers the rates in force at an instant."""

    rows: tuple[RateRow, ...]
    _index: Mapping[RateKey, tuple[RateVersion, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.rows, list):
            object.__setattr__(self, "rows", tuple(self.rows))
        if len(self.rows) > rate_card_rows_max:
            raise RateCardError(f"a rate card holds at most {rate_card_rows_max} rows")
        grouped: dict[tuple[RateKey, int], list[RateRow]] = {}
        for row in self.rows:
            if not isinstance(row, RateRow):
                raise RateCardError(f"rate card rows must be RateRow, got {type(row).__name__}")
            grouped.setdefault((row.key, row.effective_from_us), []).append(row)
        versions: dict[RateKey, list[RateVersion]] = {}
        for (key, effective_from_us), rows in sorted(grouped.items()):
            versions.setdefault(key, []).append(_version(key, effective_from_us, rows))
        object.__setattr__(self, "_index", MappingProxyType({key: tuple(found) for key, found in versions.items()}))

    def version_at(self, key: RateKey, time_us: int) -> RateVersion | None:
        """The version of ``key`` in force at ``time_us`` (latest ``effective_from`` <= it)."""
        found = None
        for version in self._index.get(key, ()):
            if version.effective_from_us > time_us:
                break
            found = version
        return found

    def markets(self) -> tuple[str, ...]:
        return tuple(sorted({row.market for row in self.rows}))

    def merged(self, rows: Iterable[RateRow]) -> RateCard:
        """This card with more rows (an import adds versions; it never edits one)."""
        return RateCard(self.rows + tuple(rows))


def _cell(record: dict, name: str, line: int) -> str:
    value = record.get(name)
    return value.strip() if isinstance(value, str) else ""


def _row(record: dict, line: int) -> RateRow:
    currency = _cell(record, "currency", line)
    try:
        price_nanos = parse_amount(_cell(record, "price", line), currency)
    except MoneyError as error:
        raise RateCardError(f"line {line}: price/currency: {error}") from None
    if price_nanos < 0:
        raise RateCardError(f"line {line}: a price cannot be negative")
    try:
        effective_from_us = instant_us(_cell(record, "effective_from", line))
        tier_from_text, tier_to_text = _cell(record, "tier_from", line), _cell(record, "tier_to", line)
        for text in (tier_from_text, tier_to_text):
            if text and not (text.isascii() and text.isdigit()):
                raise RateCardError(f"tier bounds must be whole numbers, got {text!r}")
        return RateRow(
            market=_cell(record, "market", line), category=_cell(record, "category", line), currency=currency,
            price_nanos=price_nanos, effective_from_us=effective_from_us,
            tier_from=int(tier_from_text) if tier_from_text else 1,
            tier_to=int(tier_to_text) if tier_to_text else None,
            channel=_cell(record, "channel", line) or CHANNEL_WHATSAPP, book=_cell(record, "book", line) or BOOK_PRICE,
        )
    except MessagingValueError as error:
        raise RateCardError(f"line {line}: {error}") from None


def parse_rate_card_csv(text: str) -> tuple[RateRow, ...]:
    """The rows of a rate-card CSV (header line required, columns in any order). Raises
    ``RateCardError`` naming the line of the first bad row; checks tiers by building a card."""
    if not isinstance(text, str) or len(text) > rate_card_chars_max:
        raise RateCardError(f"a rate card is a text of at most {rate_card_chars_max} characters")
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))  # spreadsheets write a BOM
    columns = [name.strip() for name in reader.fieldnames or ()]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        raise RateCardError(f"rate card header: missing {missing or 'nothing'}, unknown {unknown or 'nothing'}; "
                            f"expected {','.join(REQUIRED_COLUMNS)}[,{','.join(OPTIONAL_COLUMNS)}]")
    reader.fieldnames = columns
    rows = []
    for line, record in enumerate(reader, start=2):
        if None in record:
            raise RateCardError(f"line {line}: more cells than columns")
        if len(rows) >= rate_card_rows_max:
            raise RateCardError(f"a rate card holds at most {rate_card_rows_max} rows")
        rows.append(_row(record, line))
    if not rows:
        raise RateCardError("the rate card has no rows")
    RateCard(tuple(rows))  # tiers of every version checked here, before anything is stored
    return tuple(rows)
