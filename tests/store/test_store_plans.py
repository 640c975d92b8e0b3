"""Plans in the store: subscriptions, live quota enforcement at admission and at
finalization, invoices booked in the ledger, on SQLite and the real PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import date
from fractions import Fraction

import orjson
import pytest
from sqlalchemy import func, select

from revstream.ledger import AccountKind
from revstream.metering import FinalUsage, PendingUsage
from revstream.money import parse_amount
from revstream.plans import SubscriptionError, draft_plan, period_bounds_s
from revstream.pricing import ModelPrice
from revstream.store import (
    ADMITTED,
    DENIED,
    AdmitRequest,
    Conflict,
    add_credit,
    admit_batch,
    check_ledger,
    create_key,
    discard_batch,
    finalize_batch,
    load_prices,
    make_engine,
    set_price,
    upgrade,
)
from revstream.store._engine import writing
from revstream.store._invoices import get_invoice, issue_invoice
from revstream.store._plans import (
    add_plan,
    cancel_subscription,
    customer_plan,
    list_subscriptions,
    set_country,
    set_tax_rate,
    subscribe,
)
from revstream.store._schema import ledger_postings, usage_records

US = 1_000_000
FEB, MAR = (s * US for s in period_bounds_s("2026-02"))
NOW_US = MAR + 86_400 * US  # invoicing time: February has ended
_ids = itertools.count()


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    set_price(engine, ModelPrice.from_strings("m", "USD", "1000", "2000", date(2020, 1, 1)), FEB)
    yield engine
    engine.dispose()


def customer(engine, name: str) -> tuple[str, str]:
    _, row = create_key(engine, name, FEB)
    return row.customer_id, row.key_id


def admit(engine, who, tokens_prompt: int, max_tokens: int, time_us: int, model: str = "m"):
    request_id = f"req_{next(_ids):08d}"
    pending = PendingUsage(request_id, None, time_us, who[0], who[1], model, "fake", "chat", tokens_prompt, "wrk")
    with writing(engine) as connection:
        [outcome] = admit_batch(connection, [AdmitRequest(pending, max_tokens)], load_prices(connection), time_us)
    return request_id, outcome


def finish(engine, request_id: str, tokens_prompt: int, tokens_completion: int, time_us: int) -> None:
    final = FinalUsage(request_id, "ok", tokens_prompt, tokens_completion, "backend", time_us)
    with writing(engine) as connection:
        finalize_batch(connection, [final], load_prices(connection))


def record(engine, request_id: str):
    with engine.connect() as connection:
        return connection.execute(select(usage_records).where(usage_records.c.request_id == request_id)).one()


def plan(engine, **terms):
    return add_plan(engine, draft_plan(**terms), FEB)[0]


def test_a_plan_never_changes_and_adding_it_again_is_a_no_op(engine):
    first = plan(engine, name="pro", kind="subscription", fee="20.00", tokens_included=100)
    again, added = add_plan(engine, draft_plan(name="pro", kind="subscription", fee="20.00", tokens_included=100), FEB)
    assert again == first and not added
    with pytest.raises(Conflict):
        add_plan(engine, draft_plan(name="pro", kind="subscription", fee="25.00", tokens_included=100), FEB)


def test_a_change_of_plan_ends_the_old_one_at_the_same_second(engine):
    plan(engine, name="basic", kind="subscription", fee="10.00", tokens_included=100)
    plan(engine, name="pro", kind="subscription", fee="20.00", tokens_included=1000)
    subscribe(engine, "acme", "basic", FEB, FEB)
    subscribe(engine, "acme", "pro", FEB + 10 * 86_400 * US + 123_456, FEB)  # floored to the second
    rows = list_subscriptions(engine, "acme")
    assert [(r.plan.name, r.started_us, r.ended_us) for r in rows] == [
        ("basic", FEB, FEB + 10 * 86_400 * US), ("pro", FEB + 10 * 86_400 * US, None)]
    with pytest.raises(SubscriptionError, match="already has a subscription"):
        subscribe(engine, "acme", "basic", FEB + US, FEB)
    ended = cancel_subscription(engine, "acme", at_period_end=True, now_us=FEB + 20 * 86_400 * US)
    assert ended.ended_us == MAR


def test_subscription_quota_is_reserved_then_settled_to_actual_use(engine):
    plan(engine, name="stop", kind="subscription", fee="10.00", tokens_included=100)
    who = customer(engine, "acme")
    subscribe(engine, "acme", "stop", FEB, FEB)
    first, outcome = admit(engine, who, 10, 50, FEB + US)  # takes 60 of 100
    assert outcome.kind == ADMITTED
    _, refused = admit(engine, who, 10, 50, FEB + 2 * US)  # 40 left, 60 asked: a hard stop
    assert refused.kind == DENIED and refused.code == "insufficient_quota"
    assert "'stop'" in refused.message and "2026-03-01T00:00:00" in refused.message
    finish(engine, first, 10, 20, FEB + 3 * US)  # used 30: 70 left
    assert record(engine, first).tokens_included == 30 and record(engine, first).stream == "subscription"
    assert record(engine, first).charge_nanos == 0, "included tokens cost nothing, and say so (issue 12 item 4)"
    second, outcome = admit(engine, who, 10, 50, FEB + 4 * US)
    assert outcome.kind == ADMITTED
    with writing(engine) as connection:
        discard_batch(connection, [second], FEB + 5 * US)  # never reached a backend: its 60 come back
    state = customer_plan(engine, who[0], FEB + 6 * US)
    assert (state["tokens_included"], state["tokens_used"], state["tokens_reserved"], state["tokens_remaining"]) == (100, 30, 0, 70)


def test_overage_is_reserved_as_money_and_charged_at_the_overage_price(engine):
    plan(engine, name="pro", kind="subscription", fee="20.00", tokens_included=100, overage_per_mtok="1000")
    who = customer(engine, "acme")
    subscribe(engine, "acme", "pro", FEB, FEB)
    _, outcome = admit(engine, who, 100, 100, FEB + US)  # 100 included, 100 overage at most
    assert outcome.kind == DENIED, "overage needs credit like pay as you go"
    add_credit(engine, "acme", parse_amount("1.00", "USD"), "USD", FEB)
    request_id, outcome = admit(engine, who, 100, 100, FEB + 2 * US)
    assert outcome.kind == ADMITTED and outcome.reserved_nanos == 100 * 1000 * 1000
    finish(engine, request_id, 100, 30, FEB + 3 * US)  # 130 used: 100 included, 30 overage
    row = record(engine, request_id)
    assert (row.tokens_included, row.charge_nanos, row.stream) == (100, 30 * 1000 * 1000, "subscription")
    assert check_ledger(engine).ok


def test_a_free_plan_limits_models_and_tokens_per_day(engine):
    plan(engine, name="free", kind="free", tokens_per_day=50, models=("m",))
    who = customer(engine, "kid")
    subscribe(engine, "kid", "free", FEB, FEB)
    _, outcome = admit(engine, who, 1, 1, FEB + US, model="other")
    assert outcome.kind == DENIED and outcome.code == "model_not_in_plan" and "'free'" in outcome.message
    request_id, outcome = admit(engine, who, 10, 30, FEB + US)
    assert outcome.kind == ADMITTED and outcome.reserved_nanos == 0, "a free plan reserves no money"
    _, outcome = admit(engine, who, 10, 30, FEB + 2 * US)
    assert outcome.kind == DENIED and "daily" in outcome.message
    finish(engine, request_id, 10, 30, FEB + 3 * US)
    assert record(engine, request_id).stream == "ads" and record(engine, request_id).charge_nanos == 0
    _, outcome = admit(engine, who, 10, 30, FEB + 86_400 * US)  # the next day renews the quota
    assert outcome.kind == ADMITTED


def test_a_commit_plan_charges_list_price_less_its_discount(engine):
    plan(engine, name="big", kind="commit", minimum="100.00", discount_bps=1000)
    who = customer(engine, "corp")
    add_credit(engine, "corp", parse_amount("5.00", "USD"), "USD", FEB)
    subscribe(engine, "corp", "big", FEB, FEB)
    request_id, outcome = admit(engine, who, 3, 10, FEB + US)
    assert outcome.reserved_nanos == (3 * 1000 + 10 * 2000) * 900  # list 23,000,000 less 10 %
    finish(engine, request_id, 3, 7, FEB + 2 * US)
    assert record(engine, request_id).charge_nanos == (3 * 1000 + 7 * 2000) * 900
    assert record(engine, request_id).stream == "api"


def test_invoice_totals_equal_the_ledger_movements_and_issuing_again_returns_it(engine):
    plan(engine, name="pro", kind="subscription", fee="20.00", tokens_included=100, overage_per_mtok="1000")
    plan(engine, name="basic", kind="subscription", fee="7.00", tokens_included=10)
    who = customer(engine, "acme")
    add_credit(engine, "acme", parse_amount("1.00", "USD"), "USD", FEB)
    set_tax_rate(engine, "DE", 1900, FEB)
    set_country(engine, "acme", "de", FEB)
    subscribe(engine, "acme", "basic", FEB, FEB)
    subscribe(engine, "acme", "pro", FEB + 1_000_003 * US, FEB)  # a change at an odd second
    request_id, _ = admit(engine, who, 100, 100, FEB + 1_000_010 * US)
    finish(engine, request_id, 100, 60, FEB + 1_000_011 * US)
    stored = issue_invoice(engine, "acme", "2026-02", NOW_US)
    assert issue_invoice(engine, "acme", "2026-02", NOW_US + US).body == stored.body
    body = orjson.loads(stored.body)
    assert body["tax"] == {"country": "DE", "rate_bps": 1900}
    assert [line["kind"] for line in body["lines"]] == ["fee", "fee", "included", "overage"]
    seconds = (MAR - FEB) // US
    fees = Fraction(7_000_000_000 * 1_000_003 + 20_000_000_000 * (seconds - 1_000_003), seconds)
    included = 100 * (seconds - 1_000_003) // seconds  # pro's tokens, prorated to the time held
    overage = (160 - included) * 1000 * 1000
    assert body["subtotal_minor"] == round((fees + overage) / 10_000_000)
    assert body["credits_applied_nanos"] == overage, "the overage was paid from prepaid credit"
    with engine.connect() as connection:
        invoice_postings = {r.kind: int(r.units) * 1_000_000_000 + int(r.nanos) for r in connection.execute(
            select(ledger_postings.c.kind, func.sum(ledger_postings.c.units).label("units"),
                   func.sum(ledger_postings.c.nanos).label("nanos"))
            .where(ledger_postings.c.entry_id == stored.ledger_entry_id).group_by(ledger_postings.c.kind))}
        usage_charged = connection.execute(select(func.sum(usage_records.c.charge_nanos)).where(
            usage_records.c.invoice_number == stored.number)).scalar()
    # The customer was charged exactly the invoice total: usage as it happened, the rest now.
    assert usage_charged + invoice_postings[AccountKind.CUSTOMER_RECEIVABLE] == body["total_minor"] * 10_000_000
    assert -invoice_postings[AccountKind.TAX_PAYABLE] == body["tax_minor"] * 10_000_000
    revenue = -invoice_postings[AccountKind.HOST_REVENUE] - invoice_postings.get(AccountKind.ROUNDING, 0)
    assert usage_charged + revenue == body["subtotal_minor"] * 10_000_000
    assert check_ledger(engine).ok
    assert get_invoice(engine, stored.number, who[0]).body == stored.body
    with pytest.raises(SubscriptionError, match="invoiced"):
        subscribe(engine, "acme", "basic", MAR - US, NOW_US)


def test_usage_still_pending_at_invoicing_is_billed_with_its_own_month(engine):
    """Nothing to bill when February is first invoiced (its only request still runs): no
    invoice and no number. Once it finishes, February's own invoice carries it, and a later
    month's invoice never sweeps it in (issue 12 item 4)."""
    who = customer(engine, "late")
    add_credit(engine, "late", parse_amount("1.00", "USD"), "USD", FEB)
    request_id, _ = admit(engine, who, 3, 10, MAR - US)
    assert issue_invoice(engine, "late", "2026-02", NOW_US) is None
    finish(engine, request_id, 3, 5, NOW_US)
    april = (period_bounds_s("2026-04")[0] + 10) * US
    assert issue_invoice(engine, "late", "2026-03", april) is None
    february = orjson.loads(issue_invoice(engine, "late", "2026-02", april).body)
    [line] = february["lines"]
    assert line["period"] == "2026-02" and "adjustment" not in line["description"]
    assert line["amount_nanos"] == 3 * 1000 * 1000 + 5 * 2000 * 1000
    assert february["number"] == "INV-000001"
