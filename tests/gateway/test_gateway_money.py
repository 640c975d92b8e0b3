"""Credit, budgets, rate limits and idempotency through the real HTTP pipeline
(fake backend, in-process server), on SQLite and the real PostgreSQL."""

from __future__ import annotations

import concurrent.futures
import time
from datetime import date

import httpx
import openai
import pytest

from revstream.gateway._admission import TEMPLATE_TOKENS_MAX, TEMPLATE_TOKENS_PER_MESSAGE_MAX
from revstream.money import parse_amount
from revstream.pricing import ModelPrice
from revstream.store import (
    add_credit,
    check_ledger,
    customer_balance,
    list_keys,
    set_budget,
    set_credit_limit,
    set_price,
)

from fake_backend import FakeBackend
from inprocess import InProcessServer
from waiting import ManualClock, wait_until

ONE_TOKEN_IN, ONE_TOKEN_OUT = 1_000_000, 2_000_000  # nanos per token at 1000 / 2000 USD per Mtok
PROMPT = [{"role": "user", "content": "a b"}]  # two prompt tokens for the fake backend
CHARGE = 2 * ONE_TOKEN_IN + 5 * ONE_TOKEN_OUT  # fake-echo answers five tokens
HOLD_10 = 2 * ONE_TOKEN_IN + 10 * ONE_TOKEN_OUT  # the reservation with max_tokens = 10


def now_us() -> int:
    return time.time_ns() // 1000


@pytest.fixture
def clock():
    """The request path's clock: rate-limit buckets refill only when a test moves it on."""
    return ManualClock()


@pytest.fixture
def server(database_url, tmp_path, clock):
    with InProcessServer(database_url, tmp_path, clock=clock) as running:
        for model in ("fake-echo", "fake-gate", "fake-fail-early"):
            set_price(running.engine, ModelPrice.from_strings(model, "USD", "1000", "2000", date(2020, 1, 1)), now_us())
        yield running


def credit(server, customer: str, amount: str) -> None:
    add_credit(server.engine, customer, parse_amount(amount, "USD"), "USD", now_us())


def ask(client, **extra):
    return client.chat.completions.create(model="fake-echo", messages=PROMPT, max_tokens=10, **extra)


def test_a_priced_request_without_credit_is_refused_before_the_backend(server):
    started = FakeBackend.started
    with pytest.raises(openai.RateLimitError) as caught:
        ask(server.client())
    assert caught.value.code == "insufficient_quota"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert "available" in caught.value.message
    assert FakeBackend.started == started, "the backend was never called"
    assert server.records() == [], "a refused request leaves no usage record"


def test_the_charge_is_exact_and_the_ledger_balances(server):
    credit(server, "pipeline", "1.00")
    completion = ask(server.client())
    assert completion.usage.completion_tokens == 5
    [record] = server.records()
    assert (record.charge_nanos, record.reserved_nanos, record.currency) == (CHARGE, HOLD_10, "USD")
    balance = customer_balance(server.engine, "pipeline")
    assert balance.available_nanos == 1_000_000_000 - CHARGE
    assert balance.reserved_nanos == 0 and balance.spent_nanos == CHARGE
    assert check_ledger(server.engine).ok
    mine = httpx.get(server.v1 + "/balance", headers={"Authorization": f"Bearer {server.key}"}).json()
    assert mine["available_nanos"] == 1_000_000_000 - CHARGE and mine["currency"] == "USD"


def test_an_unpriced_model_is_free(server):
    completion = server.client().chat.completions.create(model="fake-slow", messages=PROMPT, max_tokens=2)
    assert completion.usage.completion_tokens == 2
    [record] = server.records()
    assert record.charge_nanos is None and record.status == "ok"


def test_a_daily_budget_stops_spending_before_it_is_exceeded(server):
    credit(server, "pipeline", "1.00")
    set_budget(server.engine, "pipeline", None, "day", parse_amount("0.05", "USD"), "USD", now_us())
    client = server.client()
    served = 0
    for _ in range(6):
        try:
            ask(client)
            served += 1
        except openai.RateLimitError as error:
            assert error.code == "insufficient_quota" and "daily customer budget" in error.message
    # Reserving 0.022 each and spending 0.012 each: 0.024 + 0.022 fits in 0.05, 0.036 + 0.022 does not.
    assert served == 3
    assert sum(r.charge_nanos for r in server.records()) == 3 * CHARGE <= parse_amount("0.05", "USD")


def test_a_key_budget_binds_that_key_only(server):
    credit(server, "pipeline", "1.00")
    second = server.new_key("pipeline")
    first_key_id = next(k.key_id for k in list_keys(server.engine, "pipeline"))
    set_budget(server.engine, "pipeline", first_key_id, "lifetime", HOLD_10 - 1, "USD", now_us())
    with pytest.raises(openai.RateLimitError) as caught:
        ask(server.client())
    assert "lifetime key" in caught.value.message
    assert ask(server.client(second)).usage.completion_tokens == 5


def test_a_postpaid_customer_spends_up_to_the_credit_limit(server):
    set_credit_limit(server.engine, "pipeline", 2 * HOLD_10, "USD", now_us())
    client = server.client()
    ask(client)  # holds 0.022, spends 0.012: 0.032 left of 0.044
    ask(client)  # 0.032 - 0.022 fits: 0.020 left
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client)
    assert "credit limit" in caught.value.message
    balance = customer_balance(server.engine, "pipeline")
    assert balance.billing_mode == "postpaid" and balance.spent_nanos == 2 * CHARGE
    assert balance.available_nanos == 2 * HOLD_10 - 2 * CHARGE
    assert check_ledger(server.engine).ok


def test_concurrent_requests_never_spend_more_than_the_budget(server):
    credit(server, "pipeline", "10.00")
    budget = parse_amount("0.50", "USD")
    set_budget(server.engine, "pipeline", None, "month", budget, "USD", now_us())
    client = server.client()

    def call(_):
        try:
            return ask(client).id
        except openai.RateLimitError:
            return None

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        served = [r for r in pool.map(call, range(100)) if r]
    records = server.records()
    assert len(records) == len(served), "exactly one usage record per served request"
    assert sum(r.charge_nanos for r in records) <= budget
    assert len(served) >= budget // HOLD_10, "at least the requests whose holds fit were served"
    assert customer_balance(server.engine, "pipeline").reserved_nanos == 0, "no hold leaked"
    assert check_ledger(server.engine).ok


def test_an_idempotent_retry_is_executed_and_billed_once(server):
    credit(server, "pipeline", "1.00")
    client = server.client()
    first = client.chat.completions.with_raw_response.create(
        model="fake-echo", messages=PROMPT, max_tokens=10, extra_headers={"Idempotency-Key": "order-17"}
    )
    second = client.chat.completions.with_raw_response.create(
        model="fake-echo", messages=PROMPT, max_tokens=10, extra_headers={"Idempotency-Key": "order-17"}
    )
    assert second.headers["idempotent-replayed"] == "true"
    assert second.parse().id == first.parse().id
    assert len(server.records()) == 1
    assert customer_balance(server.engine, "pipeline").spent_nanos == CHARGE


def test_an_idempotent_stream_is_replayed_whole(server):
    credit(server, "pipeline", "1.00")
    body = {"model": "fake-echo", "messages": PROMPT, "max_tokens": 10, "stream": True}
    headers = {"Authorization": f"Bearer {server.key}", "Idempotency-Key": "stream-1"}
    first = httpx.post(server.v1 + "/chat/completions", json=body, headers=headers)
    second = httpx.post(server.v1 + "/chat/completions", json=body, headers=headers)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.text == first.text and first.text.endswith("data: [DONE]\n\n")
    assert len(server.records()) == 1


def test_an_idempotency_key_in_flight_is_409_and_reuse_with_another_body_is_400(server):
    credit(server, "pipeline", "1.00")
    client = server.client()
    headers = {"Idempotency-Key": "busy"}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(
            client.chat.completions.create, model="fake-gate", messages=PROMPT, max_tokens=10, extra_headers=headers
        )
        wait_until(lambda: server.records(final=False), what="the first request's pending record")
        with pytest.raises(openai.ConflictError) as conflict:
            client.chat.completions.create(model="fake-gate", messages=PROMPT, max_tokens=10, extra_headers=headers)
        assert conflict.value.code == "idempotency_key_in_use"
        FakeBackend.gate.set()
        running.result(20)
    with pytest.raises(openai.BadRequestError) as reused:
        client.chat.completions.create(model="fake-gate", messages=PROMPT, max_tokens=11, extra_headers=headers)
    assert reused.value.code == "idempotency_key_reused"
    other = server.new_key("someone-else")
    credit(server, "someone-else", "1.00")
    assert server.client(other).chat.completions.create(
        model="fake-gate", messages=PROMPT, max_tokens=10, extra_headers=headers
    ).usage.completion_tokens == 5, "an idempotency key belongs to one customer"


def test_a_failed_request_can_be_retried_with_the_same_idempotency_key(server):
    credit(server, "pipeline", "1.00")
    client = server.client()
    for _ in range(2):
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(
                model="fake-fail-early", messages=PROMPT, max_tokens=10, extra_headers={"Idempotency-Key": "retry-me"}
            )
        assert caught.value.status_code == 502
    assert [r.status for r in server.records()] == ["error", "error"]
    assert customer_balance(server.engine, "pipeline").reserved_nanos == 0


def test_requests_per_minute_are_limited_with_openai_headers(server, clock):
    key = server.new_key("limited", requests_per_minute=3)
    client = server.client(key)
    raw = client.chat.completions.with_raw_response.create(model="fake-slow", messages=PROMPT, max_tokens=1)
    assert raw.headers["x-ratelimit-limit-requests"] == "3"
    assert raw.headers["x-ratelimit-remaining-requests"] == "2"
    assert "x-ratelimit-reset-requests" in raw.headers
    ask_free = lambda: client.chat.completions.create(model="fake-slow", messages=PROMPT, max_tokens=1)  # noqa: E731
    ask_free()
    ask_free()
    with pytest.raises(openai.RateLimitError) as caught:
        ask_free()
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "20"  # 3 a minute: one every 20 s
    assert len(server.records()) == 3, "a rate-limited request leaves no usage record"
    clock.advance(20)
    ask_free()


# A prompt's bound before it is counted: its bytes plus the chat template's allowances.
BOUND_OVERHEAD = TEMPLATE_TOKENS_MAX + TEMPLATE_TOKENS_PER_MESSAGE_MAX  # one message


def test_tokens_per_minute_count_the_request_and_return_what_was_not_used(server, clock):
    key = server.new_key("tokens", tokens_per_minute=200)
    credit(server, "tokens", "10.00")
    client = server.client(key)
    first = client.chat.completions.with_raw_response.create(model="fake-echo", messages=PROMPT, max_tokens=40)
    # Admission charged the prompt's byte bound plus max_tokens (3 + overhead + 40), then the
    # exact count (2 + 40) once the backend had counted the prompt.
    assert first.headers["x-ratelimit-remaining-tokens"] == str(200 - 42)
    # The 35 tokens not used (max_tokens 40, five generated) came back before the response did.
    second = client.chat.completions.with_raw_response.create(model="fake-echo", messages=PROMPT, max_tokens=40)
    assert second.headers["x-ratelimit-remaining-tokens"] == str(200 - 7 - 42)
    # 186 left; a prompt of 30 bytes with max_tokens 90 is bounded at 30 + overhead + 90 > 186.
    prepared = FakeBackend.prepared
    larger = [{"role": "user", "content": "x" * 30}]
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="fake-echo", messages=larger, max_tokens=90)
    assert 30 + BOUND_OVERHEAD + 90 > 200 - 14
    assert caught.value.code == "rate_limit_exceeded"
    assert "tokens per minute" in caught.value.message
    assert FakeBackend.prepared == prepared, "refused before its prompt was counted"
    clock.advance(60)  # a full minute refills the bucket
    assert client.chat.completions.create(model="fake-echo", messages=larger, max_tokens=90).usage.completion_tokens == 5


def test_a_request_refused_for_quota_gives_its_tokens_per_minute_back(server):
    key = server.new_key("broke", tokens_per_minute=200)
    client = server.client(key)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="fake-echo", messages=PROMPT, max_tokens=40)  # priced, no credit
    assert caught.value.code == "insufficient_quota"
    # Everything came back before the refusal was answered (the clock stands still: no refill).
    free = client.chat.completions.with_raw_response.create(model="fake-slow", messages=PROMPT, max_tokens=10)
    assert free.headers["x-ratelimit-remaining-tokens"] == str(200 - 12)


def test_a_prompt_too_long_for_the_model_keeps_its_bound_counted(server):
    """Tokenizing it was work done for the caller: its byte bound stays charged, while the
    completion's part comes back."""
    key = server.new_key("verbose", tokens_per_minute=1000)
    client = server.client(key)
    too_long = [{"role": "user", "content": " ".join(["w"] * 150)}]  # 150 tokens for a window of 100
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="fake-window", messages=too_long, max_tokens=10)
    assert caught.value.code == "context_length_exceeded"
    free = client.chat.completions.with_raw_response.create(model="fake-slow", messages=PROMPT, max_tokens=10)
    kept = 299 + BOUND_OVERHEAD
    assert free.headers["x-ratelimit-remaining-tokens"] == str(1000 - kept - 12)
