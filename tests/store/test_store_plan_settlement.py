"""Settlement streams: pay-as-you-go usage settles as `api`, a subscription's fees and
overage as `subscription` (with its own share), the free tier as `ads`; on SQLite and
the real PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import date
from fractions import Fraction

import pytest

from revstream.metering import FinalUsage, PendingUsage
from revstream.money import parse_amount
from revstream.plans import draft_plan, period_bounds_s
from revstream.pricing import ModelPrice
from revstream.settlement import draft_agreement
from revstream.store import (
    AdmitRequest,
    add_agreement,
    add_credit,
    add_licensor,
    admit_batch,
    check_ledger,
    create_key,
    finalize_batch,
    load_prices,
    make_engine,
    set_model_licensor,
    set_price,
    settle,
    upgrade,
)
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
