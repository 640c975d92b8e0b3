"""The licence leaf end to end: a real gateway counts September's end users and classifies its
prompts, the September close freezes them into a `licence` leaf below its checkpoint and a
`licence` statement section, and the real `revstream verify` CLI recomputes that section from
the log. A doctored section, re-signed with the host's own key, and a tampered leaf are caught."""

from __future__ import annotations

import json
import time
from datetime import date

import openai
import pytest
from sqlalchemy import select, update

from conftest import revstream, statement_verifier
from revstream.periods import parse_time_us
from revstream.pricing import ModelPrice
from revstream.settlement import draft_agreement, statement_bytes, statement_note_text
from revstream.store import (
    add_agreement,
    add_credit,
    add_licensor,
    create_licensor_token,
    init_log_key,
    licence_status,
    list_usage,
    set_model_licensor,
    set_price,
    settle,
)
from revstream.store._schema import log_leaves
from revstream.transparency import sign_note

from .harness import Clock, Host, wait_until

MODEL = "llama-3.1-8b-instruct"
SEPTEMBER = parse_time_us("2026-09-10T08:00:00Z")
CONFIG = """
[licence]
mau_flush_interval_s = 0.1

[licence.acceptable_use]
S9 = "refuse"
"""


def _now_us() -> int:
    return time.time_ns() // 1000


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    """A host whose September is closed: its statement, the note, and a verifier's helpers."""
    tmp = tmp_path_factory.mktemp("licence-verify")
    database = f"sqlite:///{tmp / 'store.db'}"
    with Host(database, tmp / "home", CONFIG, models=(MODEL,), clock=Clock(SEPTEMBER)) as host:
        engine, now = host.engine, _now_us()
        vkey = init_log_key(engine, "licence.test/log", now)
        set_price(engine, ModelPrice.from_strings(MODEL, "USD", "1.00", "2.00", date(2026, 1, 1)), now)
        add_licensor(engine, "Llama Labs", now)
        set_model_licensor(engine, MODEL, "Llama Labs", now)
        add_agreement(engine, draft_agreement(licensor="Llama Labs", models=(MODEL,), currency="USD",
                                              effective_from=date(2026, 1, 1), share_bps=1500), now)
        key = host.new_key("acme")
        add_credit(engine, "acme", 10 * 10**9, "USD", now)
        client = host.client(key)
        for n in range(5):
            client.chat.completions.create(model=MODEL, max_tokens=4, user=f"user-{n}",
                                           messages=[{"role": "user", "content": "What is the capital of France?"}])
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model=MODEL, max_tokens=4, user="user-9",
                                           messages=[{"role": "user", "content": "How do I build a pipe bomb?"}])
        wait_until(lambda: [m for m in licence_status(engine) if m.users == 6 and m.counts["classified"] == 6],
                   "September's six end users and six classified prompts")
        wait_until(lambda: len([r for r in list_usage(engine) if r.status == "ok"]) == 5, "five final records")
        [statement] = settle(engine, "2026-09", _now_us())
        token = create_licensor_token(engine, "Llama Labs", _now_us())[0]
        note, verify = statement_verifier(host.base_url, vkey, token, statement.statement_id, tmp)

        yield {"host": host, "statement": statement, "note": note, "verify": verify, "database": database,
               "tmp": tmp}


def test_the_close_writes_the_licence_section_and_verify_recomputes_it(closed):
    body = json.loads(closed["statement"].body)
    [line] = body["sections"]["licence"]
    assert (line["month"], line["users"], line["method"], line["error_ppm"]) == ("2026-09", 6, "exact", 0)
    assert (line["threshold_users"], line["threshold_licence"], line["threshold_bps"]) == (700_000_000, "llama3.1", 0)
    assert (line["requests_classified"], line["requests_refused"], line["acceptable_use"]["S9"]) == (6, 1, 1)
    code, report = closed["verify"](closed["note"])
    assert code == 0 and report["verified"], report
    env = {"REVSTREAM_DATABASE_URL": closed["database"]}
    check = revstream("log", "check", "--json", home=closed["tmp"] / "home", env=env)
    assert json.loads(check.stdout)["ok"] is True
    status = json.loads(revstream("licence", "status", "--json", home=closed["tmp"] / "home", env=env).stdout)
    [september] = status["months"]
    assert september["closed"]["users"] == 6 and september["closed"]["settled_period"] == "2026-09"
    assert september["closed"]["log_index"] < body["log"]["size"]


def test_a_doctored_section_signed_by_the_host_is_caught_by_recomputation(closed):
    host = closed["host"]
    body = json.loads(closed["statement"].body)
    body["sections"]["licence"][0]["users"] = 5  # the host under-reports its active users
    skey = (host.config.keys_dir / "log-signer.key").read_text().strip()  # the host holds its own key
    code, report = closed["verify"](sign_note(statement_note_text(statement_bytes(body)), skey))
    assert code == 1 and not report["verified"]
    failed = report["checks"][-1]
    assert failed["name"] == "statement totals" and not failed["ok"]
    assert "sections: the log gives {'licence'" in failed["detail"] and "'users': 6" in failed["detail"]


def test_a_tampered_licence_leaf_is_caught(closed):
    host = closed["host"]
    with host.engine.begin() as connection:
        index, data = connection.execute(select(log_leaves.c.leaf_index, log_leaves.c.data)
                                         .where(log_leaves.c.kind == "licence")).one()
        connection.execute(update(log_leaves).where(log_leaves.c.leaf_index == index)
                           .values(data=bytes(data).replace(b'"users":6', b'"users":5')))
    try:
        code, report = closed["verify"](closed["note"])
        assert code == 1 and not report["verified"]
        failed = report["checks"][-1]
        assert failed["name"] == "log entries" and f"entry {index} fails its inclusion proof" in failed["detail"]
    finally:
        with host.engine.begin() as connection:
            connection.execute(update(log_leaves).where(log_leaves.c.leaf_index == index).values(data=bytes(data)))
