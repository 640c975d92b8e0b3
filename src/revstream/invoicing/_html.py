"""An invoice as a self-contained HTML page (no scripts, no external resources)."""

from __future__ import annotations

from html import escape

from revstream.invoicing._view import invoice_view

_STYLE = ("body{font-family:sans-serif;margin:2em;color:#111}table{border-collapse:collapse;width:100%}"
          "th,td{border-bottom:1px solid #ccc;padding:4px 8px;text-align:left}td.n{text-align:right}"
          ".totals td{border:none}.totals tr:last-child td{font-weight:bold}")


def render_html(invoice: dict) -> str:
    view = invoice_view(invoice)
    parties = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in view.parties)
    header = "".join(f"<th>{escape(cell)}</th>" for cell in view.header)
    rows = "".join(
        "<tr>" + "".join(f'<td class="n">{escape(c)}</td>' if i >= 3 else f"<td>{escape(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in view.rows
    )
    totals = "".join(f'<tr><td>{escape(k)}</td><td class="n">{escape(v)}</td></tr>' for k, v in view.totals)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(view.title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{escape(view.title)}</h1>"
        f"<table>{parties}</table><h2>Lines</h2><table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
        f'<h2>Totals</h2><table class="totals">{totals}</table></body></html>\n'
    )
