"""Invoices name the host as it configured itself (`[host]`: legal name, address, tax id,
contact) in their JSON, HTML and PDF, never the ledger's owner id "host"; an invoice issued
without `[host]` says so, and one stored before it existed prints as it was stored."""

from __future__ import annotations

import io
import json
from fractions import Fraction

import pytest
from pypdf import PdfReader

from revstream.invoicing import invoice_view, render_html, render_pdf
from revstream.plans import FeePart, InvoiceError, UsageSummary, compute_invoice, invoice_json, period_bounds_s

from revstream.cli import main

START, END = period_bounds_s("2026-02")
ISSUER = {"legal_name": "Ηλίας Inference Α.Ε.", "address": ["Odos Ermou 1", "105 63 Athens", "Greece"],
          "tax_id": "EL123456789", "contact": "billing@example.gr"}


def invoice(issuer=None) -> dict:
    value = compute_invoice(
        customer="Acme GmbH", period="2026-02", currency="EUR", country="DE", tax_rate_bps=1900,
        fees=(FeePart("pro", START, END, Fraction(20_000_000_000)),),
        usage=(UsageSummary("2026-02", "llama", None, None, 3, 1000, 2000, 0, 4_567_891, Fraction(4_567_891), 4_567_891),),
    )
    return invoice_json(value, 42, "2026-03-01T09:30:12.345678Z", issuer)


def pdf(data: bytes) -> tuple[str, str]:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split()), reader.metadata.author


def test_the_json_html_and_pdf_name_the_configured_issuer():
    value = invoice(ISSUER)
    assert value["host"] == ISSUER["legal_name"] and value["issuer"] == ISSUER
    html = render_html(value)
    text, author = pdf(render_pdf(value))
    for shown in (ISSUER["legal_name"], *ISSUER["address"], ISSUER["tax_id"], ISSUER["contact"]):
        assert shown in html and shown in text
    assert author == ISSUER["legal_name"]
    assert ">host<" not in html and "Issued by host" not in text


def test_people_read_the_issue_time_to_the_minute():
    view = invoice_view(invoice(ISSUER))
    assert dict(view.parties)["Issued"] == "2026-03-01 09:30 UTC"


def test_without_a_host_section_the_invoice_says_so_and_names_nobody():
    value = invoice(None)
    assert value["host"] is None and value["issuer"] is None
    parties = dict(invoice_view(value).parties)
    assert "[host] legal_name" in parties["Issued by"]
    assert "[host] legal_name" in pdf(render_pdf(value))[0]


def test_an_invoice_stored_before_the_issuer_existed_prints_as_stored():
    value = invoice(None)
    del value["issuer"]
    value["host"] = "host"
    assert dict(invoice_view(value).parties)["Issued by"] == "host"


@pytest.mark.parametrize("issuer", [{"legal_name": ""}, {"legal_name": "A", "vat": "x"}, {"legal_name": "A", "address": "x"},
                                    {"legal_name": "A", "tax_id": 5}, 7])
def test_a_malformed_issuer_is_refused(issuer):
    with pytest.raises(InvoiceError):
        invoice(issuer)


def test_revstream_invoice_names_the_host_of_the_config_and_warns_without_one(tmp_path, monkeypatch, capsys):
    """The real CLI in this process: acme invoiced with the config's [host], globex without."""
    monkeypatch.setenv("REVSTREAM_HOME", str(tmp_path / "home"))
    config = tmp_path / "revstream.toml"
    config.write_text('[host]\nlegal_name = "Example Inference GmbH"\naddress = ["Musterstraße 1", "10115 Berlin"]\n'
                      'tax_id = "DE123456789"\ncontact = "billing@example.com"\n')
    usage = tmp_path / "usage.jsonl"
    usage.write_text("".join(json.dumps({"request_id": f"r-{customer}", "time": "2026-02-03T10:00:00Z", "customer": customer,
                                         "model": "m", "tokens_prompt": 1000, "tokens_completion": 0, "status": "ok"}) + "\n"
                             for customer in ("acme", "globex")))

    def cli(*args: str) -> tuple[str, str]:
        capsys.readouterr()
        assert main(list(args)) == 0
        return capsys.readouterr()

    cli("prices", "set", "--model", "m", "--input", "1.00", "--output", "1.00", "--from", "2020-01-01")
    cli("usage", "import", str(usage))
    out, err = cli("--config", str(config), "invoice", "--period", "2026-02", "--customer", "acme", "--json")
    [value] = json.loads(out)
    assert value["host"] == "Example Inference GmbH" and value["issuer"]["address"] == ["Musterstraße 1", "10115 Berlin"]
    assert "name no issuer" not in err
    html, _ = cli("--config", str(config), "invoices", "show", str(value["invoice"]), "--format", "html")
    assert "Musterstraße 1" in html and "DE123456789" in html
    out, err = cli("invoice", "--period", "2026-02", "--customer", "globex", "--json")
    assert json.loads(out)[0]["issuer"] is None and "add a [host] section" in err
