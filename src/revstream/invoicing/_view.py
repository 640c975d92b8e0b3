"""The rows and totals every rendering shows, from an invoice's stored JSON value."""

from __future__ import annotations

from dataclasses import dataclass

from revstream.invoicing._errors import RenderError

REQUIRED = ("number", "host", "customer", "period", "currency", "issued", "tax", "lines", "subtotal", "tax_total",
            "total", "credits_applied", "amount_due")


@dataclass(frozen=True, slots=True)
class InvoiceView:
    title: str
    parties: tuple[tuple[str, str], ...]
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    totals: tuple[tuple[str, str], ...]


def invoice_view(invoice: dict) -> InvoiceView:
    missing = [key for key in REQUIRED if key not in invoice]
    if missing:
        raise RenderError(f"the invoice lacks {', '.join(missing)}")
    currency = invoice["currency"]
    tax = invoice["tax"]
    rate = f"{tax['rate_bps'] / 100:.2f}%".replace(".00%", "%") if tax.get("rate_bps") else "0% (no tax rate for the customer's country)"
    parties = (
        ("Invoice", invoice["number"]), ("Issued by", invoice["host"]), ("Customer", invoice["customer"]),
        ("Country", tax.get("country") or "not set"), ("Period", invoice["period"]), ("Issued", invoice["issued"]),
        ("Tax rate", rate),
    )
    rows = tuple(
        (line["kind"], line["description"], line["period"], str(line["tokens"] or ""), line["amount"], line["tax"])
        for line in invoice["lines"]
    )
    totals = (
        ("Subtotal", f"{invoice['subtotal']} {currency}"), ("Tax", f"{invoice['tax_total']} {currency}"),
        ("Total", f"{invoice['total']} {currency}"), ("Credits applied", f"{invoice['credits_applied']} {currency}"),
        ("Amount due", f"{invoice['amount_due']} {currency}"),
    )
    return InvoiceView(f"Invoice {invoice['number']}", parties,
                       ("Kind", "Description", "Period", "Tokens", f"Amount ({currency})", "Tax"), rows, totals)
