"""A period close binds its statements to a signed checkpoint, on SQLite and PostgreSQL:
every record a statement settles is a leaf below it, late records land between two
closes, and the auditor's pure recomputation from the log reproduces each statement
byte for byte (also when the log key was created after earlier periods had closed)."""

from __future__ import annotations

import json
from datetime import date

from revstream.audit._recompute import Tally, differences, expected_statement, statement_facts
from revstream.pricing import ModelPrice, parse_price
from revstream.settlement import draft_agreement, statement_body_of_note_text, statement_bytes
from revstream.store import (
    add_agreement,
    add_licensor,
    import_usage,
    init_log_key,
    log_entries,
    make_engine,
    set_model_licensor,
    set_price,
    settle,
    upgrade,
)
from revstream.transparency import parse_checkpoint, verify_checkpoint, verify_note

NOW_US = 1_800_000_000_000_000  # 2027-01-15, after every period used here
SEPTEMBER = [{"request_id": f"s{i}", "time": f"2026-09-{i + 1:02d}T10:00:00Z", "customer": "acme", "model": "m1",
              "tokens_prompt": 1000 + i, "tokens_completion": 10 * i, "status": "ok"} for i in range(6)]
LATE = [{**SEPTEMBER[0], "request_id": "late", "time": "2026-09-29T00:00:00Z", "tokens_completion": 3}]
OCTOBER = [{**SEPTEMBER[0], "request_id": f"o{i}", "time": f"2026-10-0{i + 1}T00:00:00Z"} for i in range(3)]


def _host(database_url: str):
    engine = make_engine(database_url)
    upgrade(engine)
    set_price(engine, ModelPrice("m1", "USD", parse_price("0.20"), parse_price("0.60"), date(2026, 1, 1)), NOW_US)
    add_licensor(engine, "L", NOW_US)
    set_model_licensor(engine, "m1", "L", NOW_US)
    add_agreement(engine, draft_agreement(licensor="L", models=("m1",), currency="USD",
                                          effective_from=date(2026, 1, 1), share_bps=2000), NOW_US)
    return engine


def _import(engine, records) -> None:
    lines = [json.dumps(record).encode() + b"\n" for record in records]
    import_usage(engine, lambda: iter(lines), NOW_US)


def _recomputed(engine, value: dict, start: int) -> bytes:
    facts = statement_facts(value)
    tally = Tally(facts)
    index = start
    while index < facts.log.size:
        for data in log_entries(engine, index, facts.log.size):
            tally.add(index, data)
            index += 1
    return expected_statement(facts, tally, value)


def _statement(engine, vkey: str, period: str) -> tuple[dict, bytes]:
    [stored] = settle(engine, period, NOW_US)
    body = statement_body_of_note_text(verify_note(stored.signed_note, [vkey]))
    assert body == stored.body
    return json.loads(body), body


def test_statements_are_bound_to_checkpoints_and_recompute_from_the_log(database_url):
    engine = _host(database_url)
    vkey = init_log_key(engine, "example.com/log", NOW_US)
    _import(engine, SEPTEMBER)
    september, body = _statement(engine, vkey, "2026-09")
    log = september["log"]
    checkpoint = verify_checkpoint(log["checkpoint"], [vkey], "example.com/log")
    assert (checkpoint.size, log["previous_size"], log["start"]) == (6, 0, 0)
    assert september["prices"] == [{"model": "m1", "currency": "USD", "effective_from_us": 1_767_225_600_000_000,
                                    "input_nanos_per_mtok": 200_000_000, "output_nanos_per_mtok": 600_000_000}]
    assert _recomputed(engine, september, 0) == body

    _import(engine, LATE + OCTOBER)  # September is closed: the late record waits for October's close
    october, body = _statement(engine, vkey, "2026-10")
    assert (october["log"]["size"], october["log"]["previous_size"]) == (10, 6)
    assert [line["requests"] for line in october["adjustment_lines"]] == [1]
    assert october["lines"][0]["requests"] == 3
    assert _recomputed(engine, october, october["log"]["start"]) == body
    assert _recomputed(engine, october, 0) == body  # what --full reads

    # A statement whose figures were changed no longer matches what the log gives.
    cooked = {**october, "lines": [{**october["lines"][0], "tokens_prompt": 1}]}
    assert _recomputed(engine, cooked, 0) == body != statement_bytes(cooked)
    assert differences(json.loads(body), cooked) == [
        f"lines m1/api tokens_prompt: the log gives {october['lines'][0]['tokens_prompt']}, the statement says 1"]


def test_a_log_created_after_a_close_keeps_the_settled_records_below_its_base(database_url):
    engine = _host(database_url)
    _import(engine, SEPTEMBER)
    [unsigned] = settle(engine, "2026-09", NOW_US)
    assert unsigned.signed_note is None and json.loads(unsigned.body)["log"] is None
    _import(engine, LATE + OCTOBER)
    vkey = init_log_key(engine, "example.com/log", NOW_US)
    october, body = _statement(engine, vkey, "2026-10")
    # The six records September settled went in first, below the base: not adjustments.
    assert (october["log"]["previous_size"], october["log"]["size"]) == (6, 10)
    assert [line["requests"] for line in october["adjustment_lines"]] == [1]
    assert _recomputed(engine, october, 0) == body
    assert parse_checkpoint(verify_note(october["log"]["checkpoint"], [vkey])).size == 10
