"""Plans through the real HTTP pipeline (in-process server, fake backend, the official
OpenAI client): live quota enforcement and a customer's own plan and invoices; on SQLite
and the real PostgreSQL."""

from __future__ import annotations

import io
import time

import httpx
import openai
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from revstream.plans import draft_plan, period_bounds_s, period_of_s
from revstream.store._invoices import issue_invoice
from revstream.store._plans import add_plan, subscribe
from revstream.store._schema import usage_records

from fake_backend import FakeBackend
from inprocess import InProcessServer

PROMPT = [{"role": "user", "content": "a b"}]  # two prompt tokens; fake-echo answers five
US = 1_000_000


def now_us() -> int:
    return time.time_ns() // 1000


def month_start_us() -> int:
    """Included tokens are prorated by the second: a plan held all month has them all."""
    return period_bounds_s(period_of_s(now_us() // US))[0] * US


@pytest.fixture
def server(database_url, tmp_path):
    with InProcessServer(database_url, tmp_path) as running:
        yield running


def ask(client, model: str = "fake-echo"):
    return client.chat.completions.create(model=model, messages=PROMPT, max_tokens=10)


def get(server, path: str, key: str | None = None) -> httpx.Response:
    return httpx.get(server.v1 + path, headers={"Authorization": f"Bearer {key or server.key}"}, timeout=30)


def test_included_tokens_run_out_into_a_429_that_names_the_plan_and_its_renewal(server):
    add_plan(server.engine, draft_plan(name="starter", kind="subscription", fee="5.00", tokens_included=20), now_us())
    subscribe(server.engine, "pipeline", "starter", month_start_us(), now_us())
    client = server.client()
    # Each finalization is awaited (records final) so the next admission sees it: a batch
    # that admits and finalizes together admits first, which can only refuse earlier.
    ask(client)  # reserves 12 (2 + max_tokens 10), uses 7
    server.records()
    ask(client)  # 13 left: reserves 12, uses 7
    server.records()
    started = FakeBackend.started
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client)  # 6 left, 12 asked
    assert caught.value.code == "insufficient_quota"
    assert "'starter'" in caught.value.message and "renews at" in caught.value.message
    assert FakeBackend.started == started, "refused before the backend was called"
    plan = get(server, "/plan").json()
    assert plan["plan"]["plan"] == "starter" and plan["tokens_used"] == 14 and plan["tokens_remaining"] == 6
    assert plan["renews"].endswith("T00:00:00.000000Z")
    server.records()  # every record final
    with server.engine.connect() as connection:
        assert set(connection.execute(select(usage_records.c.stream)).scalars()) == {"subscription"}


def test_a_free_plan_refuses_a_model_outside_it_with_403(server):
    add_plan(server.engine, draft_plan(name="free", kind="free", tokens_per_day=1000, models=("fake-echo",)), now_us())
    subscribe(server.engine, "pipeline", "free", now_us() - US, now_us())
    assert ask(server.client()).usage.completion_tokens == 5
    with pytest.raises(openai.PermissionDeniedError) as caught:
        ask(server.client(), model="fake-gate")
    assert caught.value.code == "model_not_in_plan" and "'free'" in caught.value.message
    assert caught.value.body["param"] == "model"


def test_a_customer_without_a_plan_is_told_so(server):
    assert get(server, "/plan").json()["plan"] is None


def test_customers_see_their_own_invoices_and_never_another_customers(server):
    add_plan(server.engine, draft_plan(name="pro", kind="subscription", fee="12.34", tokens_included=10), now_us())
    jan = period_bounds_s("2026-01")[0] * US
    subscribe(server.engine, "pipeline", "pro", jan, jan)
    subscribe(server.engine, "other", "pro", jan, jan)
    mine = issue_invoice(server.engine, "pipeline", "2026-01", now_us())
    theirs = issue_invoice(server.engine, "other", "2026-01", now_us())
    listing = get(server, "/invoices").json()
    assert [i["invoice"] for i in listing["data"]] == [mine.number]
    assert listing["data"][0]["total"] == "12.34"
    response = get(server, f"/invoices/{mine.number}")
    assert response.status_code == 200 and response.content == mine.body
    pdf = get(server, f"/invoices/{mine.number}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "12.34 USD" in text
    for path in (f"/invoices/{theirs.number}", f"/invoices/{theirs.number}.pdf", "/invoices/999", "/invoices/x.pdf"):
        answer = get(server, path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "invoice_not_found"
    assert get(server, "/invoices", key="rs-not-a-key").status_code == 401


def test_a_plan_rate_limit_holds_for_every_key_of_the_customer(server):
    add_plan(server.engine, draft_plan(name="limited", kind="subscription", fee="1.00", tokens_included=10_000,
                                       requests_per_minute=2), now_us())
    subscribe(server.engine, "pipeline", "limited", month_start_us(), now_us())
    ask(server.client())
    ask(server.client(server.new_key("pipeline")))  # another key of the same customer
    with pytest.raises(openai.RateLimitError) as caught:
        ask(server.client())
    assert caught.value.code == "rate_limit_exceeded" and "plan" in caught.value.message
    assert int(caught.value.response.headers["retry-after"]) > 0
    ask(server.client(server.new_key("someone-else")))  # other customers are not limited by it
