"""Messaging fees on invoices (issue 14): what a business's invoice bills of its messages.

A charged outbound message (booked at delivery, ``charge_nanos`` > 0) belongs to the period
of its delivery. Issuing an invoice marks the business's charged messages of the period not
invoiced yet with the invoice's number, and with them those of EARLIER invoiced periods
whose delivery was reported after that invoice (adjustments, taxed at their own invoice's
rate), exactly as usage records are marked (`_invoices._mark_records`); a period never
invoiced keeps its messages for its own invoice. The marked messages are summed by period
and category: `revstream.plans.MessageSummary`, one invoice line each, with the count.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, case, or_, select, true, update

from ..ledger import AccountKind
from ..periods import period_bounds_us, period_of_us
from ..plans import MessageSummary
from ._messaging_schema import msg_messages

_CHARGED = and_(msg_messages.c.direction == "out", msg_messages.c.booked == true(), msg_messages.c.charge_nanos > 0)


def mark_messages(connection: Connection, customer_id: str, period: str, number: int, earlier: list[str]) -> None:
    """Mark the period's charged messages, and late ones of earlier invoiced periods."""
    times = [and_(msg_messages.c.delivered_us >= start, msg_messages.c.delivered_us < end)
             for start, end in (period_bounds_us(p) for p in [period, *earlier])]
    connection.execute(update(msg_messages).where(
        msg_messages.c.customer_id == customer_id, msg_messages.c.invoice_number.is_(None), _CHARGED, or_(*times),
    ).values(invoice_number=number))


def message_summaries(connection: Connection, customer_id: str, number: int) -> list[MessageSummary]:
    """The messages invoice ``number`` bills, by period (of delivery, UTC month) and category."""
    prepaid = case((msg_messages.c.funding_kind == str(AccountKind.CUSTOMER_CREDIT), msg_messages.c.charge_nanos),
                   else_=0)
    rows = connection.execute(
        select(msg_messages.c.delivered_us, msg_messages.c.priced_category, msg_messages.c.charge_nanos,
               prepaid.label("prepaid"))
        .where(msg_messages.c.customer_id == customer_id, msg_messages.c.invoice_number == number)).all()
    totals: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        total = totals.setdefault((period_of_us(row.delivered_us), row.priced_category), [0, 0, 0])
        total[0] += 1
        total[1] += row.charge_nanos
        total[2] += row.prepaid
    return [MessageSummary(period, category, count, charge, prepaid_nanos)
            for (period, category), (count, charge, prepaid_nanos) in sorted(totals.items())]


def businesses_with_fees(connection: Connection, end_us: int) -> set[str]:
    """Customers with charged messages delivered before ``end_us`` not invoiced yet."""
    return set(connection.execute(select(msg_messages.c.customer_id).where(
        _CHARGED, msg_messages.c.invoice_number.is_(None), msg_messages.c.delivered_us < end_us).distinct()).scalars())


__all__ = ["businesses_with_fees", "mark_messages", "message_summaries"]
