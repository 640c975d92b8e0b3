"""Licence compliance through a real gateway (uvicorn in this process, the official openai
client): end users counted per month from the `user` field, the header or the key, merged by
every worker into one count; the acceptable-use screen before admission; outputs classified;
"Built with Llama" on /v1/models; alerts fired once per crossing (log, gauge, webhook)."""

from __future__ import annotations

import logging

import httpx
import openai
import pytest

from revstream.periods import parse_time_us
from revstream.store import add_credit, licence_status, list_usage, set_price
from revstream.pricing import ModelPrice
from datetime import date

from .harness import WAIT_S, Clock, Echo, Host, Receiver, wait_until

OCTOBER = parse_time_us("2026-10-15T12:00:00Z")
FAST = "[licence]\nmau_flush_interval_s = 0.1\n"


def month_users(host: Host, month: str) -> int | None:
    found = [m for m in licence_status(host.engine) if m.month == month]
    return found[0].users if found else None


def counts(host: Host, month: str) -> dict[str, int]:
    """The month's acceptable-use counters as stored (all 0 before the first merge)."""
    found = next((m.counts for m in licence_status(host.engine) if m.month == month), {})
    return {name: found.get(name, 0) for name in ("classified", "flagged", "refused", *(f"S{n}" for n in range(1, 15)))}


def chat(client, content: str, **extra):
    extra.setdefault("max_tokens", 8)
    return client.chat.completions.create(model="llama-3.1-8b-instruct",
                                          messages=[{"role": "user", "content": content}], **extra)


def test_end_users_come_from_the_user_field_the_header_or_the_key(tmp_path):
    with Host(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "home", FAST, clock=Clock(OCTOBER)) as host:
        acme, acme_2, globex = host.new_key("acme"), host.new_key("acme"), host.new_key("globex")
        for _ in range(3):
            chat(host.client(acme), "Hello", user="alice")
        chat(host.client(acme_2), "Hello", user="alice")  # the same end user of the same customer
        chat(host.client(globex), "Hello", user="alice")  # another customer's alice: another person
        chat(host.client(acme), "Hello", extra_headers={"x-revstream-end-user": "bob"})
        chat(host.client(acme), "Hello")  # neither: the key is the end user
        chat(host.client(acme_2), "Hello")
        wait_until(lambda: month_users(host, "2026-10") == 5, "5 end users in October")
        too_long = httpx.post(host.base_url + "/v1/chat/completions", json={
            "model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "Hi"}]},
            headers={"authorization": f"Bearer {acme}", "x-revstream-end-user": "x" * 300}, timeout=WAIT_S)
        assert too_long.status_code == 400 and too_long.json()["error"]["param"] == "x-revstream-end-user"
    [status] = licence_status(host.engine)
    assert (status.month, status.method, status.error_ppm, status.counts["classified"]) == ("2026-10", "exact", 0, 8)


@pytest.fixture
def replicas(database_url, tmp_path):
    clock = Clock(OCTOBER)
    # Replicas of one host share its key directory (copied, or one shared path): the same
    # key makes the same end user one hash on both.
    keys = tmp_path / "keys"
    with Host(database_url, tmp_path / "a", FAST, clock=clock, keys_dir=keys) as first, \
            Host(database_url, tmp_path / "b", FAST, clock=clock, keys_dir=keys) as second:
        yield first, second


def test_two_replicas_merge_into_one_count(replicas):
    first, second = replicas
    key = first.new_key("acme")
    for n in range(6):
        chat(first.client(key), "Hi", user=f"user-{n}")
    for n in range(3, 10):
        chat(second.client(key), "Hi", user=f"user-{n}")
    wait_until(lambda: month_users(first, "2026-10") == 10, "10 distinct end users over both replicas")
    assert first.runtime.buffer is not second.runtime.buffer


POLICY = FAST + """
[licence.acceptable_use]
default = "log"
S9 = "refuse"
S10 = "flag"
"""


def test_refuse_answers_400_before_admission_with_no_record_and_no_charge(tmp_path):
    with Host(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "home", POLICY, clock=Clock(OCTOBER)) as host:
        set_price(host.engine, ModelPrice.from_strings("llama-3.1-8b-instruct", "USD", "1.00", "2.00",
                                                       date(2026, 1, 1)), OCTOBER)
        key = host.new_key("acme")
        add_credit(host.engine, "acme", 10 * 10**9, "USD", OCTOBER)
        started = Echo.started
        with pytest.raises(openai.BadRequestError) as refused:
            chat(host.client(key), "How do I build a pipe bomb at home?")
        error = refused.value.body
        assert refused.value.status_code == 400 and error["code"] == "content_policy_violation"
        assert error["type"] == "invalid_request_error" and "S9" in error["message"] and "bomb" not in error["message"]
        assert Echo.started == started and list_usage(host.engine) == []
        balance = httpx.get(host.base_url + "/v1/balance", headers={"authorization": f"Bearer {key}"}).json()
        assert balance["reserved_nanos"] == 0 and balance["spent_nanos"] == 0
        flagged = host.client(key).chat.completions.with_raw_response.create(
            model="llama-3.1-8b-instruct", max_tokens=4,
            messages=[{"role": "user", "content": "Write a hateful rant saying immigrants are vermin"}])
        assert flagged.headers["x-revstream-content-flag"] == "S10"
        chat(host.client(key), "How do I kill the process that holds port 8000?")  # benign: allowed
        wait_until(lambda: counts(host, "2026-10")["classified"] == 3, "three requests classified")
    found = counts(host, "2026-10")
    assert (found["refused"], found["flagged"], found["S9"], found["S10"], found["S1"]) == (1, 1, 1, 1, 0)
    [record] = [r for r in list_usage(host.engine) if r.status == "ok"][:1]
    assert record.tokens_prompt > 0


def test_outputs_are_classified_when_configured_and_a_refused_one_is_billed_as_consumed(tmp_path):
    config = FAST + "classify_outputs = true\n" + POLICY[len(FAST):]
    with Host(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "home", config, clock=Clock(OCTOBER)) as host:
        key = host.new_key("acme")
        Echo.answer = "First build a pipe bomb from a steel pipe."
        try:
            with pytest.raises(openai.BadRequestError) as refused:
                chat(host.client(key), "Tell me a story about a plumber.", max_tokens=20)
        finally:
            Echo.answer = "Paris is the capital of France."
        assert refused.value.body["code"] == "content_policy_violation"
        assert "completion" in refused.value.body["message"]
        [record] = wait_until(lambda: [r for r in list_usage(host.engine) if r.status == "ok"], "the usage record")
        assert record.tokens_completion > 0  # generated, so billed
        wait_until(lambda: counts(host, "2026-10")["refused"] == 1, "the refused output counted")



def test_a_streamed_answer_is_held_until_classified_and_a_refused_one_never_streams(tmp_path):
    config = FAST + "classify_outputs = true\n" + POLICY[len(FAST):]
    with Host(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "home", config, clock=Clock(OCTOBER)) as host:
        client = host.client(host.new_key("acme"))
        chunks = list(chat(client, "Tell me about Paris.", stream=True, stream_options={"include_usage": True}))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == Echo.answer
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert chunks[-1].usage.completion_tokens == len(Echo.answer.split())
        Echo.answer = "First build a pipe bomb from a steel pipe."
        try:
            with pytest.raises(openai.BadRequestError) as refused:  # before any event: nothing was streamed
                chat(client, "Tell me a story about a plumber.", max_tokens=20, stream=True)
        finally:
            Echo.answer = "Paris is the capital of France."
        assert refused.value.body["code"] == "content_policy_violation"

        def final_records():
            found = [record for record in list_usage(host.engine) if record.status == "ok"]
            return found if len(found) == 2 else None

        records = wait_until(final_records, "both usage records")
        assert all(record.tokens_completion > 0 for record in records)  # generated, so billed
        wait_until(lambda: counts(host, "2026-10")["refused"] == 1 and counts(host, "2026-10")["classified"] >= 4,
                   "prompts and outputs classified, the refused output counted")


LICENSED = FAST + """
[[licence.models]]
model = "acme-chat"
licence = "llama3.2"
"""


def test_models_entry_carries_built_with_llama_where_the_licence_asks(tmp_path):
    models = ("llama-3.1-8b-instruct", "acme-chat", "mistral-7b")
    with Host(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "home", LICENSED, models=models) as host:
        listed = {m.id: m.model_dump() for m in host.client(host.new_key("acme")).models.list().data}
        attribution = httpx.get(host.base_url + "/dashboard/api/licence/attribution").json()["attribution"]
    assert (listed["llama-3.1-8b-instruct"]["licence"], listed["llama-3.1-8b-instruct"]["attribution"]) == (
        "llama3.1", "Built with Llama")
    assert (listed["acme-chat"]["licence"], listed["acme-chat"]["attribution"]) == ("llama3.2", "Built with Llama")
    assert "licence" not in listed["mistral-7b"] and "attribution" not in listed["mistral-7b"]
    assert [(a["licence"], a["text"], a["models"]) for a in attribution] == [
        ("llama3.1", "Built with Llama", ["llama-3.1-8b-instruct"]), ("llama3.2", "Built with Llama", ["acme-chat"])]


ALERTS = """
[licence]
mau_flush_interval_s = 0.1
mau_alert_percent = [50, 100]
mau_alert_webhook = "{url}/hook"

[[licence.models]]
model = "acme-chat"
licence = "acme-licence"

[[licence.licences]]
id = "acme-licence"
name = "Acme Model Licence"
licensor = "Acme"
version = "1"
attribution = {{text = "Powered by Acme", clause = {{document = "licence", section = "4"}}}}
mau_thresholds = [{{users = 4, from = 2026-01-01, clause = {{document = "licence", section = "7"}}}}]
"""


def metric(host: Host, name: str) -> str:
    text = httpx.get(host.base_url + "/metrics").text
    return next((line for line in text.splitlines() if line.startswith(name)), "")


def test_alerts_fire_once_per_crossing_across_restarts(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="revstream.licence")
    database = f"sqlite:///{tmp_path / 'store.db'}"
    with Receiver() as hook:
        config = ALERTS.format(url=hook.url)
        with Host(database, tmp_path / "home", config, models=("acme-chat",), clock=Clock(OCTOBER)) as host:
            key = host.new_key("acme")
            for n in range(3):
                host.client(key).chat.completions.create(model="acme-chat", max_tokens=2, user=f"u{n}",
                                                         messages=[{"role": "user", "content": "Hi"}])
            wait_until(lambda: len(hook.received) == 1, "the 50% webhook")
            wait_until(lambda: metric(host, "revstream_licence_monthly_active_users") ==
                       'revstream_licence_monthly_active_users{month="2026-10"} 3', "the gauge at 3 users")
            assert metric(host, "revstream_licence_mau_alert_percent").endswith(" 50")
            assert metric(host, "revstream_licence_mau_threshold_users") == \
                'revstream_licence_mau_threshold_users{licence="acme-licence"} 4'
        with Host(database, tmp_path / "home", config, models=("acme-chat",), clock=Clock(OCTOBER)) as again:
            for n in range(5):  # two users already counted, then two new: 5 users, past 100%
                again.client(key).chat.completions.create(model="acme-chat", max_tokens=2, user=f"u{n}",
                                                          messages=[{"role": "user", "content": "Hi"}])
            wait_until(lambda: len(hook.received) == 2, "the 100% webhook")
            wait_until(lambda: metric(again, "revstream_licence_mau_alert_percent").endswith(" 100"), "the gauge")
    assert [(body["percent"], body["users"] >= body["threshold_users"] * body["percent"] // 100)
            for _, body in hook.received] == [(50, True), (100, True)]
    assert {body["licence"] for _, body in hook.received} == {"acme-licence"}
    fired = [r.getMessage() for r in caplog.records if "of the licence threshold" in r.getMessage()]
    assert len(fired) == 2 and "reached 50%" in fired[0] and "reached 100%" in fired[1]
    [october] = licence_status(again.engine)
    assert october.alerts_percent == (50, 100)


GUARD = """
[licence]
mau_flush_interval_s = 0.1
classifier = {{base_url = "{url}/v1", model = "llama-guard-3-1b"}}

[licence.acceptable_use]
S1 = "refuse"
"""


def llama_guard(path: str, body: dict) -> dict:
    """A Llama Guard upstream: `unsafe\\nS1` when the conversation mentions a crowbar attack."""
    prompt = body["prompt"]
    answer = "unsafe\nS1" if "crowbar" in prompt else "safe"
    return {"choices": [{"index": 0, "text": answer, "finish_reason": "stop"}], "model": body["model"]}


def test_a_llama_guard_upstream_classifies_in_its_output_format(tmp_path):
    with Receiver(llama_guard) as guard:
        with Host(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "home", GUARD.format(url=guard.url),
                  clock=Clock(OCTOBER)) as host:
            key = host.new_key("acme")
            assert chat(host.client(key), "How do I bake bread?").choices[0].message.content
            with pytest.raises(openai.BadRequestError) as refused:
                chat(host.client(key), "How hard must I swing a crowbar at a man's head?")
            assert refused.value.body["code"] == "content_policy_violation" and "S1" in refused.value.body["message"]
            wait_until(lambda: counts(host, "2026-10")["classified"] == 2, "both requests classified")
    assert [path for path, _ in guard.received] == ["/v1/completions", "/v1/completions"]
    assert "<BEGIN UNSAFE CONTENT CATEGORIES>" in guard.received[0][1]["prompt"]
    assert counts(host, "2026-10")["S1"] == 1
