"""Issue 12, items 2 and 4 (third part), through the real HTTP pipeline and the real CLI, on
SQLite and the real PostgreSQL:

- a budget created in the middle of its window counts what was already spent in it;
- a plan's request inside its included tokens is recorded as charge 0 with the included
  tokens and the plan named (not a null charge), in `GET /v1/usage`, `revstream usage --json`,
  and `ledger check`'s re-pricing agrees.
"""

from __future__ import annotations

import json
import time
from datetime import date

import httpx
import openai
import pytest

from revstream.money import parse_amount
from revstream.plans import draft_plan, period_bounds_s, period_of_s
from revstream.pricing import ModelPrice
from revstream.store import add_credit, check_ledger, set_price
from revstream.store._plans import add_plan, subscribe

from conftest import revstream
from inprocess import InProcessServer

PROMPT = [{"role": "user", "content": "a b"}]  # two prompt tokens; fake-echo answers five
ONE_TOKEN_IN, ONE_TOKEN_OUT = 1_000_000, 2_000_000  # nanos per token at 1000 / 2000 USD per Mtok
CHARGE = 2 * ONE_TOKEN_IN + 5 * ONE_TOKEN_OUT  # 0.012 USD
US = 1_000_000


def now_us() -> int:
    return time.time_ns() // 1000


@pytest.fixture
def server(database_url, tmp_path):
    with InProcessServer(database_url, tmp_path) as running:
        set_price(running.engine, ModelPrice.from_strings("fake-echo", "USD", "1000", "2000", date(2020, 1, 1)), now_us())
        yield running


def cli(server, *args: str, check: bool = True):
    """The real CLI on the server's store."""
    return revstream(*args, home=server.config.home,
                     env={"REVSTREAM_DATABASE_URL": server.config.store.database_url}, check=check)


def cli_json(server, *args: str):
    return json.loads(cli(server, *args, "--json").stdout)


def ask(server, key: str | None = None):
    return server.client(key).chat.completions.create(model="fake-echo", messages=PROMPT, max_tokens=10)


@pytest.mark.parametrize("period", ["lifetime", "month", "day"])
def test_a_budget_set_after_spending_counts_what_was_spent_in_its_window(server, period):
    add_credit(server.engine, "pipeline", parse_amount("10.00", "USD"), "USD", now_us())
    for _ in range(3):
        ask(server)
        server.records()  # final: 0.036 spent in all
    cli(server, "budgets", "set", "--customer", "pipeline", "--period", period, "--amount", "0.03")
    [budget] = cli_json(server, "budgets", "list")
    assert budget["spent_nanos"] == 3 * CHARGE and budget["reserved_nanos"] == 0
    with pytest.raises(openai.RateLimitError) as caught:
        ask(server)
    assert caught.value.code == "insufficient_quota" and "budget" in caught.value.message
    assert len(server.records()) == 3, "the refused request was never served"


def test_a_key_budget_counts_only_that_keys_spending(server):
    add_credit(server.engine, "pipeline", parse_amount("10.00", "USD"), "USD", now_us())
    other = server.new_key("pipeline")
    for key in (None, other, other):
        ask(server, key)
        server.records()
    [first, _] = sorted(cli_json(server, "keys", "list"), key=lambda k: k["created"])
    cli(server, "budgets", "set", "--customer", "pipeline", "--key", first["key_id"], "--period", "lifetime",
        "--amount", "0.035")
    [budget] = cli_json(server, "budgets", "list")
    assert budget["spent_nanos"] == CHARGE, "only the key's own request counts"
    ask(server)  # 0.012 + a hold of 0.022 fits in 0.035
    server.records()
    with pytest.raises(openai.RateLimitError):
        ask(server)  # 0.024 + 0.022 does not


def _subscribe(server, **terms) -> str:
    plan, _ = add_plan(server.engine, draft_plan(name="starter", kind="subscription", fee="5.00", **terms), now_us())
    month_start = period_bounds_s(period_of_s(now_us() // US))[0] * US
    subscribe(server.engine, "pipeline", "starter", month_start, now_us())
    return plan.plan_id


def test_usage_inside_included_tokens_is_charged_zero_and_names_its_included_tokens(server):
    plan_id = _subscribe(server, tokens_included=1000)
    assert ask(server).usage.completion_tokens == 5
    [record] = server.records()
    assert (record.charge_nanos, record.reserved_nanos, record.tokens_included, record.plan_id) == (0, None, 7, plan_id)
    [mine] = httpx.get(server.v1 + "/usage", headers={"Authorization": f"Bearer {server.key}"}).json()["data"]
    assert (mine["charge_nanos"], mine["tokens_included"], mine["plan_id"], mine["stream"]) == (0, 7, plan_id, "subscription")
    [listed] = cli_json(server, "usage")
    assert (listed["charge_nanos"], listed["tokens_included"], listed["plan_id"]) == (0, 7, plan_id)
    check = check_ledger(server.engine)
    assert check.ok, check
    assert cli_json(server, "ledger", "check")["ok"]


def test_overage_beyond_included_tokens_is_charged_and_the_included_part_named(server):
    add_credit(server.engine, "pipeline", parse_amount("1.00", "USD"), "USD", now_us())
    plan_id = _subscribe(server, tokens_included=10, overage_per_mtok="1000")  # 0.001 USD a token over
    ask(server)  # reserves 10 included tokens and 2 of overage; uses 7
    server.records()  # final: the next admission sees what it used
    ask(server)  # 3 included left: reserves 3 and 9 of overage; uses 3 included and 4 over
    records = sorted(server.records(), key=lambda r: r.tokens_included)
    assert [(r.charge_nanos, r.tokens_included, r.plan_id) for r in records] == [(4 * 1_000_000, 3, plan_id),
                                                                                   (0, 7, plan_id)]
    assert records[0].ledger_entry_id is not None and records[1].ledger_entry_id is None
    check = check_ledger(server.engine)
    assert check.ok, check
