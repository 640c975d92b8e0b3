"""The recitation guard through a real gateway (uvicorn in this process, the official openai
client) whose backend answers what the test sets (the licence harness's echo backend, a token
a word): a `block` work is stopped before its limit, streamed and not, on both endpoints, and
the stream never carried more than the limit; the same answer without the work registered
goes out whole (the check would catch a leak); a `cite` work flows and is attributed; 240
neutral prompts with 120 works registered are never stopped; the events are written with
the usage record and a holder reads its own through GET /rights/events."""

from __future__ import annotations


import httpx
import pytest

import recitation_fixtures as fixtures
from licence.harness import WAIT_S, Echo, Host, wait_until
from revstream.gateway import _recitation as gateway_recitation
from revstream.recitation import LIMIT_WORDS_DEFAULT, fingerprint_text, words
from revstream.store import (
    add_holder,
    fingerprint_key,
    holder_events,
    index_directory,
    list_usage,
    new_holder_token,
    register_work,
)

MODEL = "llama-3.1-8b-instruct"
WORKS = fixtures.read_works()
BLOCKED = next(w for w in WORKS if w["mode"] == "block")
CITED = next(w for w in WORKS if w["mode"] == "cite")


def longest_shared_run(output: str, work: str) -> int:
    """The longest run of consecutive normalized words of `output` that appears in `work`."""
    source = words(work)
    positions: dict[str, list[int]] = {}
    for index, word in enumerate(source):
        positions.setdefault(word, []).append(index)
    best, previous = 0, {}
    for word in words(output):
        current = {i: previous.get(i - 1, 0) + 1 for i in positions.get(word, ())}
        best = max(best, *current.values(), 0)
        previous = current
    return best


def register(host: Host, works: list[dict]) -> dict[int, str]:
    """Register fixture works (by their text) as `works add` does; their work ids by number."""
    return register_in(host.engine, host.config.home / "recitation", works)


def register_in(engine, index_dir, works: list[dict]) -> dict[int, str]:
    directory = index_directory(engine, index_dir)
    key = fingerprint_key(engine)
    holders = set()
    ids = {}
    for work in works:
        if work["holder"] not in holders:
            add_holder(engine, work["holder"], 1)
            holders.add(work["holder"])
        row = register_work(engine, directory, work["holder"], work["title"], fingerprint_text(work["text"], key), 1,
                            mode=work["mode"])
        ids[work["number"]] = row.work_id
    return ids


def ask(host: Host, key: str, endpoint: str, stream: bool) -> tuple[str, str | None, dict | None]:
    """(text received, finish reason, the `recitation` object) of one request."""
    client = host.client(key)
    if endpoint == "chat":
        response = client.chat.completions.create(model=MODEL, max_tokens=900, stream=stream,
                                                  messages=[{"role": "user", "content": "Recite it"}])
    else:
        response = client.completions.create(model=MODEL, max_tokens=900, stream=stream, prompt="Recite it")
    if not stream:
        choice = response.choices[0]
        text = choice.message.content if endpoint == "chat" else choice.text
        return text, choice.finish_reason, (choice.model_extra or {}).get("recitation")
    parts, finish, recitation = [], None, None
    for chunk in response:
        for choice in chunk.choices:
            parts.append((choice.delta.content or "") if endpoint == "chat" else choice.text)
            finish = choice.finish_reason or finish
            recitation = (choice.model_extra or {}).get("recitation") or recitation
    return "".join(parts), finish, recitation


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """One host with every fixture work registered, one with none."""
    tmp = tmp_path_factory.mktemp("recitation-gateway")
    guarded = Host(f"sqlite:///{tmp / 'guarded.db'}", tmp / "guarded", models=(MODEL,))
    ids = register(guarded, WORKS)
    plain = Host(f"sqlite:///{tmp / 'plain.db'}", tmp / "plain", models=(MODEL,))
    with guarded, plain:
        yield {"guarded": guarded, "plain": plain, "ids": ids, "keys": (guarded.new_key("acme"), plain.new_key("acme"))}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("endpoint", ["chat", "completion"])
def test_a_block_work_is_stopped_before_its_limit(hosts, endpoint, stream):
    Echo.answer = "Of course. Here it is: " + BLOCKED["text"]
    text, finish, recitation = ask(hosts["plain"], hosts["keys"][1], endpoint, stream)
    assert finish == "stop" and recitation is None
    assert longest_shared_run(text, BLOCKED["text"]) == len(words(BLOCKED["text"]))  # unguarded: all of it

    text, finish, recitation = ask(hosts["guarded"], hosts["keys"][0], endpoint, stream)
    assert finish == "content_filter"
    assert recitation["action"] == "block" and recitation["work_id"] == hosts["ids"][BLOCKED["number"]]
    assert (recitation["title"], recitation["holder"]) == (BLOCKED["title"], BLOCKED["holder"])
    assert 0 < longest_shared_run(text, BLOCKED["text"]) <= LIMIT_WORDS_DEFAULT
    assert text.startswith("Of course. Here it is:")


def test_the_stop_is_billed_and_recorded_with_the_usage_record(hosts):
    host, key = hosts["guarded"], hosts["keys"][0]
    Echo.answer = BLOCKED["text"]
    response = host.client(key).chat.completions.with_raw_response.create(
        model=MODEL, max_tokens=900, messages=[{"role": "user", "content": "Recite it"}])
    request_id = response.headers["x-request-id"]
    body = response.parse()
    assert body.choices[0].finish_reason == "content_filter"
    # Usage up to the stop: more than what was sent, far less than the whole work.
    assert 0 < body.usage.completion_tokens < len(BLOCKED["text"].split(" "))
    record = wait_until(lambda: [r for r in list_usage(host.engine) if r.request_id == request_id
                                 and r.status == "ok"], "the final usage record")[0]
    assert record.tokens_completion == body.usage.completion_tokens
    [event] = [e for e in holder_events(host.engine, None) if e["request_id"] == request_id]
    assert (event["work_id"], event["action"], event["model"]) == (hosts["ids"][BLOCKED["number"]], "block", MODEL)
    assert len(event["window_hash"]) == 16


def test_a_cite_work_flows_and_is_attributed(hosts):
    Echo.answer = CITED["text"]
    for endpoint, stream in (("chat", False), ("chat", True), ("completion", True)):
        text, finish, recitation = ask(hosts["guarded"], hosts["keys"][0], endpoint, stream)
        assert finish == "stop"
        assert longest_shared_run(text, CITED["text"]) == len(words(CITED["text"]))
        assert recitation["action"] == "cite" and recitation["work_id"] == hosts["ids"][CITED["number"]]
        assert recitation["citations"] == [{"work_id": recitation["work_id"], "title": CITED["title"],
                                            "holder": CITED["holder"]}]


def test_no_neutral_prompt_is_stopped(hosts):
    prompts = fixtures.read_prompts()
    assert len(prompts) >= 200 and len(hosts["ids"]) >= 100
    client = hosts["guarded"].client(hosts["keys"][0])
    stopped = []
    for prompt in prompts:
        Echo.answer = fixtures.neutral_answer(prompt)
        response = client.chat.completions.create(model=MODEL, max_tokens=900,
                                                  messages=[{"role": "user", "content": prompt}])
        choice = response.choices[0]
        if choice.finish_reason != "stop" or (choice.model_extra or {}).get("recitation"):
            stopped.append(prompt)
        elif choice.message.content != Echo.answer:
            stopped.append(f"changed: {prompt}")
    assert stopped == []


def blocked_once(hosts, endpoint: str, stream: bool) -> tuple[str, str]:
    """Recite the blocked work once (its event recorded); a new token of its holder and the holder id."""
    host = hosts["guarded"]
    Echo.answer = BLOCKED["text"]
    ask(host, hosts["keys"][0], endpoint, stream)
    wait_until(lambda: [e for e in holder_events(host.engine, None) if e["action"] == "block"], "a block event")
    return new_holder_token(host.engine, BLOCKED["holder"])


def test_a_holder_reads_only_its_works_events(hosts):
    host = hosts["guarded"]
    token, holder_id = blocked_once(hosts, "chat", False)
    other, _ = new_holder_token(host.engine, next(w["holder"] for w in WORKS if w["holder"] != BLOCKED["holder"]
                                                 and w["holder"] != CITED["holder"]))
    url = host.base_url + "/rights/events"
    mine = httpx.get(url, headers={"authorization": f"Bearer {token}"}, timeout=WAIT_S)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["holder_id"] == holder_id and body["data"]
    assert {e["holder_id"] for e in body["data"]} == {holder_id}
    assert {c["work_id"] for c in body["counts"]} == {hosts["ids"][BLOCKED["number"]]}
    assert httpx.get(url, headers={"authorization": f"Bearer {other}"}, timeout=WAIT_S).json()["data"] == []
    month = httpx.get(url, params={"period": "1999-01"}, headers={"authorization": f"Bearer {token}"}, timeout=WAIT_S)
    assert month.json()["data"] == []
    assert body["next"] is None
    refused = httpx.get(url, headers={"authorization": "Bearer rshold-nope"}, timeout=WAIT_S)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_holder_token"
    bad = httpx.get(url, params={"period": "2026-13"}, headers={"authorization": f"Bearer {token}"}, timeout=WAIT_S)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "period"


def test_a_holder_pages_through_its_events(hosts, monkeypatch):
    host = hosts["guarded"]
    blocked_once(hosts, "chat", True)
    token, holder_id = blocked_once(hosts, "completion", False)  # a new token replaces the first
    monkeypatch.setattr(gateway_recitation, "RIGHTS_EVENTS_PAGE", 1)
    headers = {"authorization": f"Bearer {token}"}
    pages, cursor = [], None
    while True:
        params = {} if cursor is None else {"after": cursor}
        body = httpx.get(host.base_url + "/rights/events", params=params, headers=headers, timeout=WAIT_S).json()
        pages.append(body["data"])
        assert body["counts"] == [{"work_id": hosts["ids"][BLOCKED["number"]], "action": "block",
                                   "events": len(holder_events(host.engine, holder_id))}]
        cursor = body["next"]
        if cursor is None:
            break
    events = [event for page in pages for event in page]
    assert len(events) >= 2 and all(len(page) <= 1 for page in pages)
    assert [e["event_id"] for e in events] == [e["event_id"] for e in holder_events(host.engine, holder_id)]
    bad = httpx.get(host.base_url + "/rights/events", params={"after": "soon"}, headers=headers, timeout=WAIT_S)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "after"


def test_the_host_keeps_no_sentence_of_a_work(hosts):
    """Every file of the guarded host (its database, its index, its keys) holds hashes,
    titles and names only: no sentence of any registered work."""
    host = hosts["guarded"]
    home = host.config.home
    files = [path for path in [*home.rglob("*"), *home.parent.glob("guarded.db*")] if path.is_file()]
    assert any(path.suffix == ".rwi" for path in files)
    contents = b"".join(path.read_bytes() for path in files).decode("latin-1").lower()
    for work in WORKS:
        for sentence in work["text"].replace("\n", " ").split(". "):
            phrase = " ".join(sentence.split()[:6]).lower()
            assert len(phrase.split()) < 6 or phrase not in contents, (work["number"], phrase)
    assert BLOCKED["title"].lower() in contents  # the check reads the database for real


def test_the_dashboard_shows_a_holder_its_works(hosts):
    host = hosts["guarded"]
    token, holder_id = blocked_once(hosts, "completion", True)
    headers = {"authorization": f"Bearer {token}"}
    me = httpx.get(host.base_url + "/dashboard/api/me", headers=headers, timeout=WAIT_S).json()
    assert (me["view"], me["name"]) == ("holder", BLOCKED["holder"])
    rights = httpx.get(host.base_url + "/dashboard/api/holder/rights", headers=headers, timeout=WAIT_S).json()
    mine = [w for w in WORKS if w["holder"] == BLOCKED["holder"]]
    assert sorted(w["title"] for w in rights["works"]) == sorted(w["title"] for w in mine)
    [work] = [w for w in rights["works"] if w["work_id"] == hosts["ids"][BLOCKED["number"]]]
    assert work["blocked"] >= 1 and work["mode"] == "block"
    assert rights["events"] and {e["holder_id"] for e in rights["events"]} == {holder_id}
    customer = httpx.get(host.base_url + "/dashboard/api/holder/rights", timeout=WAIT_S,
                         headers={"authorization": f"Bearer {hosts['keys'][0]}"})
    assert customer.status_code == 403
    page = httpx.get(host.base_url + "/dashboard/", timeout=WAIT_S).text
    assert 'id="holder"' in page and "rights.js" in page
    assert httpx.get(host.base_url + "/dashboard/static/rights.js", timeout=WAIT_S).status_code == 200


def test_events_are_written_with_the_usage_record_on_both_stores(database_url, tmp_path):
    host = Host(database_url, tmp_path / "home", models=(MODEL,))
    ids = register(host, [BLOCKED, CITED])
    with host:
        Echo.answer = CITED["text"] + "\n\n" + BLOCKED["text"]
        response = host.client(host.new_key("acme")).completions.with_raw_response.create(
            model=MODEL, max_tokens=900, prompt="Both")
        assert response.parse().choices[0].finish_reason == "content_filter"
        request_id = response.headers["x-request-id"]
        wait_until(lambda: [r for r in list_usage(host.engine) if r.request_id == request_id and r.status == "ok"],
                   "the final usage record")
        events = holder_events(host.engine, None)
        assert sorted((e["request_id"], e["work_id"], e["action"]) for e in events) == sorted(
            [(request_id, ids[CITED["number"]], "cite"), (request_id, ids[BLOCKED["number"]], "block")])
