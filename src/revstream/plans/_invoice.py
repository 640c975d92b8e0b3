"""Invoices: one per customer and period, computed exactly and rounded once. Pure.

Lines (each with its exact amount and its tax at the customer's rate):

* ``fee``: a subscription fee for the time held (see ``_cycle``: prorated by the second);
* ``included``: tokens served within a plan's allowance (shown, no charge);
* ``overage``: tokens past a subscription's allowance, at its overage price;
* ``usage``: pay-as-you-go usage at list price; ``discount``: a commit plan's discount;
* ``minimum``: the top-up to a commit plan's minimum spend (prorated like a fee);
* ``messages``: a business's delivered messages of one category (issue 14), with their
  count, at the fees booked when each was delivered (like usage charges: already in the
  ledger, paid from credit when prepaid);
* usage of an earlier period that was not final when that period was invoiced comes back
  on the next invoice, each line naming its own ``period`` (an adjustment).

Totals: the subtotal and the tax are each the exact sum of the lines, rounded half-even
once to the minor unit; total = subtotal + tax. Usage charges were already booked in
the ledger as each request finished (provisional nanos); the invoice books the fees, the
minimum top-up, the tax (a liability: ``tax_payable``) and the rounding residue (the
``rounding`` account), so that the customer's ledger movements for the period equal the
invoice total exactly. Prepaid usage was paid from credit as it happened: it shows as
``credits applied`` and the amount due is the total less those credits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from typing import Final

from revstream.ledger import Account, AccountKind, JournalEntry, Posting
from revstream.money import format_amount, format_nanos_exact, json_safe, nanos_per_minor, round_half_even
from revstream.plans._cycle import FeePart
from revstream.plans._errors import InvoiceError
from revstream.plans._plan import BPS_PER_UNIT, KIND_COMMIT, KIND_FREE, KIND_SUBSCRIPTION

LINE_KINDS: Final = ("fee", "included", "overage", "usage", "discount", "minimum", "messages")
invoice_lines_max: Final = 10_000


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """Final usage of one model under one plan (or none) in one period, as aggregated."""

    period: str
    model: str
    plan: str | None
    plan_kind: str | None
    requests: int
    tokens_prompt: int
    tokens_completion: int
    tokens_included: int
    charge_nanos: int
    list_exact: Fraction
    prepaid_nanos: int = 0

    @property
    def tokens(self) -> int:
        return self.tokens_prompt + self.tokens_completion


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """A business's charged deliveries of one message category in one period (by delivery
    time), as aggregated: how many, the fees booked, the part paid from prepaid credit."""

    period: str
    category: str
    messages: int
    charge_nanos: int
    prepaid_nanos: int = 0


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    kind: str
    description: str
    period: str
    amount_exact: Fraction
    tax_exact: Fraction
    model: str | None = None
    plan: str | None = None
    tokens: int = 0
    messages: int = 0


@dataclass(frozen=True, slots=True)
class Invoice:
    customer: str
    period: str
    currency: str
    country: str | None
    tax_rate_bps: int
    lines: tuple[InvoiceLine, ...]
    subtotal_minor: int
    tax_minor: int
    booked_nanos: int  # usage charges already in the ledger
    revenue_exact: Fraction  # fees and minimum top-ups this invoice books
    credits_applied_nanos: int

    @property
    def total_minor(self) -> int:
        return self.subtotal_minor + self.tax_minor

    @property
    def per_minor(self) -> int:
        return nanos_per_minor(self.currency)

    @property
    def amount_due_nanos(self) -> int:
        return self.total_minor * self.per_minor - self.credits_applied_nanos

    @property
    def residue_nanos(self) -> int:
        """Subtotal as invoiced less its exact value, rounded to the nano: the rounding posting."""
        return self.subtotal_minor * self.per_minor - self.booked_nanos - round_half_even(self.revenue_exact)


def _day(time_s: int) -> str:
    return datetime.fromtimestamp(time_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _line(kind: str, description: str, period: str, amount: Fraction, rate_bps: int, **extra) -> InvoiceLine:
    return InvoiceLine(kind, description, period, Fraction(amount), Fraction(amount) * rate_bps / BPS_PER_UNIT, **extra)


def _usage_lines(summary: UsageSummary, rate_bps: int, period: str) -> list[InvoiceLine]:
    late = "" if summary.period == period else f" (adjustment for {summary.period})"
    common = {"model": summary.model, "plan": summary.plan}
    lines = []
    if summary.plan_kind in (KIND_SUBSCRIPTION, KIND_FREE):
        if summary.tokens_included:
            lines.append(_line("included", f"{summary.model}: tokens included in {summary.plan}{late}", summary.period,
                               Fraction(0), rate_bps, tokens=summary.tokens_included, **common))
        overage = summary.tokens - summary.tokens_included
        if overage or summary.charge_nanos:
            lines.append(_line("overage", f"{summary.model}: tokens past the allowance of {summary.plan}{late}",
                               summary.period, Fraction(summary.charge_nanos), rate_bps, tokens=overage, **common))
        return lines
    lines.append(_line("usage", f"{summary.model}: {summary.requests} requests{late}", summary.period,
                       summary.list_exact if summary.plan_kind == KIND_COMMIT else Fraction(summary.charge_nanos),
                       rate_bps, tokens=summary.tokens, **common))
    if summary.plan_kind == KIND_COMMIT and summary.list_exact != summary.charge_nanos:
        lines.append(_line("discount", f"{summary.model}: discount of {summary.plan}{late}", summary.period,
                           summary.charge_nanos - summary.list_exact, rate_bps, **common))
    return lines


def compute_invoice(
    *, customer: str, period: str, currency: str, country: str | None, tax_rate_bps: int,
    fees: tuple[FeePart, ...], usage: tuple[UsageSummary, ...], minimums: tuple[tuple[str, Fraction], ...] = (),
    adjustment_rates_bps: Mapping[str, int] | None = None, messages: tuple[MessageSummary, ...] = (),
) -> Invoice:
    """The invoice of ``customer`` for ``period``. ``minimums`` are (commit plan, prorated
    minimum) pairs; the top-up is what the period's own commit charges leave short of it.
    Usage of an earlier period (an adjustment) is taxed at that period's invoice's rate
    (``adjustment_rates_bps``), not this one's; so are late ``messages``."""
    if type(tax_rate_bps) is not int or not 0 <= tax_rate_bps <= BPS_PER_UNIT:
        raise InvoiceError(f"tax rate: 0..{BPS_PER_UNIT} bps, got {tax_rate_bps!r}")
    lines = [_line("fee", f"subscription {part.plan} from {_day(part.start_s)} to {_day(part.end_s)} ({part.seconds} s)",
                   period, part.fee_exact, tax_rate_bps, plan=part.plan) for part in fees]
    for summary in sorted(usage, key=lambda s: (s.period, s.model, s.plan or "")):
        rate_bps = (adjustment_rates_bps or {}).get(summary.period, tax_rate_bps)
        lines.extend(_usage_lines(summary, rate_bps, period))
    for summary in sorted(messages, key=lambda s: (s.period, s.category)):
        late = "" if summary.period == period else f" (adjustment for {summary.period})"
        lines.append(_line("messages", f"{summary.category} messages: {summary.messages} delivered{late}",
                           summary.period, Fraction(summary.charge_nanos),
                           (adjustment_rates_bps or {}).get(summary.period, tax_rate_bps), messages=summary.messages))
    revenue = sum((part.fee_exact for part in fees), Fraction(0))
    for plan, minimum in minimums:
        spent = sum(s.charge_nanos for s in usage if s.plan == plan and s.period == period)
        if minimum > spent:
            lines.append(_line("minimum", f"minimum commitment top-up of {plan}", period, minimum - spent, tax_rate_bps, plan=plan))
            revenue += minimum - spent
    if len(lines) > invoice_lines_max:
        raise InvoiceError(f"at most {invoice_lines_max} invoice lines")
    per_minor = nanos_per_minor(currency)
    subtotal = sum((line.amount_exact for line in lines), Fraction(0))
    tax = sum((line.tax_exact for line in lines), Fraction(0))
    invoice = Invoice(
        customer, period, currency, country, tax_rate_bps, tuple(lines),
        round_half_even(subtotal / per_minor), round_half_even(tax / per_minor),
        sum(s.charge_nanos for s in usage) + sum(s.charge_nanos for s in messages), revenue,
        sum(s.prepaid_nanos for s in usage) + sum(s.prepaid_nanos for s in messages),
    )
    errors = validate_invoice(invoice)
    if errors:
        raise errors[0]
    return invoice


def validate_invoice(invoice: Invoice) -> list[InvoiceError]:
    """The invariants: known line kinds; lines add up to the booked usage plus the revenue
    this invoice books; subtotal and tax are those sums rounded once."""
    errors = [InvoiceError(f"unknown line kind {line.kind!r}") for line in invoice.lines if line.kind not in LINE_KINDS]
    subtotal = sum((line.amount_exact for line in invoice.lines), Fraction(0))
    tax = sum((line.tax_exact for line in invoice.lines), Fraction(0))
    if subtotal != invoice.booked_nanos + invoice.revenue_exact:
        errors.append(InvoiceError("the lines do not add up to the booked usage plus the invoiced revenue"))
    if invoice.subtotal_minor != round_half_even(subtotal / invoice.per_minor):
        errors.append(InvoiceError("the subtotal is not the lines' sum rounded once"))
    if invoice.tax_minor != round_half_even(tax / invoice.per_minor):
        errors.append(InvoiceError("the tax is not the lines' tax rounded once"))
    return errors


def invoice_entry(invoice: Invoice, entry_id: str, occurred_at: datetime, *, customer_owner: str, host: str) -> JournalEntry | None:
    """The ledger entry an invoice books (None when it books nothing): Dr the customer's
    receivable by the total less the usage already booked; Cr host revenue by the fees and
    top-ups; Cr tax payable by the tax; the rounding residue to the host's rounding account."""
    currency = invoice.currency
    receivable = invoice.total_minor * invoice.per_minor - invoice.booked_nanos
    legs = (
        (Account(customer_owner, AccountKind.CUSTOMER_RECEIVABLE), receivable),
        (Account(host, AccountKind.HOST_REVENUE), -round_half_even(invoice.revenue_exact)),
        (Account(host, AccountKind.TAX_PAYABLE), -invoice.tax_minor * invoice.per_minor),
        (Account(host, AccountKind.ROUNDING), -invoice.residue_nanos),
    )
    postings = tuple(Posting(account, nanos, currency) for account, nanos in legs if nanos)
    if not postings:
        return None
    return JournalEntry(entry_id, occurred_at, f"invoice of {invoice.customer} for {invoice.period}", postings)


def _nanos_text(value: Fraction, currency: str) -> str:
    return format_nanos_exact(round_half_even(value), currency)


ISSUER_KEYS: Final = ("legal_name", "address", "tax_id", "contact")


def issuer_json(issuer: Mapping[str, object] | str | None) -> dict | None:
    """Who issues an invoice, as it prints: ``{"legal_name", "address": [lines], "tax_id",
    "contact"}`` (the host's ``[host]`` config section), a bare legal name, or None when
    the host has not configured one (the invoice then says so rather than naming anyone)."""
    if issuer is None:
        return None
    if isinstance(issuer, str):
        issuer = {"legal_name": issuer}
    if not isinstance(issuer, Mapping) or set(issuer) - set(ISSUER_KEYS):
        raise InvoiceError(f"an invoice issuer has {', '.join(ISSUER_KEYS)}, got {issuer!r}")
    name, address = issuer.get("legal_name"), issuer.get("address") or []
    if not isinstance(name, str) or not name.strip():
        raise InvoiceError("an invoice issuer needs a legal name")
    if not isinstance(address, (list, tuple)) or not all(isinstance(line, str) for line in address):
        raise InvoiceError("an invoice issuer's address is a list of lines")
    for key in ("tax_id", "contact"):
        if issuer.get(key) is not None and not isinstance(issuer[key], str):
            raise InvoiceError(f"an invoice issuer's {key} is text")
    return {"legal_name": name, "address": list(address), "tax_id": issuer.get("tax_id"),
            "contact": issuer.get("contact")}


def invoice_json(invoice: Invoice, number: int, issued: str, issuer: Mapping[str, object] | str | None = None) -> dict:
    """The invoice as JSON values (ints and strings only: canonical JSON, byte-stable; an
    integer beyond a double's exact range is a decimal string). ``issuer``: see
    ``issuer_json``; ``host`` is its legal name (None: not configured)."""
    currency, per_minor = invoice.currency, invoice.per_minor
    issued_by = issuer_json(issuer)
    return json_safe({
        "invoice": number, "number": invoice_number_text(number),
        "host": issued_by["legal_name"] if issued_by else None, "issuer": issued_by, "customer": invoice.customer,
        "period": invoice.period, "currency": currency, "issued": issued,
        "tax": {"country": invoice.country, "rate_bps": invoice.tax_rate_bps},
        "lines": [
            {"kind": line.kind, "description": line.description, "period": line.period, "model": line.model,
             "plan": line.plan, "tokens": line.tokens, "amount_nanos": round_half_even(line.amount_exact),
             "amount": _nanos_text(line.amount_exact, currency), "tax_nanos": round_half_even(line.tax_exact),
             "tax": _nanos_text(line.tax_exact, currency),
             **({"messages": line.messages} if line.kind == "messages" else {})}
            for line in invoice.lines
        ],
        "subtotal_minor": invoice.subtotal_minor, "tax_minor": invoice.tax_minor, "total_minor": invoice.total_minor,
        "subtotal": format_amount(invoice.subtotal_minor * per_minor, currency),
        "tax_total": format_amount(invoice.tax_minor * per_minor, currency),
        "total": format_amount(invoice.total_minor * per_minor, currency),
        "booked_usage_nanos": invoice.booked_nanos, "residue_nanos": invoice.residue_nanos,
        "credits_applied_nanos": invoice.credits_applied_nanos,
        "credits_applied": format_nanos_exact(invoice.credits_applied_nanos, currency),
        "amount_due_nanos": invoice.amount_due_nanos,
        "amount_due": format_nanos_exact(invoice.amount_due_nanos, currency),
    })


def invoice_number_text(number: int) -> str:
    return f"INV-{number:06d}"
