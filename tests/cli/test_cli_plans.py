"""The plan, subscription, tax and invoice commands through the real CLI (subprocesses)."""

from __future__ import annotations

import io
import json

from pypdf import PdfReader

from conftest import revstream


def cli_json(home, *args):
    return json.loads(revstream(*args, "--json", home=home).stdout)


def test_from_a_plan_to_an_invoice_pdf(tmp_path):
    home = tmp_path / "home"
    added = cli_json(home, "plans", "add", "pro", "--kind", "subscription", "--currency", "EUR", "--fee", "30.00",
                     "--tokens-included", "1000000", "--overage", "2.00", "--models", "llama-demo")
    assert added["added"] and added["fee_nanos"] == 30_000_000_000 and added["stream"] == "subscription"
    assert not cli_json(home, "plans", "add", "pro", "--kind", "subscription", "--currency", "EUR", "--fee", "30.00",
                        "--tokens-included", "1000000", "--overage", "2.00", "--models", "llama-demo")["added"]
    assert [p["plan"] for p in cli_json(home, "plans", "list")] == ["pro"]
    assert cli_json(home, "tax", "set", "de", "1900") == {"country": "DE", "rate_bps": 1900}
    cli_json(home, "customers", "set", "acme", "--country", "DE")
    sub = cli_json(home, "subscribe", "--customer", "acme", "--plan", "pro", "--from", "2026-01-16")
    assert sub["started"] == "2026-01-16T00:00:00.000000Z" and sub["ends"] is None
    [invoice] = cli_json(home, "invoice", "--period", "2026-01")
    assert invoice["number"] == "INV-000001" and invoice["customer"] == "acme"
    assert invoice["subtotal"] == "15.48"  # 30.00 × 16 of 31 days
    assert invoice["tax_total"] == "2.94" and invoice["total"] == "18.42"
    assert cli_json(home, "invoice", "--period", "2026-01", "--customer", "acme") == [invoice]
    shown = revstream("invoices", "show", "1", home=home).stdout
    assert json.loads(shown) == invoice
    pdf = tmp_path / "invoice.pdf"
    revstream("invoices", "show", "1", "--format", "pdf", "--output", str(pdf), home=home)
    assert "18.42 EUR" in "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.read_bytes())).pages)
    assert "<td>fee</td>" in revstream("invoices", "show", "1", "--format", "html", home=home).stdout
    assert cli_json(home, "ledger", "check")["ok"]
    ended = cli_json(home, "subscriptions", "cancel", "--customer", "acme", "--at-period-end")
    assert ended["ends"].endswith("-01T00:00:00.000000Z")
    assert [s["plan"] for s in cli_json(home, "subscriptions", "list", "--customer", "acme")] == ["pro"]


def test_bad_plans_and_periods_are_refused_with_reasons(tmp_path):
    home = tmp_path / "home"
    refused = revstream("plans", "add", "x", "--kind", "free", "--tokens-per-day", "10", home=home, check=False)
    assert refused.returncode == 2 and "free plan needs" in refused.stderr
    refused = revstream("plans", "add", "x", "--kind", "payg", "--fee", "1.00", home=home, check=False)
    assert refused.returncode == 2 and "does not apply" in refused.stderr
    refused = revstream("invoice", "--period", "2999-01", home=home, check=False)
    assert refused.returncode == 2 and "has not ended" in refused.stderr
    refused = revstream("subscribe", "--customer", "a", "--plan", "nope", home=home, check=False)
    assert refused.returncode == 1 and "no plan named" in refused.stderr
