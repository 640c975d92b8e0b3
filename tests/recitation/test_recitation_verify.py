"""Recitation events end to end: a real gateway stops a recited work in September, the event
becomes a `recitation` leaf below the September close's checkpoint and a `recitation`
statement section (per work and action), and the real `revstream verify` CLI recomputes that
section from the log. A doctored section, re-signed with the host's own key, and a tampered
leaf are caught."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest
from sqlalchemy import select, update

import recitation_fixtures as fixtures
from conftest import revstream, statement_verifier
from licence.harness import Clock, Echo, Host, wait_until
from revstream.periods import parse_time_us
from revstream.pricing import ModelPrice
from revstream.settlement import draft_agreement, statement_bytes, statement_note_text
from revstream.store import (
    add_agreement,
    add_credit,
    add_licensor,
    create_licensor_token,
    holder_events,
    init_log_key,
    list_usage,
    set_model_licensor,
    set_price,
    settle,
)
from revstream.store._schema import log_leaves
from revstream.transparency import sign_note

from test_recitation_gateway import register

MODEL = "llama-3.1-8b-instruct"
SEPTEMBER = parse_time_us("2026-09-10T08:00:00Z")
WORKS = fixtures.read_works()[:5]


def _now_us() -> int:
    return time.time_ns() // 1000


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recitation-verify")
    database = f"sqlite:///{tmp / 'store.db'}"
    host = Host(database, tmp / "home", models=(MODEL,), clock=Clock(SEPTEMBER))
    ids = register(host, WORKS)
    blocked, cited = (next(w for w in WORKS if w["mode"] == mode) for mode in ("block", "cite"))
    with host:
        engine, now = host.engine, _now_us()
        vkey = init_log_key(engine, "recitation.test/log", now)
        set_price(engine, ModelPrice.from_strings(MODEL, "USD", "1.00", "2.00", date(2026, 1, 1)), now)
        add_licensor(engine, "Llama Labs", now)
        set_model_licensor(engine, MODEL, "Llama Labs", now)
        add_agreement(engine, draft_agreement(licensor="Llama Labs", models=(MODEL,), currency="USD",
                                              effective_from=date(2026, 1, 1), share_bps=1500), now)
        add_credit(engine, "acme", 10 * 10**9, "USD", now)
        client = host.client(host.new_key("acme"))
        for answer in (blocked["text"], blocked["text"], cited["text"], "Nothing to see here."):
            Echo.answer = answer
            client.chat.completions.create(model=MODEL, max_tokens=900, messages=[{"role": "user", "content": "Go"}])
        wait_until(lambda: len([r for r in list_usage(engine) if r.status == "ok"]) == 4, "four final records")
        assert len(holder_events(engine, None)) == 3
        [statement] = settle(engine, "2026-09", _now_us())
        token = create_licensor_token(engine, "Llama Labs", _now_us())[0]
        note, verify = statement_verifier(host.base_url, vkey, token, statement.statement_id, tmp)

        yield {"host": host, "statement": statement, "note": note, "verify": verify, "tmp": tmp,
               "blocked": ids[blocked["number"]], "cited": ids[cited["number"]], "database": database}


def test_the_close_writes_the_recitation_section_and_verify_recomputes_it(closed):
    body = json.loads(closed["statement"].body)
    lines = body["sections"]["recitation"]
    assert [(line["work_id"], line["action"], line["events"]) for line in lines] == sorted(
        [(closed["blocked"], "block", 2), (closed["cited"], "cite", 1)])
    code, report = closed["verify"](closed["note"])
    assert code == 0 and report["verified"], report
    events = holder_events(closed["host"].engine, None)
    assert {e["settled_period"] for e in events} == {"2026-09"}
    assert all(e["log_index"] < body["log"]["size"] for e in events)
    check = revstream("log", "check", "--json", home=closed["tmp"] / "home",
                      env={"REVSTREAM_DATABASE_URL": closed["database"]})
    assert json.loads(check.stdout)["ok"] is True


def test_a_doctored_section_signed_by_the_host_is_caught(closed):
    host = closed["host"]
    body = json.loads(closed["statement"].body)
    body["sections"]["recitation"] = [line for line in body["sections"]["recitation"] if line["action"] != "block"]
    skey = (host.config.keys_dir / "log-signer.key").read_text().strip()
    code, report = closed["verify"](sign_note(statement_note_text(statement_bytes(body)), skey))
    assert code == 1 and not report["verified"]
    failed = report["checks"][-1]
    assert failed["name"] == "statement totals" and not failed["ok"] and "recitation" in failed["detail"]


def test_a_tampered_recitation_leaf_is_caught(closed):
    host = closed["host"]
    with host.engine.begin() as connection:
        index, data = next((index, bytes(data)) for index, data in connection.execute(
            select(log_leaves.c.leaf_index, log_leaves.c.data).where(log_leaves.c.kind == "recitation")
            .order_by(log_leaves.c.leaf_index)) if b'"action":"block"' in bytes(data))
        connection.execute(update(log_leaves).where(log_leaves.c.leaf_index == index)
                           .values(data=data.replace(b'"action":"block"', b'"action":"cite"')))
    try:
        code, report = closed["verify"](closed["note"])
        assert code == 1 and not report["verified"]
        failed = report["checks"][-1]
        assert failed["name"] == "log entries" and f"entry {index} fails its inclusion proof" in failed["detail"]
    finally:
        with host.engine.begin() as connection:
            connection.execute(update(log_leaves).where(log_leaves.c.leaf_index == index).values(data=bytes(data)))
