"""A stored statement rendered for people: flat rows, CSV and Markdown. Shared by
`revstream statements show --format csv|md` and the dashboard's downloads, so both
give the same file. The JSON form is the stored canonical bytes, never re-rendered."""

from __future__ import annotations

import csv
import io
from typing import Final

from ..money import format_nanos_exact

STATEMENT_COLUMNS: Final = ("kind", "period", "description", "model", "stream", "requests", "tokens_prompt",
                            "tokens_completion", "gross_nanos", "net_nanos", "rate", "share_nanos")


def statement_rows(value: dict) -> list[dict]:
    """Every line of a statement as flat rows (CSV and Markdown)."""
    rows = [{"kind": "line", "period": value["period"], **line} for line in value["lines"]]
    for bracket in value["bracket_lines"]:
        upper = "" if bracket["upper_nanos"] is None else format_nanos_exact(bracket["upper_nanos"], value["currency"])
        rows.append({"kind": "bracket", "period": value["period"], "net_nanos": bracket["net_nanos"],
                     "description": f"{format_nanos_exact(bracket['lower_nanos'], value['currency'])}..{upper}",
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


def statement_csv(value: dict) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, STATEMENT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(statement_rows(value))
    return out.getvalue()


def statement_markdown(value: dict) -> str:
    currency = value["currency"]
    head = [
        f"# Statement {value['statement']}", "",
        f"- period: {value['period']}", f"- licensor: {value['licensor']}", f"- agreement: {value['agreement']}",
        f"- currency: {currency}",
        f"- usage: {value['usage']['time_from']} to {value['usage']['time_before']} (excl.), "
        f"{value['usage']['records']} records, {value['usage']['late_records']} late",
        f"- share total: {format_nanos_exact(value['share_total_nanos'], currency)} {currency}",
        f"- payable: {value['share_total_minor']} minor units; residue carried: {value['residue_nanos']} nanos", "",
        "| " + " | ".join(STATEMENT_COLUMNS) + " |", "|" + "---|" * len(STATEMENT_COLUMNS),
    ]
    body = ["| " + " | ".join("" if row.get(c) is None else str(row.get(c)) for c in STATEMENT_COLUMNS) + " |"
            for row in statement_rows(value)]
    return "\n".join(head + body) + "\n"
