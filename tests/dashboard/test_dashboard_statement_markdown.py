"""Markdown statements escape names (issue 12, item 8): a licensor, model or stream name with
`|`, `*`, `_`, backticks, line breaks or HTML can neither break the table nor inject markup."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from revstream.dashboard import STATEMENT_COLUMNS, statement_markdown
from revstream.dashboard._statement_files import markdown_text

EVIL = "Evil | Corp *bold* _it_ `code` [link](http://x) ~~gone~~ $x$ &amp; <script>alert(1)</script>\n| a | row |\r\n# Title"
SPECIAL = "\\`*_[]<>|~&$"


def statement(name: str) -> dict:
    return {
        "statement": "stm_1_202601", "period": "2026-01", "licensor": name, "agreement": name, "currency": "USD",
        "usage": {"time_from": "2026-01-01T00:00:00Z", "time_before": "2026-02-01T00:00:00Z", "records": 2,
                  "late_records": 0},
        "lines": [{"model": name, "stream": name, "requests": 2, "tokens_prompt": 3, "tokens_completion": 4,
                   "gross_nanos": 100, "net_nanos": 100, "rate": "1500bps", "share_nanos": 15}],
        "bracket_lines": [], "minimum": None, "cap": None,
        "adjustment_lines": [{"period": "2025-12", "description": name, "model": name, "stream": "api", "requests": 1,
                              "tokens_prompt": 1, "tokens_completion": 1, "gross_nanos": 1, "net_nanos": 1,
                              "share_nanos": 0}],
        "gross_total_nanos": 101, "net_total_nanos": 101, "share_total_nanos": 15, "share_total_minor": 0,
        "residue_nanos": 15,
    }


def unescaped(text: str, characters: str) -> list[str]:
    """The characters of `characters` in `text` that no backslash escapes (read as CommonMark
    does: a backslash escapes the character after it, a backslash included)."""
    found, index = [], 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] in characters:
            found.append(text[index])
        index += 1
    return found


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def test_names_cannot_break_the_table_or_inject_markup():
    plain = statement_markdown(statement("L"))
    evil = statement_markdown(statement(EVIL))
    assert len(evil.splitlines()) == len(plain.splitlines()), "a name added lines"
    rows = [line for line in evil.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 3  # the header, one line, one adjustment, the total
    for row in rows:
        assert len(unescaped(row, "|")) == len(STATEMENT_COLUMNS) + 1, row
    named = [line for line in evil.splitlines() if "Evil" in line]
    assert len(named) == 2 + 2  # licensor, agreement, and the two rows that name it
    for line in named:
        inner = line.removeprefix("- licensor: ").removeprefix("- agreement: ")
        assert unescaped(inner, "`*_[]<>~&$") == [], line
    assert "<script>" not in evil and "\\<script\\>" in evil


def test_plain_names_dates_and_amounts_stay_as_they_were():
    markdown = statement_markdown(statement("Llama Labs"))
    assert "- licensor: Llama Labs" in markdown
    assert "| line | 2026-01 |  | Llama Labs | Llama Labs | 2 | 3 | 4 | 100 | 100 | 1500bps | 15 |" in markdown
    assert "| total | 2026-01 | share total |" in markdown


@given(st.text())
def test_any_text_is_one_line_of_literal_text(text):
    escaped = markdown_text(text)
    assert not any(c in escaped for c in "\r\n\v\f\x85\u2028\u2029")
    assert unescaped(escaped, SPECIAL) == []
    expected = "".join(" " if ord(c) < 32 or c in "\x7f\x85\u2028\u2029" else c for c in text)
    assert unescape(escaped) == expected


def test_amounts_beyond_a_doubles_range_render_exactly():
    """A statement's JSON carries amounts beyond 2^53 nanos as decimal strings (issue 11)."""
    big = str(10**18 * 10**9 + 1)  # a billion billion units and a nano
    value = {**statement("L"), "share_total_nanos": big,
             "bracket_lines": [{"lower_nanos": 0, "upper_nanos": big, "bps": 1500, "net_nanos": 1, "share_nanos": 0}]}
    text = statement_markdown(value)
    assert "share total: 1000000000000000000.000000001 USD" in text and "0.00..1000000000000000000.000000001" in text
