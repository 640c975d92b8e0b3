"""An invoice as a PDF (fpdf2, pure Python): one A4 page per 30 or so lines.

The standard PDF fonts cover Latin-1; characters outside it print as "?"."""

from __future__ import annotations

from fpdf import FPDF

from revstream.invoicing._view import invoice_view

_WIDTHS_MM = (22, 82, 18, 20, 28, 20)


def _text(value: str) -> str:
    return value.encode("latin-1", "replace").decode("latin-1")


def render_pdf(invoice: dict) -> bytes:
    view = invoice_view(invoice)
    pdf = FPDF(format="A4")
    pdf.set_title(_text(view.title))
    pdf.set_author(_text(str(invoice["host"])))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _text(view.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for label, value in view.parties:
        pdf.cell(35, 6, _text(label))
        pdf.cell(0, 6, _text(str(value)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 9)
    for width, cell in zip(_WIDTHS_MM, view.header):
        pdf.cell(width, 7, _text(cell), border="B")
    pdf.ln()
    pdf.set_font("Helvetica", size=8)
    for row in view.rows:
        for index, (width, cell) in enumerate(zip(_WIDTHS_MM, row)):
            text = _text(cell)
            while pdf.get_string_width(text) > width - 2 and len(text) > 4:
                text = text[:-4] + "..."
            pdf.cell(width, 6, text, align="R" if index >= 3 else "L")
        pdf.ln()
    pdf.ln(4)
    for label, value in view.totals:
        pdf.set_font("Helvetica", "B" if label in ("Total", "Amount due") else "", 10)
        pdf.cell(150, 7, _text(label), align="R")
        pdf.cell(40, 7, _text(value), align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
