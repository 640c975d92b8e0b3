"""Invoices: issue one per customer and period, number them without gaps, book them.

`issue_invoice` runs in one write transaction, under the customer's row lock:

1. an invoice already issued for the customer and period is returned as it was stored;
2. the host's counter row is locked and read: the invoice takes its number, and the
   counter moves on in the same transaction, so a rollback gives the number back and
   concurrent issuers queue on the row (no gaps, no duplicates);
3. the customer's final usage records of the period not invoiced yet are marked with the
   number, and so are records of EARLIER periods that were still pending when those
   periods were invoiced (adjustments, taxed at their own invoice's rate); usage of an
   earlier period that has no invoice yet waits for that period's own invoice, never swept
   into a later one. They are aggregated by model, plan and month (`_settlement._aggregate`,
   the same scan settlement uses); fees come from the subscriptions (`revstream.plans.fee_parts`);
   a business's charged messages are marked and summed the same way (`_messaging_invoices`);
4. the pure core computes the invoice; its ledger entry (fees, minimum top-up, tax as a
   liability, rounding residue) is posted; its canonical JSON bytes are stored.

A customer with nothing to bill in the period (no fee, no minimum, no usage) gets no
invoice: the transaction is rolled back, so no number is consumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import orjson
from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update

from ..metering import STATUS_PENDING
from ..periods import datetime_of_us, month_starts_between, period_bounds_us, period_of_us, rfc3339
from ..plans import (
    InvoiceError,
    UsageSummary,
    compute_invoice,
    fee_parts,
    invoice_entry,
    invoice_json,
    minimum_parts,
)
from ..pricing import PriceSchedule, charge_exact
from ..transparency import canonical_json
from ._accounts import _customer_row
from ._errors import NotFound
from ._ledger import post_entries
from ._messaging_invoices import businesses_with_fees, mark_messages, message_summaries
from ._plans import US_PER_S, SubscriptionRow, period_subscriptions, tax_rate_of
from ._prices import load_prices
from ._schema import customers, invoice_counter, invoices, usage_records
from ._settlement import HOST_OWNER, _aggregate, _Group
from ._engine import writing

COUNTER_ID = 1


@dataclass(frozen=True, slots=True)
class StoredInvoice:
    number: int
    customer_id: str
    customer: str
    period: str
    currency: str
    body: bytes
    total_minor: int
    ledger_entry_id: str | None


def _summaries(connection: Connection, number: int, end_us: int, schedule: PriceSchedule) -> list[UsageSummary]:
    """The usage the invoice covers, by model, plan and month (each bucket inside one month
    and one price interval, so a commit plan's list price is exact)."""
    where = (usage_records.c.invoice_number == number,)
    first_us = connection.execute(select(func.min(usage_records.c.time_us)).where(*where)).scalar()
    if first_us is None:
        return []
    prices = {p.effective_from_us for p in schedule.prices}
    boundaries = sorted({t for t in prices if first_us < t < end_us} | set(month_starts_between(first_us, end_us)))
    return [_summary(group, schedule) for group in _aggregate(connection, None, boundaries, where, late=False)]


def _summary(group: _Group, schedule: PriceSchedule) -> UsageSummary:
    price = schedule.price_at_us(group.model, group.first_us)
    list_exact = charge_exact(group.tokens_prompt, group.tokens_completion, price) if price else Fraction(0)
    plan = group.plan
    return UsageSummary(
        period_of_us(group.first_us), group.model, plan.name if plan else None, plan.kind if plan else None,
        group.requests, group.tokens_prompt, group.tokens_completion, group.tokens_included,
        group.charge_nanos, list_exact, group.prepaid_nanos,
    )


def _minimums(rows: list[SubscriptionRow], period: str) -> tuple[tuple[str, Fraction], ...]:
    """Each commit plan's minimum, prorated by the second like a fee."""
    minimums: dict[str, Fraction] = {}
    for part in minimum_parts([row.segment() for row in rows], period):
        minimums[part.plan] = minimums.get(part.plan, Fraction(0)) + part.fee_exact
    return tuple(sorted(minimums.items()))


def _next_number(connection: Connection) -> int:
    """Lock the counter row and take its number; the counter moves on in this transaction."""
    number = connection.execute(
        select(invoice_counter.c.next_number).where(invoice_counter.c.counter_id == COUNTER_ID).with_for_update()
    ).scalar_one()
    connection.execute(update(invoice_counter).where(invoice_counter.c.counter_id == COUNTER_ID)
                       .values(next_number=number + 1))
    return int(number)


def _stored(row, customer: str) -> StoredInvoice:
    return StoredInvoice(row.number, row.customer_id, customer, row.period, row.currency, bytes(row.body),
                         row.total_minor, row.ledger_entry_id)


def require_ended(period: str, now_us: int) -> int:
    """The end of `period` in epoch microseconds, once it has passed."""
    end_us = period_bounds_us(period)[1]
    if now_us < end_us:
        raise InvoiceError(f"period {period} has not ended yet: it can be invoiced from {rfc3339(end_us)}")
    return end_us


def issue_invoice(engine: Engine, customer: str, period: str, now_us: int, host: str = HOST_OWNER,
                  issuer: Mapping[str, object] | None = None) -> StoredInvoice | None:
    """The invoice of `customer` for `period` (a month that has ended): issued once; asking
    again returns the stored invoice, byte for byte; None when there is nothing to bill.
    `issuer`: who the invoice names as its issuer (the config's `[host]`, see
    `revstream.plans.issuer_json`); `host` is the ledger owner."""
    end_us = require_ended(period, now_us)
    try:
        return _issue(engine, customer, period, now_us, end_us, host, issuer)
    except _NothingToBill:
        return None


class _NothingToBill(Exception):
    """Raised inside the issuing transaction to roll it back (and give the number back)."""


def _invoiced_earlier(connection: Connection, customer_id: str, period: str) -> dict[str, int]:
    """The customer's earlier invoiced periods and each one's tax rate (bps)."""
    rows = connection.execute(select(invoices.c.period, invoices.c.body).where(
        invoices.c.customer_id == customer_id, invoices.c.period < period)).all()
    return {row.period: orjson.loads(row.body)["tax"]["rate_bps"] for row in rows}


def _mark_records(connection: Connection, customer_id: str, period: str, number: int, earlier: list[str]) -> None:
    """The period's own final records, and late ones of earlier invoiced periods."""
    start_us, end_us = period_bounds_us(period)
    times = [and_(usage_records.c.time_us >= start_us, usage_records.c.time_us < end_us)]
    times += [and_(usage_records.c.time_us >= bounds[0], usage_records.c.time_us < bounds[1])
              for bounds in (period_bounds_us(p) for p in earlier)]
    connection.execute(update(usage_records).where(
        usage_records.c.customer_id == customer_id, or_(*times),
        usage_records.c.status != STATUS_PENDING, usage_records.c.invoice_number.is_(None),
    ).values(invoice_number=number))


def _issue(engine: Engine, customer: str, period: str, now_us: int, end_us: int, host: str,
           issuer: Mapping[str, object] | None) -> StoredInvoice:
    with writing(engine) as connection:
        row = _customer_row(connection, customer, lock=True)
        existing = connection.execute(select(invoices).where(
            invoices.c.customer_id == row.customer_id, invoices.c.period == period)).first()
        if existing is not None:
            return _stored(existing, customer)
        number = _next_number(connection)
        earlier = _invoiced_earlier(connection, row.customer_id, period)
        _mark_records(connection, row.customer_id, period, number, sorted(earlier))
        mark_messages(connection, row.customer_id, period, number, sorted(earlier))
        subscriptions = period_subscriptions(connection, period, row.customer_id).get(row.customer_id, [])
        currency = row.currency or (subscriptions[0].plan.currency if subscriptions else "USD")
        invoice = compute_invoice(
            customer=customer, period=period, currency=currency, country=row.country,
            tax_rate_bps=tax_rate_of(connection, row.country),
            fees=fee_parts([s.segment() for s in subscriptions], period),
            usage=tuple(_summaries(connection, number, end_us, load_prices(connection))),
            minimums=_minimums(subscriptions, period), adjustment_rates_bps=earlier,
            messages=tuple(message_summaries(connection, row.customer_id, number)),
        )
        if not invoice.lines:
            raise _NothingToBill
        entry = invoice_entry(invoice, f"inv_{number}", datetime_of_us(now_us),
                              customer_owner=row.customer_id, host=host)
        if entry is not None:
            post_entries(connection, [entry])
        body = canonical_json(invoice_json(invoice, number, rfc3339(now_us), issuer))
        connection.execute(insert(invoices).values(
            number=number, customer_id=row.customer_id, period=period, currency=currency, body=body,
            total_minor=invoice.total_minor, ledger_entry_id=entry.entry_id if entry else None, created_us=now_us))
        return StoredInvoice(number, row.customer_id, customer, period, currency, body, invoice.total_minor,
                             entry.entry_id if entry else None)


def customers_to_invoice(engine: Engine, period: str, now_us: int) -> list[str]:
    """Customers with a subscription in `period` or usage not invoiced yet up to its end."""
    end_s = require_ended(period, now_us) // US_PER_S
    with engine.connect() as connection:
        subscribed = set(period_subscriptions(connection, period))
        used = set(connection.execute(select(usage_records.c.customer_id).where(
            usage_records.c.time_us < end_s * US_PER_S, usage_records.c.invoice_number.is_(None),
            usage_records.c.status != STATUS_PENDING).distinct()).scalars())
        used |= businesses_with_fees(connection, end_s * US_PER_S)
        invoiced = set(connection.execute(select(invoices.c.customer_id).where(invoices.c.period == period)).scalars())
        ids = sorted(subscribed | used | invoiced)
        if not ids:
            return []
        return sorted(connection.execute(select(customers.c.name).where(customers.c.customer_id.in_(ids))).scalars())


_LISTING = select(invoices, customers.c.name.label("customer")).join(customers, customers.c.customer_id == invoices.c.customer_id)


def list_invoices(engine: Engine, customer_id: str | None = None) -> list[StoredInvoice]:
    query = _LISTING.order_by(invoices.c.number)
    if customer_id is not None:
        query = query.where(invoices.c.customer_id == customer_id)
    with engine.connect() as connection:
        return [_stored(row, row.customer) for row in connection.execute(query)]


def get_invoice(engine: Engine, number: int, customer_id: str | None = None) -> StoredInvoice:
    """One invoice; with `customer_id`, only that customer's (another's reads as absent)."""
    query = _LISTING.where(invoices.c.number == number)
    if customer_id is not None:
        query = query.where(invoices.c.customer_id == customer_id)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        raise NotFound(f"no invoice {number}")
    return _stored(row, row.customer)
