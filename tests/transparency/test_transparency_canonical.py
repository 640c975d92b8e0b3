"""Canonical JSON for leaves (RFC 8785 with our stricter type rules)."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from revstream.transparency import JSON_DEPTH_MAX, JSON_INT_MAX, CanonicalJSONError, canonical_json


def test_keys_sorted_no_whitespace_utf8() -> None:
    record = {"tokens_prompt": 12, "model": "llama", "status": "ok", "customer": "p_é", "ok": True, "x": None}
    assert canonical_json(record) == (
        '{"customer":"p_é","model":"llama","ok":true,"status":"ok","tokens_prompt":12,"x":null}'.encode()
    )


def test_rfc8785_key_order_is_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3: "\u20ac" (one UTF-16 unit) sorts before "\U0001f600" (surrogate pair 0xd83d...)
    # only by UTF-16 order; by code point it would sort the other way round against "\ue000".
    assert canonical_json({"\ue000": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ue000":1}'.encode()


def test_tuples_and_nesting() -> None:
    assert canonical_json({"a": (1, [2, {"b": "c"}])}) == b'{"a":[1,[2,{"b":"c"}]]}'


def _nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        {"charge": 0.1},
        JSON_INT_MAX + 1,
        -(JSON_INT_MAX + 1),
        {1: "non-string key"},
        {"set": {1, 2}},
        b"bytes",
        "\ud800",
        _nested(JSON_DEPTH_MAX + 2),
    ],
)
def test_rejected_values(value: object) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)


def test_nesting_bound_is_inclusive() -> None:
    assert canonical_json(_nested(JSON_DEPTH_MAX + 1)).startswith(b"[[")


def test_integer_bounds_are_inclusive() -> None:
    assert canonical_json([JSON_INT_MAX, -JSON_INT_MAX]) == b"[9007199254740991,-9007199254740991]"


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_SCALARS = st.none() | st.booleans() | st.integers(-JSON_INT_MAX, JSON_INT_MAX) | _TEXT
_ASCII_KEYS = st.text(st.characters(max_codepoint=127), max_size=8)
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_ASCII_KEYS, inner, max_size=5), max_leaves=20)


@given(st.dictionaries(_ASCII_KEYS, _VALUES, max_size=8))
@settings(max_examples=400, deadline=None)
def test_the_fast_path_is_byte_for_byte_rfc8785(value) -> None:
    """ASCII keys take orjson; any string value (controls, quotes, U+2028, astral) must
    come out exactly as the reference implementation writes it."""
    assert canonical_json(value) == rfc8785.dumps(value)


def test_non_ascii_keys_still_sort_by_utf16_code_units() -> None:
    value = {"\U0001f600": 1, "\ufb01": 2, "a": 3}
    assert canonical_json(value) == rfc8785.dumps(value) == '{"a":3,"\U0001f600":1,"\ufb01":2}'.encode()
