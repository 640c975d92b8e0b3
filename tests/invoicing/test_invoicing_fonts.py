"""PDF invoices print every name as written: Greek, Cyrillic and CJK survive into the PDF's
text (extracted with pypdf), from fonts that ship inside the package."""

from __future__ import annotations

import hashlib
import io
import re
from fractions import Fraction

import pytest
from pypdf import PdfReader

from revstream.invoicing import render_pdf
from revstream.plans import FeePart, UsageSummary, compute_invoice, invoice_json, period_bounds_s

START, END = period_bounds_s("2026-02")
NAMES = {
    "greek": "Αλέξανδρος Παπαδόπουλος Α.Ε.",
    "cyrillic": "ООО «Дмитрий Иванов и партнёры»",
    "chinese": "北京智谱华章科技有限公司",
    "japanese": "株式会社やまだ・カタカナ",
    "korean": "김민준 주식회사",
}


def invoice(customer: str, host: str = "host.example", fee_nanos: int = 20_000_000_000) -> dict:
    value = compute_invoice(
        customer=customer, period="2026-02", currency="EUR", country="DE", tax_rate_bps=1900,
        fees=(FeePart("pro", START, END, Fraction(fee_nanos)),),
        usage=(UsageSummary("2026-02", "llama", None, None, 3, 1000, 2000, 0, 4_567_891, Fraction(4_567_891), 4_567_891),),
    )
    return invoice_json(value, 7, "2026-03-01T00:00:00.000000Z", host)


def pdf_text(data: bytes) -> str:
    """The PDF's text with every run of white space as one space (long names wrap)."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


@pytest.mark.parametrize("script", sorted(NAMES))
def test_a_customer_named_in_any_script_survives_into_the_pdf(script):
    name = NAMES[script]

    text = pdf_text(render_pdf(invoice(name)))

    assert name in text, f"{script} name lost: {text!r}"
    assert "?" not in text.replace("...", ""), "no character was replaced by '?'"


def test_greek_cyrillic_and_cjk_together_and_in_the_host_name():
    name = " / ".join(NAMES[s] for s in ("greek", "cyrillic", "chinese"))

    data = render_pdf(invoice(name, host="Ηost Δοκιμή — 東京ホスト"))

    text = pdf_text(data)
    assert name in text and "東京ホスト" in text
    fonts = {str(font) for page in PdfReader(io.BytesIO(data)).pages
             for font in (page["/Resources"]["/Font"].get_object()[key]["/BaseFont"] for key in page["/Resources"]["/Font"])}
    assert any("DejaVuSans" in font for font in fonts) and any("DroidSansFallback" in font for font in fonts)


def test_the_fonts_are_embedded_subsets_so_the_pdf_stays_small():
    data = render_pdf(invoice(NAMES["chinese"]))

    assert len(data) < 200_000, len(data)  # the fallback font file alone is 3.4 MB
    assert re.search(rb"/BaseFont /[A-Z]{6}\+", data), "subset fonts are named with a tag"


def test_each_invoice_loads_only_the_fonts_its_text_needs():
    from revstream.invoicing._pdf import needs_fallback, needs_unicode_font

    assert not needs_fallback(("Acme GmbH", NAMES["greek"], NAMES["cyrillic"], "Invoice INV-000007", "1,234.50 EUR"))
    assert needs_fallback(("Acme", NAMES["korean"]))
    assert not needs_unicode_font(("Société Générale, Zürich", "1,234.50 EUR"))
    latin_1 = render_pdf(invoice("Société Générale, Zürich"))
    assert b"DejaVuSans" not in latin_1 and b"DroidSansFallback" not in latin_1, "the standard font needs nothing embedded"
    assert "Société Générale, Zürich" in pdf_text(latin_1)
    greek = render_pdf(invoice(NAMES["greek"]))
    assert b"DejaVuSans" in greek and b"DroidSansFallback" not in greek


def test_amounts_show_thousands_separators():
    text = pdf_text(render_pdf(invoice("Acme", fee_nanos=1_234_567_000_000_000)))

    assert "1,234,567.00" in text and "EUR" in text


def test_the_vendored_fonts_are_the_recorded_files():
    from revstream.invoicing._pdf import FONTS_DIR

    readme = (FONTS_DIR / "README.md").read_text()
    recorded = dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+\.ttf)$", readme, re.M))
    shipped = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in FONTS_DIR.glob("*.ttf")}

    assert shipped == recorded
    for licence in ("DejaVuSans.LICENSE", "DroidSansFallback.LICENSE"):
        assert (FONTS_DIR / licence).stat().st_size > 1000
