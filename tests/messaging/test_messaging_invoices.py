"""Messaging fees on invoices (issue 14), on SQLite and the real PostgreSQL: a business's
charged deliveries of the month are invoice lines by category with their counts, taxed at
the customer's rate like the rest; failed messages bill nothing; a delivery reported after
its month was invoiced comes on the next invoice at its own month's rate; the invoice's
totals equal the ledger's movements."""

from __future__ import annotations

import orjson
from sqlalchemy import func, select

from revstream.ledger import AccountKind
from revstream.messaging import StatusUpdate
from revstream.periods import Period
from revstream.store import (
    SendRequest,
    apply_statuses,
    check_ledger,
    customer_balance,
    send_messages,
    set_platform_ids,
)
from revstream.store._invoices import customers_to_invoice, issue_invoice
from revstream.store._messaging_schema import msg_messages
from revstream.store._plans import set_country, set_tax_rate
from revstream.store._schema import ledger_postings

from test_messaging_store import T0, world  # noqa: F401  (the fixture: a business with USD 1 of credit)

JULY, AUGUST, SEPTEMBER = (Period.parse(p).start_us for p in ("2025-07", "2025-08", "2025-09"))
DAY_US = 86_400_000_000
PER_MINOR = 10_000_000  # USD


def _send(engine, channel_id, templates) -> list[str]:
    customer_id = customer_balance(engine, "acme").customer_id
    sent = send_messages(engine, [SendRequest(customer_id, channel_id, "+919800000001", T0 + i, "llama",
                                              template=name, parameters=("x",)) for i, name in enumerate(templates)], T0)
    ids = [s.message["id"] for s in sent]
    set_platform_ids(engine, [(m, "wamid." + m) for m in ids])
    return ids


def _report(engine, channel_id, pairs, at_us: int) -> None:
    apply_statuses(engine, channel_id, tuple(StatusUpdate("wamid." + m, "1234567", what, at_us) for m, what in pairs),
                   at_us)


def _postings(engine, entry_id: str) -> dict:
    with engine.connect() as connection:
        return {r.kind: int(r.units) * 1_000_000_000 + int(r.nanos) for r in connection.execute(
            select(ledger_postings.c.kind, func.sum(ledger_postings.c.units).label("units"),
                   func.sum(ledger_postings.c.nanos).label("nanos"))
            .where(ledger_postings.c.entry_id == entry_id).group_by(ledger_postings.c.kind))}


def test_delivered_message_fees_are_invoiced_by_category_and_taxed(world) -> None:  # noqa: F811
    engine, channel_id = world
    set_tax_rate(engine, "DE", 1900, JULY)
    set_country(engine, "acme", "DE", JULY)
    sale, sale_failed, sale_late, update_1, update_2 = _send(
        engine, channel_id, ["spring_sale"] * 3 + ["order_update"] * 2)
    _report(engine, channel_id, [(sale, "delivered"), (sale_failed, "failed"), (update_1, "delivered"),
                                 (update_2, "read")], T0 + DAY_US)
    assert customers_to_invoice(engine, "2025-07", AUGUST + DAY_US) == ["acme"]
    july = issue_invoice(engine, "acme", "2025-07", AUGUST + DAY_US)
    body = orjson.loads(july.body)
    lines = [(line["kind"], line["description"], line["period"], line["messages"], line["amount_nanos"],
              line["tax_nanos"]) for line in body["lines"]]
    assert lines == [
        ("messages", "marketing messages: 1 delivered", "2025-07", 1, 12_500_000, 2_375_000),
        ("messages", "utility messages: 2 delivered", "2025-07", 2, 8_000_000, 1_520_000),
    ]
    booked = 12_500_000 + 8_000_000
    assert (body["booked_usage_nanos"], body["credits_applied_nanos"]) == (booked, booked)  # paid from credit
    assert body["subtotal_minor"] == round(booked / PER_MINOR) and body["tax_minor"] == 0  # 0.389 cents of tax
    postings = _postings(engine, july.ledger_entry_id)
    assert booked + postings[AccountKind.CUSTOMER_RECEIVABLE] == body["total_minor"] * PER_MINOR
    assert booked - postings.get(AccountKind.ROUNDING, 0) == body["subtotal_minor"] * PER_MINOR
    assert issue_invoice(engine, "acme", "2025-07", AUGUST + 2 * DAY_US).body == july.body  # issued once

    # The platform reports a July delivery after July's invoice: August bills it, at July's rate.
    _report(engine, channel_id, [(sale_late, "delivered")], AUGUST - 1)
    set_tax_rate(engine, "DE", 700, AUGUST)
    august = orjson.loads(issue_invoice(engine, "acme", "2025-08", SEPTEMBER + DAY_US).body)
    [late] = august["lines"]
    assert (late["description"], late["period"], late["tax_nanos"]) == (
        "marketing messages: 1 delivered (adjustment for 2025-07)", "2025-07", 2_375_000)
    with engine.connect() as connection:
        marks = dict(connection.execute(select(msg_messages.c.message_id, msg_messages.c.invoice_number)).all())
    assert marks[sale_failed] is None and marks[sale] == marks[update_1] == july.number
    assert check_ledger(engine).ok


def test_a_business_without_charged_messages_gets_no_invoice(world) -> None:  # noqa: F811
    engine, channel_id = world
    [failed] = _send(engine, channel_id, ["spring_sale"])
    _report(engine, channel_id, [(failed, "failed")], T0 + 1)
    assert customers_to_invoice(engine, "2025-07", AUGUST + DAY_US) == []
    assert issue_invoice(engine, "acme", "2025-07", AUGUST + DAY_US) is None
