"""``usage`` leaves: one per final usage record, its public projection.

Version 1 (the leaves appended before leaves were typed) has no ``kind`` or ``version``
field and its ``charge_nanos`` is always a JSON number; it was written in three shapes as
fields were added (`LEGACY_SHAPES`). Version 2 adds ``kind`` and ``version``, and writes a
charge beyond a double's exact range as a decimal string. Both carry the same fields:
``request_id``, ``time_us``, ``customer`` (a keyed pseudonym), ``model``, ``endpoint``,
``status``, ``tokens_prompt``, ``tokens_completion``, ``usage_source``, ``charge_nanos``,
``currency``, ``late_period`` (set when the record became final after its period's close
began: it is then settled as an adjustment by the next close), ``stream``, ``plan`` and
``tokens_included`` (how settlement rates it).
"""

from __future__ import annotations

from typing import Final, NamedTuple

import orjson

from revstream.leaves._codec import LEGACY_USAGE_VERSION, LeafKind, encode_leaf, register
from revstream.leaves._errors import MalformedLeafError
from revstream.money import JSON_SAFE_INT_MAX, MoneyError, parse_json_int
from revstream.transparency import canonical_json

USAGE_VERSION: Final = 2
"""The version new usage leaves are written in."""
_USAGE_KIND: Final = str(LeafKind.USAGE)
register(LeafKind.USAGE, LEGACY_USAGE_VERSION, USAGE_VERSION)


class UsageRecordFields(NamedTuple):
    """The fields a usage leaf projects from a final usage record (the customer already a pseudonym)."""

    request_id: str
    time_us: int
    customer: str
    model: str
    endpoint: str
    status: str
    tokens_prompt: int
    tokens_completion: int
    usage_source: str
    charge_nanos: int | None
    currency: str | None
    late_period: str | None
    stream: str
    plan: str | None
    tokens_included: int


_BASE_FIELDS: Final = ("request_id", "time_us", "customer", "model", "endpoint", "status", "tokens_prompt",
                       "tokens_completion", "usage_source", "charge_nanos", "currency")
LEGACY_SHAPES: Final = (
    frozenset(UsageRecordFields._fields),
    frozenset(_BASE_FIELDS + ("late_period",)),
    frozenset(_BASE_FIELDS),
)
"""The field sets version-1 leaves were written with, newest first."""


def _projection(fields: UsageRecordFields) -> dict:
    value = fields._asdict()
    value["tokens_included"] = value["tokens_included"] or 0
    return value


def usage_leaf(fields: UsageRecordFields, version: int = USAGE_VERSION,
               legacy_shape: frozenset[str] = LEGACY_SHAPES[0]) -> bytes:
    """The leaf bytes of a final usage record in ``version`` (2 for new leaves; 1, in one of
    the `LEGACY_SHAPES`, re-projects a leaf appended before leaves were typed)."""
    value = _projection(fields)
    if version == LEGACY_USAGE_VERSION:
        return canonical_json({name: value[name] for name in legacy_shape})
    if version != USAGE_VERSION:
        return encode_leaf(LeafKind.USAGE, version, value)
    # The hot path (every record served): only the time and the charge can pass 2^53, and
    # every key is ASCII, so orjson's sorted output is RFC 8785 byte for byte (a property
    # test pins it against the generic encoder).
    charge, time_us = value["charge_nanos"], value["time_us"]
    if charge is not None and not -JSON_SAFE_INT_MAX <= charge <= JSON_SAFE_INT_MAX:
        value["charge_nanos"] = str(charge)
    if not -JSON_SAFE_INT_MAX <= time_us <= JSON_SAFE_INT_MAX:
        value["time_us"] = str(time_us)
    value["kind"], value["version"] = _USAGE_KIND, USAGE_VERSION
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


class UsageEntry(NamedTuple):
    """What settlement reads from a usage leaf."""

    time_us: int
    model: str
    tokens_prompt: int
    tokens_completion: int
    late_period: str | None
    stream: str
    plan: str | None
    tokens_included: int


_DEFAULT_STREAM: Final = "api"


def usage_entry(value: dict) -> UsageEntry:
    """The settlement fields of a decoded usage leaf (MalformedLeafError if any is wrong).
    Kept to dict lookups and type checks: a statement may have millions of entries."""
    try:
        time_us = value["time_us"]
        if type(time_us) is str:  # beyond 2^53 µs (after the year 2255): a decimal string
            time_us = parse_json_int(time_us, "time_us")
        entry = UsageEntry(time_us, value["model"], value["tokens_prompt"], value["tokens_completion"],
                           value.get("late_period"), value.get("stream", _DEFAULT_STREAM), value.get("plan"),
                           value.get("tokens_included") or 0)
    except (KeyError, TypeError, MoneyError) as error:
        raise MalformedLeafError(f"a usage leaf lacks {error}") from None
    if type(entry.time_us) is not int or type(entry.tokens_prompt) is not int \
            or type(entry.tokens_completion) is not int or type(entry.tokens_included) is not int:
        raise MalformedLeafError("a usage leaf has a non-integer time or token count")
    if not isinstance(entry.model, str) or not isinstance(entry.stream, str) \
            or not (entry.plan is None or isinstance(entry.plan, str)) \
            or not (entry.late_period is None or isinstance(entry.late_period, str)):
        raise MalformedLeafError("a usage leaf has a non-text model, stream, plan or late period")
    return entry


def charge_of(value: dict) -> int | None:
    """The charge of a decoded usage leaf, exact (a number, or a decimal string beyond 2^53)."""
    charge = value.get("charge_nanos")
    return None if charge is None else parse_json_int(charge, "charge_nanos")
