"""Transparency-log leaves of the ad stream, their parsers, and the settlement tally.

Two kinds, version 1, each a flat dict that the log encodes as canonical JSON (RFC 8785):

``impression`` — one delivered impression (only delivered ones: an aborted stream's ad is
neither billed nor logged): ``impression_id``, ``request_id`` (links the usage leaf of the
request that carried it), ``time_us``, ``campaign_id``, ``advertiser_id`` (a business, not a
person), ``model`` (whose answer carried the ad), ``bid_kind``, ``price_nanos`` (per impression
for CPM, per click for CPC), ``charge_nanos`` (what the impression itself cost: the price for
CPM, 0 for CPC), ``currency``, ``keywords`` and ``categories`` (the matched parameters, sorted),
``answer_sha256`` (SHA-256 of the answer text, hex: proves which answer the ad sat beside
without publishing it).

``click`` — one click with a valid token, charged or not: ``click_id``, ``impression_id``,
``time_us``, ``campaign_id``, ``advertiser_id``, ``model``, ``outcome`` (see ``CLICK_OUTCOMES``),
``charge_nanos`` (0 unless ``charged``), ``currency``.

No field holds personal data: no user, customer, key, address or conversation id.
Amounts are integers within ±(2^53−1) or decimal strings beyond (``json_nanos``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from revstream.ads._campaign import BID_CPC, BID_CPM, BID_KINDS
from revstream.ads._clicks import CLICK_CHARGED, CLICK_OUTCOMES
from revstream.ads._errors import AdsLeafError

KIND_IMPRESSION = "impression"
KIND_CLICK = "click"
IMPRESSION_VERSION = 1
CLICK_VERSION = 1
STREAM_ADS = "ads"
JSON_INT_MAX = 2**53 - 1
leaf_list_items_max = 64
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)")
_IMPRESSION_FIELDS = frozenset({
    "kind", "version", "impression_id", "request_id", "time_us", "campaign_id", "advertiser_id", "model",
    "bid_kind", "price_nanos", "charge_nanos", "currency", "keywords", "categories", "answer_sha256",
})
_CLICK_FIELDS = frozenset({
    "kind", "version", "click_id", "impression_id", "time_us", "campaign_id", "advertiser_id", "model",
    "outcome", "charge_nanos", "currency",
})


def json_nanos(nanos: int) -> int | str:
    """An amount for JSON: an int when every double reads it exactly, else its decimal string."""
    return nanos if -JSON_INT_MAX <= nanos <= JSON_INT_MAX else str(nanos)


@dataclass(frozen=True, slots=True)
class ImpressionLeaf:
    impression_id: str
    request_id: str
    time_us: int
    campaign_id: str
    advertiser_id: str
    model: str
    bid_kind: str
    price_nanos: int
    charge_nanos: int
    currency: str
    keywords: tuple[str, ...]
    categories: tuple[str, ...]
    answer_sha256: str


@dataclass(frozen=True, slots=True)
class ClickLeaf:
    click_id: str
    impression_id: str
    time_us: int
    campaign_id: str
    advertiser_id: str
    model: str
    outcome: str
    charge_nanos: int
    currency: str


def impression_leaf(leaf: ImpressionLeaf) -> dict:
    """The log leaf of a delivered impression (validated by parsing it back)."""
    value = {
        "kind": KIND_IMPRESSION, "version": IMPRESSION_VERSION,
        "impression_id": leaf.impression_id, "request_id": leaf.request_id, "time_us": leaf.time_us,
        "campaign_id": leaf.campaign_id, "advertiser_id": leaf.advertiser_id, "model": leaf.model,
        "bid_kind": leaf.bid_kind, "price_nanos": json_nanos(leaf.price_nanos),
        "charge_nanos": json_nanos(leaf.charge_nanos), "currency": leaf.currency,
        "keywords": sorted(leaf.keywords), "categories": sorted(leaf.categories), "answer_sha256": leaf.answer_sha256,
    }
    parse_impression_leaf(value)
    return value


def click_leaf(leaf: ClickLeaf) -> dict:
    """The log leaf of a click (validated by parsing it back)."""
    value = {
        "kind": KIND_CLICK, "version": CLICK_VERSION,
        "click_id": leaf.click_id, "impression_id": leaf.impression_id, "time_us": leaf.time_us,
        "campaign_id": leaf.campaign_id, "advertiser_id": leaf.advertiser_id, "model": leaf.model,
        "outcome": leaf.outcome, "charge_nanos": json_nanos(leaf.charge_nanos), "currency": leaf.currency,
    }
    parse_click_leaf(value)
    return value


def _fields(value: object, kind: str, version: int, names: frozenset[str]) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise AdsLeafError(f"a {kind} leaf must be an object")
    if value.get("kind") != kind:
        raise AdsLeafError(f"not a {kind} leaf: kind {value.get('kind')!r}")
    if type(value.get("version")) is not int or value["version"] != version:
        raise AdsLeafError(f"unknown {kind} leaf version {value.get('version')!r}")
    missing, extra = names - value.keys(), value.keys() - names
    if missing or extra:
        raise AdsLeafError(f"{kind} leaf v{version}: missing {sorted(missing)}, unexpected {sorted(map(str, extra))}")
    return value


def _str(value: Mapping[str, object], name: str) -> str:
    item = value[name]
    if not isinstance(item, str) or not item or len(item) > 256:
        raise AdsLeafError(f"{name} must be a non-empty string of at most 256 characters")
    return item


def _int(value: Mapping[str, object], name: str) -> int:
    item = value[name]
    if type(item) is not int or not 0 <= item <= JSON_INT_MAX:
        raise AdsLeafError(f"{name} must be a non-negative integer")
    return item


def _nanos(value: Mapping[str, object], name: str) -> int:
    item = value[name]
    if type(item) is int:
        if abs(item) > JSON_INT_MAX:
            raise AdsLeafError(f"{name} beyond ±(2^53-1) must be a decimal string")
        nanos = item
    elif isinstance(item, str) and _DECIMAL.fullmatch(item):
        nanos = int(item)
        if abs(nanos) <= JSON_INT_MAX:
            raise AdsLeafError(f"{name} within ±(2^53-1) must be an integer, not a string")
    else:
        raise AdsLeafError(f"{name} must be integer nanos")
    if nanos < 0:
        raise AdsLeafError(f"{name} must not be negative")
    return nanos


def _strings(value: Mapping[str, object], name: str) -> tuple[str, ...]:
    item = value[name]
    if not isinstance(item, list) or len(item) > leaf_list_items_max or not all(isinstance(x, str) and x for x in item):
        raise AdsLeafError(f"{name} must be a list of at most {leaf_list_items_max} non-empty strings")
    if item != sorted(set(item)):
        raise AdsLeafError(f"{name} must be sorted and without duplicates")
    return tuple(item)


def _currency(value: Mapping[str, object]) -> str:
    currency = _str(value, "currency")
    if _CURRENCY.fullmatch(currency) is None:
        raise AdsLeafError("currency must be an ISO 4217 code")
    return currency


def parse_impression_leaf(value: object) -> ImpressionLeaf:
    """The impression in a leaf dict; AdsLeafError on a missing field, a wrong type or an unknown version."""
    fields = _fields(value, KIND_IMPRESSION, IMPRESSION_VERSION, _IMPRESSION_FIELDS)
    leaf = ImpressionLeaf(
        _str(fields, "impression_id"), _str(fields, "request_id"), _int(fields, "time_us"), _str(fields, "campaign_id"),
        _str(fields, "advertiser_id"), _str(fields, "model"), _str(fields, "bid_kind"), _nanos(fields, "price_nanos"),
        _nanos(fields, "charge_nanos"), _currency(fields), _strings(fields, "keywords"), _strings(fields, "categories"),
        _str(fields, "answer_sha256"),
    )
    if leaf.bid_kind not in BID_KINDS:
        raise AdsLeafError(f"bid_kind must be one of {BID_KINDS}")
    if leaf.bid_kind == BID_CPM and leaf.charge_nanos != leaf.price_nanos:
        raise AdsLeafError("a CPM impression is charged its price")
    if leaf.bid_kind == BID_CPC and leaf.charge_nanos != 0:
        raise AdsLeafError("a CPC impression is not charged (its clicks are)")
    if _SHA256.fullmatch(leaf.answer_sha256) is None:
        raise AdsLeafError("answer_sha256 must be 64 lower-case hex characters")
    if not leaf.keywords and not leaf.categories:
        raise AdsLeafError("an impression names the keywords or categories that matched")
    return leaf


def parse_click_leaf(value: object) -> ClickLeaf:
    """The click in a leaf dict; AdsLeafError on a missing field, a wrong type or an unknown version."""
    fields = _fields(value, KIND_CLICK, CLICK_VERSION, _CLICK_FIELDS)
    leaf = ClickLeaf(
        _str(fields, "click_id"), _str(fields, "impression_id"), _int(fields, "time_us"), _str(fields, "campaign_id"),
        _str(fields, "advertiser_id"), _str(fields, "model"), _str(fields, "outcome"), _nanos(fields, "charge_nanos"),
        _currency(fields),
    )
    if leaf.outcome not in CLICK_OUTCOMES:
        raise AdsLeafError(f"outcome must be one of {CLICK_OUTCOMES}")
    if (leaf.outcome == CLICK_CHARGED) != (leaf.charge_nanos > 0):
        raise AdsLeafError("a click is charged a positive amount exactly when its outcome is charged")
    return leaf


@dataclass(frozen=True, slots=True)
class StreamGross:
    """The ``ads`` stream's gross for one model: exact nanos, and how many billed events made it."""

    currency: str
    gross_nanos: Fraction
    count: int
    impressions: int
    clicks: int


def ads_gross(impressions: Iterable[ImpressionLeaf], clicks: Iterable[ClickLeaf]) -> dict[tuple[str, str], StreamGross]:
    """Ad revenue per (model, ``ads``) from parsed leaves: every impression's charge plus every
    charged click, exactly. ``count`` counts billed events (a charged impression or click).
    Raises AdsLeafError on a duplicate impression or click id, or two currencies for one model."""
    totals: dict[str, list] = {}
    seen: set[tuple[str, str]] = set()

    def add(kind: str, event_id: str, model: str, currency: str, charge: int) -> None:
        if (kind, event_id) in seen:
            raise AdsLeafError(f"{kind} {event_id} appears twice")
        seen.add((kind, event_id))
        total = totals.setdefault(model, [currency, 0, 0, 0, 0])
        if total[0] != currency:
            raise AdsLeafError(f"model {model} has ad revenue in {total[0]} and {currency}")
        total[1] += charge
        total[2] += charge > 0
        total[3] += kind == KIND_IMPRESSION and charge > 0
        total[4] += kind == KIND_CLICK and charge > 0

    for impression in impressions:
        add(KIND_IMPRESSION, impression.impression_id, impression.model, impression.currency, impression.charge_nanos)
    for click in clicks:
        add(KIND_CLICK, click.click_id, click.model, click.currency, click.charge_nanos)
    return {
        (model, STREAM_ADS): StreamGross(currency, Fraction(gross), count, shown, clicked)
        for model, (currency, gross, count, shown, clicked) in sorted(totals.items())
    }
