"""Invoice renderings: a real PDF whose extracted text carries the total, and HTML."""

from __future__ import annotations

import io
from fractions import Fraction

import pytest
from pypdf import PdfReader

from revstream.invoicing import RenderError, render_html, render_pdf
from revstream.plans import FeePart, UsageSummary, compute_invoice, invoice_json, period_bounds_s

START, END = period_bounds_s("2026-02")


def body(customer: str = "Acme GmbH") -> dict:
    invoice = compute_invoice(
        customer=customer, period="2026-02", currency="EUR", country="DE", tax_rate_bps=1900,
        fees=(FeePart("pro", START, END, Fraction(20_000_000_000)),),
        usage=(UsageSummary("2026-02", "llama", None, None, 3, 1000, 2000, 0, 4_567_891, Fraction(4_567_891), 4_567_891),),
    )
    return invoice_json(invoice, 42, "2026-03-01T00:00:00.000000Z", "host.example")


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_pdf_is_real_and_its_text_carries_the_total():
    value = body()
    data = render_pdf(value)
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    assert value["total"] == "23.80"  # 20.00 + 3.80 of tax: subtotal and tax each rounded once
    assert "Total" in text and "23.80 EUR" in text
    assert "INV-000042" in text and "Acme GmbH" in text and "19%" in text


def test_the_html_shows_every_line_and_escapes_names():
    value = body("<script>alert(1)</script>")
    html = render_html(value)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "23.80 EUR" in html and html.count("<tr>") >= len(value["lines"])


def test_an_incomplete_invoice_cannot_be_rendered():
    value = body()
    del value["total"]
    with pytest.raises(RenderError, match="total"):
        render_pdf(value)
