"""Messaging end to end through a real gateway with the real embedded model (issue 14): a
visitor writes on the built-in webchat channel, the model answers (one usage record and one
message per reply, linked), the business sends through POST /v1/messages and sees the quoted
price before delivery, refused sends are 400s in the OpenAI error format that charge nothing,
delivery books once, and September's close settles the messaging stream, which the real
`revstream verify` recomputes from the log; a tampered message leaf is caught."""

from __future__ import annotations

import json
import time
from datetime import date

import httpx
import pytest
from sqlalchemy import select, update

from conftest import create_postgres_database, drop_postgres_database, statement_verifier
from revstream.config._model import EMBEDDED_MODEL_NAME as MODEL
from revstream.keys import hash_secret, new_admin_token
from revstream.messaging import parse_rate_card_csv
from revstream.periods import parse_time_us
from revstream.pricing import ModelPrice
from revstream.settlement import draft_agreement
from revstream.store import (
    add_agreement,
    add_channel,
    add_credit,
    add_licensor,
    add_template,
    balances_of,
    check_ledger,
    create_licensor_token,
    customer_balance,
    import_rate_card,
    init_log_key,
    list_usage,
    put_meta_if_absent,
    record_opt_in,
    set_model_licensor,
    set_price,
    settle,
)
from revstream.store._schema import log_leaves

from messaging_host import Clock, Host, wait_until
from messaging_world import FIXTURES

SEPTEMBER = parse_time_us("2026-09-10T08:00:00Z")
HOUR_US = 3_600_000_000
SESSION = "visitor0001"


def _now_us() -> int:
    return time.time_ns() // 1000


def _statuses(host: Host, channel: str, ids, status: str = "delivered") -> httpx.Response:
    return host.post(f"/webchat/{channel}/events", json={
        "channel": channel, "statuses": [{"id": i, "status": status, "time_us": host.clock()} for i in ids]})


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database(request, tmp_path_factory):
    """The whole conversation, close and verification once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('messaging-store') / 'store.db'}"
        return
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture(scope="module")
def world(tmp_path_factory, database):
    tmp = tmp_path_factory.mktemp("messaging-gateway")
    clock = Clock(SEPTEMBER)
    with Host(database, tmp / "home", clock) as host:
        engine, now = host.engine, _now_us()
        vkey = init_log_key(engine, "messaging.test/log", now)
        set_price(engine, ModelPrice.from_strings(MODEL, "USD", "1.00", "2.00", date(2026, 1, 1)), now)
        add_licensor(engine, "Llama Labs", now)
        set_model_licensor(engine, MODEL, "Llama Labs", now)
        add_agreement(engine, draft_agreement(licensor="Llama Labs", models=(MODEL,), currency="USD",
                                              effective_from=date(2026, 1, 1), share_bps=1500,
                                              stream_shares=("messaging:3000",)), now)
        key = host.new_key("acme")
        add_credit(engine, "acme", 10 * 10**9, "USD", now)
        channel = add_channel(engine, "acme", "webchat", now, market="IN", ai_model=MODEL)["channel_id"]
        import_rate_card(engine, parse_rate_card_csv((FIXTURES / "ratecard_scenarios.csv").read_text()), now)
        add_template(engine, "acme", "spring_sale", "en", "marketing", "Sale: {{1}} off", SEPTEMBER - HOUR_US,
                     "approved")
        yield {"host": host, "key": key, "channel": channel, "vkey": vkey, "tmp": tmp, "database": database}


@pytest.fixture(scope="module")
def conversation(world):
    """A visitor writes; the model answers; the business sends a reply and a marketing template."""
    host, channel, key = world["host"], world["channel"], world["key"]
    host.clock.now_us = SEPTEMBER - 60_000_000  # the visitor writes a minute before the business sends
    written = host.post(f"/webchat/{channel}/messages", json={"session": SESSION, "text": "Hello! When do you open?"})
    assert written.status_code == 200, written.text
    [reply] = written.json()["replies"]
    host.clock.now_us = SEPTEMBER
    refused = host.post("/v1/messages", key, json={"channel": channel, "to": SESSION, "template": "spring_sale",
                                                    "parameters": ["20%"]})
    record_opt_in(host.engine, channel, SESSION, "marketing", True, SEPTEMBER - 1, "chat checkbox")
    marketing = host.post("/v1/messages", key, json={"channel": channel, "to": SESSION, "template": "spring_sale",
                                                      "parameters": ["20%"]})
    service = host.post("/v1/messages", key, json={"to": SESSION, "text": "We open at nine."})  # its only channel
    return {"reply": reply, "refused": refused, "marketing": marketing.json(), "service": service.json()}


def test_the_model_answers_once_metered_and_linked(world, conversation) -> None:
    host, reply = world["host"], conversation["reply"]
    assert reply["model"] == MODEL and reply["attribution"] == "reply" and reply["text"]
    assert (reply["category"], reply["window"], reply["quoted_price_nanos"]) == ("service", "customer_service", 0)
    records = wait_until(lambda: [r for r in list_usage(host.engine) if r.status == "ok"], "the reply's usage record")
    assert [r.request_id for r in records] == [reply["usage_request_id"]]
    assert records[0].key_id == world["channel"] and records[0].charge_nanos > 0  # billed per token


def test_a_send_answers_the_quoted_price_before_delivery(conversation) -> None:
    marketing, service = conversation["marketing"], conversation["service"]
    assert marketing["status"] == "accepted" and marketing["id"].startswith("msg_")
    assert (marketing["category"], marketing["quoted_price"]) == ("marketing", {"currency": "USD", "nanos": 10_000_000})
    assert (service["category"], service["quoted_price"]["nanos"]) == ("service", 0)


def test_refusals_are_openai_errors_that_charge_nothing(world, conversation) -> None:
    host, key, channel = world["host"], world["key"], world["channel"]
    refused = conversation["refused"]
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "no_marketing_opt_in" and refused.json()["error"]["type"]
    before = customer_balance(host.engine, "acme").available_nanos
    host.clock.now_us = SEPTEMBER + 25 * HOUR_US  # the service window has closed
    try:
        closed = host.post("/v1/messages", key, json={"channel": channel, "to": SESSION, "text": "Still there?"})
    finally:
        host.clock.now_us = SEPTEMBER
    assert closed.status_code == 400 and closed.json()["error"]["code"] == "window_closed"
    assert customer_balance(host.engine, "acme").available_nanos == before
    anonymous = host.post("/v1/messages", json={"channel": channel, "to": SESSION, "text": "hi"})
    assert anonymous.status_code == 401 and "error" in anonymous.json()


@pytest.fixture(scope="module")
def delivered(world, conversation):
    host, channel = world["host"], world["channel"]
    ids = [conversation["marketing"]["id"], conversation["service"]["id"], conversation["reply"]["id"]]
    first = _statuses(host, channel, ids)
    again = _statuses(host, channel, ids)  # the page reported twice
    return first, again


def test_delivery_books_once_and_the_conversation_reads_back(world, delivered) -> None:
    host, key, channel = world["host"], world["key"], world["channel"]
    first, again = delivered
    assert [r["effect"] for r in first.json()["results"]] == ["applied"] * 3
    assert [r["effect"] for r in again.json()["results"]] == ["duplicate"] * 3
    assert balances_of(host.engine, ["host"])[("host", "host_revenue", "USD")] <= -10_000_000
    [listed] = host.get("/v1/conversations", key).json()["data"]
    assert listed["channel"] == channel and listed["window"] == "customer_service"
    messages = host.get("/v1/messages", key, params={"conversation": listed["id"]}).json()["data"]
    assert [m["direction"] for m in messages] == ["in", "out", "out", "out"]
    assert {m["price_nanos"] for m in messages if m["direction"] == "out"} == {0, 10_000_000}
    page = host.get(f"/webchat/{channel}", params={})
    assert page.status_code == 200 and channel in page.text
    seen = host.get(f"/webchat/{channel}/messages", params={"session": SESSION}).json()["data"]
    assert len(seen) == 4
    other = host.new_key("globex")
    assert host.get("/v1/messages", other, params={"conversation": listed["id"]}).status_code == 404
    assert check_ledger(host.engine).ok


@pytest.fixture(scope="module")
def closed(world, delivered):
    host, tmp = world["host"], world["tmp"]
    wait_until(lambda: [r for r in list_usage(host.engine) if r.status == "ok"], "the reply's usage record")
    [statement] = settle(host.engine, "2026-09", _now_us())
    token = create_licensor_token(host.engine, "Llama Labs", _now_us())[0]
    note, verify = statement_verifier(host.base_url, world["vkey"], token, statement.statement_id, tmp)

    return {"statement": statement, "verify": verify}


def test_the_close_settles_the_messaging_stream_and_verify_recomputes_it(closed) -> None:
    body = json.loads(closed["statement"].body)
    [line] = [line for line in body["lines"] if line["stream"] == "messaging"]
    assert (line["model"], line["gross_nanos"], line["rate"], line["share_nanos"]) == (MODEL, 10_000_000, "3000bps", 3_000_000)
    assert body["sections"]["messaging"] == [{"category": "marketing", "delivered": 1, "failed": 0},
                                             {"category": "service", "delivered": 2, "failed": 0}]
    code, report = closed["verify"]()
    assert code == 0 and report["verified"], report


def test_a_tampered_message_leaf_is_caught(world, closed) -> None:
    host = world["host"]
    with host.engine.begin() as connection:
        [(index, data)] = [(i, bytes(d)) for i, d in connection.execute(
            select(log_leaves.c.leaf_index, log_leaves.c.data).where(log_leaves.c.kind == "message"))
            if b'"category":"marketing"' in bytes(d)]
        connection.execute(update(log_leaves).where(log_leaves.c.leaf_index == index)
                           .values(data=bytes(data).replace(b'"price_nanos":10000000', b'"price_nanos":1000000')))
    try:
        code, report = closed["verify"]()
        assert code == 1 and not report["verified"]
        failed = report["checks"][-1]
        assert failed["name"] == "log entries" and f"entry {index} fails its inclusion proof" in failed["detail"]
    finally:
        with host.engine.begin() as connection:
            connection.execute(update(log_leaves).where(log_leaves.c.leaf_index == index).values(data=bytes(data)))


def test_the_dashboard_panel_shows_fees_costs_and_margin(world, delivered) -> None:
    host, key = world["host"], world["key"]
    admin = new_admin_token()
    put_meta_if_absent(host.engine, "admin_token_sha256", hash_secret(admin))
    report = host.get("/dashboard/api/messaging/report", admin, params={"period": "2026-09"}).json()
    marketing = [line for line in report["lines"] if line["category"] == "marketing"]
    assert [(m["delivered"], m["fees_nanos"], m["fees"], m["margin"]) for m in marketing] == [(1, 10_000_000, "0.01",
                                                                                              "0.01")]
    assert report["totals"][0]["messages"] == 3 and report["conversations"][0]["fees_nanos"] == 10_000_000
    assert host.get("/dashboard/api/messaging/report", key).status_code == 403  # a business sees its own, not this
    assert host.get("/dashboard/api/messaging/report", admin, params={"period": "09-2026"}).status_code == 400
    page = host.get("/dashboard/static/messaging.js")
    assert page.status_code == 200 and "messaging-panel" in page.text
