"""The rows and totals every rendering shows, from an invoice's stored JSON value."""

from __future__ import annotations

from dataclasses import dataclass

from revstream.invoicing._errors import RenderError
from revstream.money import MoneyError, format_display, parse_amount
from revstream.periods import datetime_of_us, parse_time_us

REQUIRED = ("number", "host", "customer", "period", "currency", "issued", "tax", "lines", "subtotal", "tax_total",
            "total", "credits_applied", "amount_due")


NO_ISSUER_TEXT = "(the host has configured no legal name: [host] legal_name in its config)"


@dataclass(frozen=True, slots=True)
class InvoiceView:
    title: str
    parties: tuple[tuple[str, str], ...]
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    totals: tuple[tuple[str, str], ...]
    issuer: str = ""  # the legal name the invoice is issued under (the PDF's author)


def invoice_view(invoice: dict) -> InvoiceView:
    missing = [key for key in REQUIRED if key not in invoice]
    if missing:
        raise RenderError(f"the invoice lacks {', '.join(missing)}")
    currency = invoice["currency"]
    tax = invoice["tax"]
    rate = f"{tax['rate_bps'] / 100:.2f}%".replace(".00%", "%") if tax.get("rate_bps") else "0% (no tax rate for the customer's country)"
    parties = (
        ("Invoice", invoice["number"]), *issuer_parties(invoice), ("Customer", invoice["customer"]),
        ("Country", tax.get("country") or "not set"), ("Period", invoice["period"]), ("Issued", _when(invoice["issued"])),
        ("Tax rate", rate),
    )
    rows = tuple(
        (line["kind"], line["description"], line["period"], f"{line['tokens']:,}" if line["tokens"] else "",
         _amount(line["amount"], currency, code=False), _amount(line["tax"], currency, code=False))
        for line in invoice["lines"]
    )
    totals = tuple((label, _amount(invoice[key], currency)) for label, key in (
        ("Subtotal", "subtotal"), ("Tax", "tax_total"), ("Total", "total"), ("Credits applied", "credits_applied"),
        ("Amount due", "amount_due"),
    ))
    issuer = invoice.get("issuer")
    return InvoiceView(f"Invoice {invoice['number']}", parties,
                       ("Kind", "Description", "Period", "Tokens", f"Amount ({currency})", "Tax"), rows, totals,
                       issuer["legal_name"] if issuer else ("" if "issuer" in invoice else str(invoice["host"])))


def issuer_parties(invoice: dict) -> tuple[tuple[str, str], ...]:
    """Who issued the invoice: the legal name, each address line, the tax id and a contact,
    as the host configured them (`[host]`) when it was issued. An invoice issued before
    that existed shows its stored `host` as it is; one issued without `[host]` says so."""
    if "issuer" not in invoice:
        return (("Issued by", str(invoice["host"])),)
    issuer = invoice["issuer"]
    if issuer is None:
        return (("Issued by", NO_ISSUER_TEXT),)
    rows = [("Issued by", issuer["legal_name"])]
    rows += [("Address" if index == 0 else "", line) for index, line in enumerate(issuer.get("address") or ())]
    rows += [(label, issuer[key]) for label, key in (("Tax ID", "tax_id"), ("Contact", "contact")) if issuer.get(key)]
    return tuple(rows)


def _when(text: object) -> str:
    """A stored RFC 3339 time for people, to the minute: "2026-03-01 09:30 UTC"."""
    try:
        return datetime_of_us(parse_time_us(str(text))).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(text)


def _amount(text: object, currency: str, code: bool = True) -> str:
    """A stored decimal amount with thousands separators, every stored digit kept
    ("1234.5" EUR -> "1,234.50 EUR"); a value that is not an amount is shown as it is."""
    try:
        shown = format_display(parse_amount(str(text), currency), currency, exact=True)
    except MoneyError:
        return f"{text} {currency}" if code and text is not None else ("" if text is None else str(text))
    return shown if code else shown.rsplit(" ", 1)[0]
