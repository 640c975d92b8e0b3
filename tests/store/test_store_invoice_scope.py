"""What an invoice covers (issue 12 item 4): nothing to bill is no invoice and no number;
usage of a month never invoiced waits for that month's own invoice instead of being swept
into a later one at the later rate; a late record of an invoiced month is taxed at that
month's rate."""

from __future__ import annotations

import orjson
import pytest

from revstream.money import parse_amount
from revstream.periods import Period
from revstream.plans import draft_plan
from test_store_plans import admit, customer, engine, finish  # noqa: F401  (the shared fixture and helpers)
from revstream.store import add_credit
from revstream.store._invoices import issue_invoice, list_invoices
from revstream.store._plans import add_plan, set_country, set_tax_rate, subscribe

US = 1_000_000
JAN, FEB, MAR, APR = (Period.parse(p).start_us for p in ("2026-01", "2026-02", "2026-03", "2026-04"))
LATER = APR + 86_400 * US


def test_nothing_to_bill_is_no_invoice_and_no_number(engine) -> None:  # noqa: F811
    add_plan(engine, draft_plan(name="free", kind="free", tokens_per_day=100, models=("m",)), FEB)
    subscribe(engine, "idle", "free", FEB, FEB)
    who = customer(engine, "busy")
    add_credit(engine, "busy", parse_amount("5.00", "USD"), "USD", FEB)
    request, _ = admit(engine, who, 10, 10, FEB + US)
    finish(engine, request, 10, 5, FEB + 2 * US)
    assert issue_invoice(engine, "idle", "2026-02", LATER) is None
    busy = issue_invoice(engine, "busy", "2026-02", LATER)
    assert [stored.number for stored in list_invoices(engine)] == [busy.number] == [1]


@pytest.fixture
def taxed(engine):  # noqa: F811
    who = customer(engine, "acme")
    add_credit(engine, "acme", parse_amount("50.00", "USD"), "USD", JAN)
    set_country(engine, "acme", "DE", JAN)
    return who


def test_a_never_invoiced_month_is_not_swept_into_a_later_invoice(engine, taxed) -> None:  # noqa: F811
    set_tax_rate(engine, "DE", 1900, JAN)
    january, _ = admit(engine, taxed, 100, 50, JAN + US)
    finish(engine, january, 100, 50, JAN + 2 * US)
    february, _ = admit(engine, taxed, 100, 50, FEB + US)
    finish(engine, february, 100, 50, FEB + 2 * US)
    body = orjson.loads(issue_invoice(engine, "acme", "2026-02", LATER).body)
    assert {line["period"] for line in body["lines"]} == {"2026-02"}
    set_tax_rate(engine, "DE", 700, LATER)
    january_body = orjson.loads(issue_invoice(engine, "acme", "2026-01", LATER).body)
    assert {line["period"] for line in january_body["lines"]} == {"2026-01"}


def test_a_late_record_of_an_invoiced_month_keeps_that_months_rate(engine, taxed) -> None:  # noqa: F811
    set_tax_rate(engine, "DE", 1900, JAN)
    done, _ = admit(engine, taxed, 100, 50, FEB + US)
    finish(engine, done, 100, 50, FEB + 2 * US)
    late, _ = admit(engine, taxed, 200, 50, FEB + 3 * US)  # still running when February is invoiced
    issue_invoice(engine, "acme", "2026-02", LATER)
    finish(engine, late, 200, 50, FEB + 4 * US)
    set_tax_rate(engine, "DE", 700, LATER)  # March is taxed at 7%
    march = orjson.loads(issue_invoice(engine, "acme", "2026-03", LATER).body)
    [line] = [line for line in march["lines"] if line["period"] == "2026-02"]
    assert march["tax"]["rate_bps"] == 700
    assert line["tax_nanos"] == line["amount_nanos"] * 1900 // 10_000
