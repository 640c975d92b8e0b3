"""Settlement streams: pay-as-you-go usage settles as `api`, a subscription's fees and
overage as `subscription` (with its own share), the free tier as `ads`; on SQLite and
the real PostgreSQL."""

from __future__ import annotations

import itertools
import json
from datetime import date
from fractions import Fraction

import pytest

from revstream.audit._recompute import Tally, expected_statement, statement_facts
from revstream.metering import FinalUsage, PendingUsage
from revstream.money import parse_amount
from revstream.plans import draft_plan, period_bounds_s
from revstream.pricing import ModelPrice
from revstream.settlement import draft_agreement, statement_body_of_note_text
from revstream.store import (
    AdmitRequest,
    add_agreement,
    add_credit,
    add_licensor,
    admit_batch,
    check_ledger,
    create_key,
    finalize_batch,
    init_log_key,
    load_prices,
    log_entries,
    make_engine,
    set_model_licensor,
    set_price,
    settle,
    upgrade,
)
from revstream.transparency import verify_note
from revstream.store._engine import writing
from revstream.store._plans import add_plan, subscribe

US = 1_000_000
FEB, MAR = (s * US for s in period_bounds_s("2026-02"))
_ids = itertools.count()


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    for model in ("m", "n"):
        set_price(engine, ModelPrice.from_strings(model, "USD", "1000", "2000", date(2020, 1, 1)), FEB)
    add_licensor(engine, "Llama Labs", FEB)
    for model in ("m", "n"):
        set_model_licensor(engine, model, "Llama Labs", FEB)
    add_agreement(engine, draft_agreement(licensor="Llama Labs", models=("m", "n"), currency="USD",
                                          effective_from=date(2026, 1, 1), share_bps=1500,
                                          stream_shares=("subscription:1000",)), FEB)
    yield engine
    engine.dispose()


def serve(engine, name: str, model: str, tokens_prompt: int, tokens_completion: int, time_us: int) -> None:
    _, key = create_key(engine, name, FEB)
    request_id = f"req_{next(_ids):08d}"
    pending = PendingUsage(request_id, None, time_us, key.customer_id, key.key_id, model, "fake", "chat", tokens_prompt, "w")
    with writing(engine) as connection:
        admit_batch(connection, [AdmitRequest(pending, tokens_completion)], load_prices(connection), time_us)
    with writing(engine) as connection:
        final = FinalUsage(request_id, "ok", tokens_prompt, tokens_completion, "backend", time_us + 1)
        finalize_batch(connection, [final], load_prices(connection))


def test_each_stream_settles_its_own_revenue_at_its_own_share(engine):
    add_plan(engine, draft_plan(name="pro", kind="subscription", fee="30.00", tokens_included=100,
                                overage_per_mtok="1000", models=("m", "n")), FEB)
    add_plan(engine, draft_plan(name="free", kind="free", tokens_per_day=1000, models=("m",)), FEB)
    for name in ("payg", "sub"):
        add_credit(engine, name, parse_amount("10.00", "USD"), "USD", FEB)
    subscribe(engine, "sub", "pro", FEB, FEB)
    subscribe(engine, "kid", "free", FEB, FEB)
    serve(engine, "payg", "m", 10, 20, FEB + US)            # api
    serve(engine, "sub", "m", 100, 50, FEB + 2 * US)        # 100 included, 50 overage at 1000 per Mtok
    serve(engine, "sub", "n", 0, 50, FEB + 3 * US)          # overage 50
    serve(engine, "kid", "m", 5, 5, FEB + 4 * US)           # free: the ads stream, no customer revenue
    [statement] = settle(engine, "2026-02", MAR + US)
    lines = {(line["model"], line["stream"]): line for line in statement.json()["lines"]}
    assert set(lines) == {("m", "api"), ("m", "subscription"), ("n", "subscription"), ("m", "ads")}
    assert lines[("m", "api")]["gross_nanos"] == (10 * 1000 + 20 * 2000) * 1000  # nanos per token = price / 1000
    assert lines[("m", "api")]["rate"] == "1500bps"
    # The fee splits over the plan's models by the tokens each served: m 150, n 50.
    fee = 30_000_000_000
    assert lines[("m", "subscription")]["gross_nanos"] == round(Fraction(fee * 150, 200)) + 50 * 1_000_000
    assert lines[("n", "subscription")]["gross_nanos"] == round(Fraction(fee * 50, 200)) + 50 * 1_000_000
    assert lines[("m", "subscription")]["rate"] == "1000bps"
    assert lines[("m", "ads")]["gross_nanos"] == 0 and lines[("m", "ads")]["requests"] == 1
    assert check_ledger(engine).ok


def test_a_fee_without_usage_splits_evenly_over_the_plan_models(engine):
    add_plan(engine, draft_plan(name="idle", kind="subscription", fee="10.00", tokens_included=100, models=("m", "n")), FEB)
    subscribe(engine, "quiet", "idle", FEB, FEB)
    [statement] = settle(engine, "2026-02", MAR + US)
    lines = {(line["model"], line["stream"]): line["gross_nanos"] for line in statement.json()["lines"]}
    assert lines == {("m", "subscription"): 5_000_000_000, ("n", "subscription"): 5_000_000_000}


def test_a_verifier_recomputes_every_stream_from_the_log(engine):
    """The signed statement declares the plans' terms; every figure comes from the log's
    entries (usage with its stream, plan and included tokens; the fees), rated by the same
    pure rules."""
    vkey = init_log_key(engine, "example.com/log", FEB)
    add_plan(engine, draft_plan(name="pro", kind="subscription", fee="30.00", tokens_included=100,
                                overage_per_mtok="1000", models=("m", "n")), FEB)
    add_plan(engine, draft_plan(name="big", kind="commit", minimum="5.00", discount_bps=1250), FEB)
    add_plan(engine, draft_plan(name="free", kind="free", tokens_per_day=1000, models=("m",)), FEB)
    for name in ("payg", "sub", "corp"):
        add_credit(engine, name, parse_amount("10.00", "USD"), "USD", FEB)
    subscribe(engine, "sub", "pro", FEB, FEB)
    subscribe(engine, "corp", "big", FEB, FEB)
    subscribe(engine, "kid", "free", FEB, FEB)
    serve(engine, "payg", "m", 10, 20, FEB + US)
    serve(engine, "sub", "m", 100, 50, FEB + 2 * US)
    serve(engine, "sub", "n", 0, 50, FEB + 3 * US)
    serve(engine, "corp", "n", 7, 9, FEB + 4 * US)
    serve(engine, "kid", "m", 5, 5, FEB + 5 * US)
    [stored] = settle(engine, "2026-02", MAR + US)
    body = statement_body_of_note_text(verify_note(stored.signed_note, [vkey]))
    value = json.loads(body)
    assert {(line["model"], line["stream"]) for line in value["lines"]} == {
        ("m", "api"), ("n", "api"), ("m", "subscription"), ("n", "subscription"), ("m", "ads")}
    assert [plan["name"] for plan in value["plans"]] != [] and "fees" not in value and value["format"] == 2
    fee_leaves = [json.loads(data) for data in log_entries(engine, 0, value["log"]["size"]) if b'"kind":"fee"' in data]
    assert sorted((fee["fee_kind"], fee["stream"]) for fee in fee_leaves) == [("minimum", "api"), ("subscription", "subscription")]

    facts = statement_facts(value)
    tally = Tally(facts)
    for index, data in enumerate(log_entries(engine, 0, facts.log.size)):
        tally.add(index, data)
    assert expected_statement(facts, tally, value) == body
    # Without the commit plan's request the log no longer gives the statement's n/api line.
    [big] = [plan["plan_id"] for plan in value["plans"] if plan["name"] == "big"]
    tally = Tally(facts)
    for index, data in enumerate(log_entries(engine, 0, facts.log.size)):
        if json.loads(data)["plan"] != big:
            tally.add(index, data)
    assert expected_statement(facts, tally, value) != body
