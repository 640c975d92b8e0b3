"""A stored statement rendered for people: flat rows, CSV and Markdown. Shared by
`revstream statements show --format csv|md` and the dashboard's downloads, so both
give the same file. The JSON form is the stored canonical bytes, never re-rendered."""

from __future__ import annotations

import csv
import io
from typing import Final

from ..money import format_nanos_exact, parse_json_int

STATEMENT_COLUMNS: Final = ("kind", "period", "description", "model", "stream", "requests", "tokens_prompt",
                            "tokens_completion", "gross_nanos", "net_nanos", "rate", "share_nanos")


def statement_rows(value: dict) -> list[dict]:
    """Every line of a statement as flat rows (CSV and Markdown)."""
    rows = [{"kind": "line", "period": value["period"], **line} for line in value["lines"]]
    for bracket in value["bracket_lines"]:
        upper = "" if bracket["upper_nanos"] is None else _exact(bracket["upper_nanos"], value["currency"])
        rows.append({"kind": "bracket", "period": value["period"], "net_nanos": bracket["net_nanos"],
                     "description": f"{_exact(bracket['lower_nanos'], value['currency'])}..{upper}",
                     "rate": f"{bracket['bps']}bps", "share_nanos": bracket["share_nanos"]})
    for name in ("minimum", "cap"):
        if value[name] is not None:
            rows.append({"kind": name, "period": value["period"], "description": value[name]["description"],
                         "share_nanos": value[name]["share_nanos"]})
    rows += [{"kind": "adjustment", **line} for line in value["adjustment_lines"]]
    rows.append({"kind": "total", "period": value["period"], "description": "share total",
                 "gross_nanos": value["gross_total_nanos"], "net_nanos": value["net_total_nanos"],
                 "share_nanos": value["share_total_nanos"]})
    return rows


def _exact(nanos: int | str, currency: str) -> str:
    """An amount of a statement's JSON (an int, or a decimal string beyond 2^53), exact."""
    return format_nanos_exact(parse_json_int(nanos), currency)


def statement_csv(value: dict) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, STATEMENT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(statement_rows(value))
    return out.getvalue()


# The characters that can start inline Markdown (CommonMark, GFM: emphasis, code, links,
# strikethrough, tables, math on GitHub) or HTML. A backslash before ASCII punctuation always
# stands for the character itself. Block markers (`-`, `+`, `#`, `1.`) only act at the start of
# a line, and every escaped value here follows a prefix ("| ", "- licensor: "), so dates and
# amounts keep their plain form.
_MARKDOWN_SPECIAL: Final = frozenset("\\`*_[]<>|~&$")
# Line breaks (CommonMark's and Unicode's) and other control characters would end a table row
# or a list item: each becomes one space.
_LINE_BREAKS: Final = {n: " " for n in range(32)} | {ord(c): " " for c in "\x7f\x85\u2028\u2029"}


def markdown_text(value: object) -> str:
    """`value` as literal text on one Markdown line or in one table cell: names (a licensor's,
    a model's) can neither break the table nor inject markup or HTML."""
    text = str(value).translate(_LINE_BREAKS)
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in text)


def statement_markdown(value: dict) -> str:
    currency = value["currency"]
    usage = value["usage"]
    text = markdown_text
    head = [
        f"# Statement {text(value['statement'])}", "",
        f"- period: {text(value['period'])}", f"- licensor: {text(value['licensor'])}",
        f"- agreement: {text(value['agreement'])}", f"- currency: {text(currency)}",
        f"- usage: {text(usage['time_from'])} to {text(usage['time_before'])} (excl.), "
        f"{usage['records']} records, {usage['late_records']} late",
        f"- share total: {text(_exact(value['share_total_nanos'], currency))} {text(currency)}",
        f"- payable: {value['share_total_minor']} minor units; residue carried: {value['residue_nanos']} nanos", "",
        "| " + " | ".join(STATEMENT_COLUMNS) + " |", "|" + "---|" * len(STATEMENT_COLUMNS),
    ]
    body = ["| " + " | ".join("" if row.get(c) is None else text(row.get(c)) for c in STATEMENT_COLUMNS) + " |"
            for row in statement_rows(value)]
    return "\n".join(head + body) + "\n"
