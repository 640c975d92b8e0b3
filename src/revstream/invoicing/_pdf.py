"""An invoice as a PDF (fpdf2, pure Python) that prints every name as it is written.

An invoice whose text is all Latin-1 uses the standard PDF font (Helvetica, nothing to
embed: a few milliseconds). Any other uses fonts that ship inside the package (`fonts/`,
with their licences and SHA-256 in `fonts/README.md`; nothing is looked up on the system
or downloaded), embedded as subsets of the glyphs used: DejaVu Sans for Latin, Greek,
Cyrillic, Armenian, Georgian and Hebrew, and Droid Sans Fallback for Chinese, Japanese and
Korean. Parsing them costs about 0.15 s a PDF, 0.8 s with the CJK font. Scripts that need
shaping (Arabic joining, Indic, Thai) are not laid out correctly yet.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from revstream.invoicing._view import InvoiceView, invoice_view

_WIDTHS_MM = (18, 70, 16, 20, 34, 32)  # kind, description, period, tokens, amount, tax: 190 mm of A4
_FIRST_NUMBER_COLUMN = 3
_LABEL_MM = 35
_ROW_POINTS = 8.0
_POINTS_MIN = 5.0
FONTS_DIR = Path(__file__).parent / "fonts"
STANDARD_FAMILY = "Helvetica"
FONT_FAMILY = "DejaVuSans"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FALLBACK_FAMILY = "DroidSansFallback"
FALLBACK_FILE = "DroidSansFallback.ttf"
FALLBACK_FROM_CODEPOINT = 0x2E80
"""From the CJK radicals on DejaVu has next to nothing: only a text with such a character
loads the fallback font (3.4 MB, about 0.4 s to parse), so most invoices do not pay for it."""


def _texts(view: InvoiceView) -> tuple[str, ...]:
    return (view.title, *(str(cell) for pair in view.parties for cell in pair), *view.header,
            *(cell for row in view.rows for cell in row), *(cell for pair in view.totals for cell in pair))


def needs_fallback(texts: tuple[str, ...]) -> bool:
    """Whether any text holds a character only the fallback (CJK) font has."""
    return any(ord(char) >= FALLBACK_FROM_CODEPOINT for text in texts for char in text)


def needs_unicode_font(texts: tuple[str, ...]) -> bool:
    """Whether any text holds a character beyond Latin-1, which the standard PDF fonts lack."""
    return any(ord(char) > 0xFF for text in texts for char in text)


def _document(texts: tuple[str, ...]) -> tuple[FPDF, str]:
    """A document with the fonts `texts` need, and the family to write them in."""
    pdf = FPDF(format="A4")
    if not needs_unicode_font(texts):
        return pdf, STANDARD_FAMILY
    for style, name in FONT_FILES.items():
        pdf.add_font(FONT_FAMILY, style, FONTS_DIR / name)
    if needs_fallback(texts):
        pdf.add_font(FALLBACK_FAMILY, "", FONTS_DIR / FALLBACK_FILE)
        # exact_match=False: the regular fallback also serves bold text (it has no bold face)
        pdf.set_fallback_fonts([FALLBACK_FAMILY], exact_match=False)
    return pdf, FONT_FAMILY


def render_pdf(invoice: dict) -> bytes:
    view = invoice_view(invoice)
    pdf, family = _document(_texts(view))
    pdf.set_title(view.title)
    pdf.set_author(view.issuer)
    pdf.add_page()
    pdf.set_font(family, "B", 16)
    pdf.multi_cell(0, 10, view.title, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=10)
    for label, value in view.parties:  # names wrap rather than run off the page
        pdf.cell(_LABEL_MM, 6, label)
        pdf.multi_cell(0, 6, str(value), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, "B", 9)
    for index, (width, cell) in enumerate(zip(_WIDTHS_MM, view.header)):
        pdf.cell(width, 7, cell, border="B", align="R" if index >= _FIRST_NUMBER_COLUMN else "L")
    pdf.ln()
    for row in view.rows:
        for index, (width, cell) in enumerate(zip(_WIDTHS_MM, row)):
            if index >= _FIRST_NUMBER_COLUMN:  # a number is never cut: it is set smaller
                _fit_size(pdf, family, cell, width - 2, _ROW_POINTS)
                pdf.cell(width, 6, cell, align="R")
                continue
            pdf.set_font(family, size=_ROW_POINTS)
            text = cell
            while pdf.get_string_width(text) > width - 2 and len(text) > 4:
                text = text[:-4] + "..."
            pdf.cell(width, 6, text)
        pdf.ln()
    pdf.ln(4)
    _totals(pdf, family, view.totals)
    return bytes(pdf.output())


def _fit_size(pdf: FPDF, family: str, text: str, width_mm: float, points: float, style: str = "") -> None:
    size = points
    pdf.set_font(family, style, size)
    while pdf.get_string_width(text) > width_mm and size > _POINTS_MIN:
        size -= 0.5
        pdf.set_font(family, style, size)


def _totals(pdf: FPDF, family: str, totals: tuple[tuple[str, str], ...]) -> None:
    """Labels right-aligned against a value column as wide as the widest value."""
    pdf.set_font(family, "B", 10)
    value_mm = min(max(pdf.get_string_width(value) for _, value in totals) + 4, pdf.epw / 2)
    for label, value in totals:
        style = "B" if label in ("Total", "Amount due") else ""
        pdf.set_font(family, style, 10)
        pdf.cell(pdf.epw - value_mm, 7, label, align="R")
        _fit_size(pdf, family, value, value_mm, 10, style)
        pdf.cell(value_mm, 7, value, align="R", new_x="LMARGIN", new_y="NEXT")
