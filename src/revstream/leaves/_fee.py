"""``fee`` leaves: every invoice amount a statement's share is computed from that is not a
usage charge: a subscription fee for the time a plan was held, a commit plan's minimum
top-up. One leaf per customer, plan, kind and interval, written when its period closes
(below the checkpoint that closes it), so `revstream verify` proves fees from the log.

Fields: ``fee_id``, ``period`` (YYYY-MM), ``customer`` (a keyed pseudonym), ``plan``,
``fee_kind`` (``subscription`` or ``minimum``), ``stream`` (the settlement stream:
``subscription`` or ``api``), ``currency``, ``amount_exact`` (nanos as an exact fraction in
lowest terms, "n" or "n/d": a fee prorated by the second is rarely whole), ``from_us`` and
``to_us`` (the part of the period it was earned over), and ``models`` (the models the fee
falls back to when its plan served nothing, see `revstream.settlement.attribute_fees`).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Final, NamedTuple

from revstream.leaves._codec import LeafKind, encode_leaf, register
from revstream.leaves._errors import MalformedLeafError
from revstream.money import MoneyError, parse_json_int

FEE_VERSION: Final = 1
register(LeafKind.FEE, FEE_VERSION)
FEE_KINDS: Final = ("subscription", "minimum")
_FRACTION: Final = re.compile(r"-?(0|[1-9][0-9]*)(/[1-9][0-9]*)?", re.ASCII)


class FeeEntry(NamedTuple):
    fee_id: str
    period: str
    customer: str
    plan: str
    fee_kind: str
    stream: str
    currency: str
    amount_exact: Fraction
    from_us: int
    to_us: int
    models: tuple[str, ...]


def fraction_text(value: Fraction) -> str:
    """An exact fraction as a leaf writes it: "n" or "n/d", lowest terms."""
    return str(Fraction(value))


def parse_fraction_text(text: object) -> Fraction:
    if not isinstance(text, str) or _FRACTION.fullmatch(text) is None or str(Fraction(text)) != text:
        raise MalformedLeafError(f"an exact amount is 'n' or 'n/d' in lowest terms, got {text!r}")
    return Fraction(text)


def fee_leaf(entry: FeeEntry) -> bytes:
    if entry.fee_kind not in FEE_KINDS:
        raise MalformedLeafError(f"unknown fee kind {entry.fee_kind!r}")
    value = entry._asdict()
    value["amount_exact"] = fraction_text(entry.amount_exact)
    value["models"] = list(entry.models)
    return encode_leaf(LeafKind.FEE, FEE_VERSION, value)


def fee_entry(value: dict) -> FeeEntry:
    """A decoded fee leaf's fields, checked (MalformedLeafError if any is wrong)."""
    try:
        entry = FeeEntry(value["fee_id"], value["period"], value["customer"], value["plan"], value["fee_kind"],
                         value["stream"], value["currency"], parse_fraction_text(value["amount_exact"]),
                         parse_json_int(value["from_us"], "from_us"), parse_json_int(value["to_us"], "to_us"),
                         tuple(value["models"]))
    except (KeyError, TypeError, MoneyError) as error:
        raise MalformedLeafError(f"a fee leaf lacks {error}") from None
    texts = (entry.fee_id, entry.period, entry.customer, entry.plan, entry.stream, entry.currency, *entry.models)
    if not all(isinstance(text, str) for text in texts) or entry.fee_kind not in FEE_KINDS:
        raise MalformedLeafError("a fee leaf has a non-text field or an unknown fee kind")
    if type(entry.from_us) is not int or type(entry.to_us) is not int or not entry.from_us < entry.to_us:
        raise MalformedLeafError("a fee leaf's interval is not from_us < to_us")
    if entry.amount_exact < 0:
        raise MalformedLeafError("a fee is never negative")
    return entry
