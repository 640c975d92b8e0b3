"""The foundations, end to end through a real host and the real `revstream verify`:

* a store and log written by the code before leaves were typed (`data/v1_store.db`, made by
  `data/make_v1_store.py` at commit bc66074), opened and extended by today's code: the old
  statement (fees declared, version-1 leaves) and the new one (fees proven) both verify;
* a month of 10^12 USD of usage settles, signs and verifies, amounts beyond 2^53 exact;
* fees: a plan that served nothing, a plan open to every model that served nothing, a
  commit minimum, and an agreement that starts mid-month: every fee lands on statement
  lines by the documented rule, and the verifier recomputes each from the log.

Months close in order on the one host: February, March, April.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path

import httpx
import pytest

from conftest import Server, revstream, start_server
from revstream.money import parse_amount
from revstream.plans import draft_plan
from revstream.pricing import ModelPrice
from revstream.settlement import draft_agreement
from revstream.store import (
    add_agreement,
    add_credit,
    add_licensor,
    create_licensor_token,
    import_usage,
    list_statements,
    make_engine,
    set_model_licensor,
    set_price,
    settle,
)
from revstream.store._plans import add_plan, subscribe

DATA = Path(__file__).parent / "data"
US = 1_000_000
UNIT = 1_000_000_000


def _now_us() -> int:
    return time.time_ns() // 1000


def _us(text: str) -> int:
    from revstream.periods import parse_time_us
    return parse_time_us(text)


@dataclass
class Host:
    server: Server
    tmp: Path

    @property
    def engine(self):
        return make_engine(f"sqlite:///{self.server.home / 'revstream.db'}", self.server.home / "keys")

    def note(self, period: str, licensor: str) -> Path:
        engine = self.engine
        token = create_licensor_token(engine, licensor, _now_us())[0]
        [stored] = [s for s in list_statements(engine, period) if s.licensor_id == _licensor_id(engine, licensor)]
        engine.dispose()
        response = httpx.get(f"{self.server.base_url}/transparency/statements/{stored.statement_id}",
                             headers={"authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200, response.text
        path = self.tmp / f"{period}-{licensor.replace(' ', '_')}-{time.monotonic_ns()}.note"
        path.write_text(response.text)
        return path

    def verify(self, note: Path, licensor: str) -> dict:
        engine = self.engine
        token = create_licensor_token(engine, licensor, _now_us())[0]
        engine.dispose()
        vkey = (DATA / "v1_store.vkey").read_text().strip()
        result = revstream("verify", "--host", self.server.base_url, "--vkey", vkey, "--statement", str(note),
                           "--state", str(self.tmp / f"state-{licensor.replace(' ', '_')}"), "--token", token, "--json",
                           home=self.tmp / "licensor", check=False)
        report = json.loads(result.stdout)
        assert result.returncode == 0 and report["verified"], report
        return report

    def settle(self, period: str) -> dict[str, dict]:
        engine = self.engine
        statements = settle(engine, period, _now_us())
        engine.dispose()
        return {json.loads(s.body)["licensor"]: json.loads(s.body) for s in statements}


def _licensor_id(engine, name: str) -> str:
    from revstream.store import list_licensors
    return next(row.licensor_id for row in list_licensors(engine) if row.name == name)


def _import(engine, records: list[dict]) -> None:
    lines = [json.dumps(record).encode() + b"\n" for record in records]
    import_usage(engine, lambda: iter(lines), _now_us())


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("foundations")
    home = tmp / "host"
    home.mkdir()
    shutil.copy(DATA / "v1_store.db", home / "revstream.db")
    server = start_server(home)  # migrates the old store: money pairs, typed leaves, fees
    yield Host(server, tmp)
    server.stop()


def test_a_log_of_version_1_leaves_extended_by_todays_code_verifies(host):
    old = DATA / "v1_statement_2026-01.note"
    report = host.verify(old, "Legacy Labs")
    assert report["period"] == "2026-01"
    engine = host.engine
    _import(engine, [{"request_id": f"feb-{n}", "time": f"2026-02-{n + 2:02d}T10:00:00Z", "customer": "payg",
                      "model": "llama-v1", "tokens_prompt": 5000, "tokens_completion": 700, "status": "ok"}
                     for n in range(4)])
    engine.dispose()
    february = host.settle("2026-02")["Legacy Labs"]
    assert february["format"] == 2 and "fees" not in february
    # The plan subscribed in January still runs: its February fee is a leaf, settled evenly
    # on its one model because it served nothing in February.
    lines = {(line["model"], line["stream"]): line for line in february["lines"]}
    assert lines[("llama-v1", "subscription")]["gross_nanos"] == 30 * UNIT
    report = host.verify(host.note("2026-02", "Legacy Labs"), "Legacy Labs")
    assert "continues the statements verified before" in report["checks"][-1]["detail"]
    check = revstream("log", "check", "--json", home=host.server.home)
    assert json.loads(check.stdout)["ok"] is True


def test_a_month_of_a_trillion_dollars_settles_and_verifies(host):
    engine = host.engine
    now = _now_us()
    set_price(engine, ModelPrice.from_strings("giant", "USD", "1000000000", "1000000000", date(2026, 3, 1)), now)
    add_licensor(engine, "Giant Labs", now)
    set_model_licensor(engine, "giant", "Giant Labs", now)
    add_agreement(engine, draft_agreement(licensor="Giant Labs", models=("giant",), currency="USD",
                                          effective_from=date(2026, 3, 1), share_bps=1500), now)
    # 1,000 requests of a million tokens at 10^9 USD per million tokens: 10^12 USD.
    _import(engine, [{"request_id": f"giant-{n}", "time": f"2026-03-{n % 28 + 1:02d}T{n % 24:02d}:00:00Z",
                      "customer": f"cloud{n % 7}", "model": "giant", "tokens_prompt": 600_000,
                      "tokens_completion": 400_000, "status": "ok"} for n in range(1000)])
    engine.dispose()
    giant = host.settle("2026-03")["Giant Labs"]
    gross = 10**12 * UNIT
    assert giant["gross_total_nanos"] == str(gross)
    assert giant["share_total_nanos"] == str(gross * 15 // 100)
    assert giant["share_total_minor"] == 10**12 * 15 // 100 * 100  # within 2^53: a number
    report = host.verify(host.note("2026-03", "Giant Labs"), "Giant Labs")
    assert report["share_total_minor"] == 10**12 * 15 // 100 * 100
    ledger = revstream("ledger", "check", "--json", home=host.server.home)
    assert json.loads(ledger.stdout)["ok"] is True


def test_every_fee_lands_on_a_statement_line_and_is_recomputed_from_the_log(host):
    engine = host.engine
    now = _now_us()
    set_price(engine, ModelPrice.from_strings("mid", "USD", "0.10", "0.30", date(2026, 4, 1)), now)
    add_licensor(engine, "Mid Labs", now)
    set_model_licensor(engine, "mid", "Mid Labs", now)
    add_agreement(engine, draft_agreement(licensor="Mid Labs", models=("mid",), currency="USD",
                                          effective_from=date(2026, 4, 16), share_bps=2000), now)
    add_plan(engine, draft_plan(name="mid-plan", kind="subscription", fee="30.00", tokens_included=10,
                                models=("mid",)), now)
    add_plan(engine, draft_plan(name="idle-pair", kind="subscription", fee="10.00", tokens_included=10,
                                models=("llama-v1", "mid")), now)
    add_plan(engine, draft_plan(name="open", kind="subscription", fee="9.00", tokens_included=10), now)
    add_plan(engine, draft_plan(name="commit", kind="commit", minimum="50.00", discount_bps=1000,
                                models=("llama-v1",)), now)
    for customer, plan in (("m1", "mid-plan"), ("i1", "idle-pair"), ("o1", "open"), ("c1", "commit")):
        add_credit(engine, customer, parse_amount("100.00", "USD"), "USD", now)
        subscribe(engine, customer, plan, _us("2026-04-01"), _us("2026-04-01"))
    engine.dispose()
    april = host.settle("2026-04")
    legacy = {(line["model"], line["stream"]): line["gross_nanos"] for line in april["Legacy Labs"]["lines"]}
    mid = {(line["model"], line["stream"]): line["gross_nanos"] for line in april["Mid Labs"]["lines"]}
    giant = {(line["model"], line["stream"]): line["gross_nanos"] for line in april["Giant Labs"]["lines"]}
    # "idle-pair" served nothing: 5.00 on each of its two models; "open" served nothing and
    # lists no model: 9.00 evenly over every priced model (giant, llama-v1, mid: 3.00 each).
    # Mid Labs' agreement starts on the 16th: it settles 15/30 of every fee share of "mid".
    assert legacy[("llama-v1", "subscription")] == 5 * UNIT + 3 * UNIT + 30 * UNIT  # + the pro plan from January
    assert giant[("giant", "subscription")] == 3 * UNIT
    assert mid[("mid", "subscription")] == round(Fraction((30 + 5 + 3) * UNIT * 15, 30))
    # The commit plan served nothing: its whole minimum is topped up, on the api stream.
    assert legacy[("llama-v1", "api")] == 50 * UNIT
    for licensor in ("Legacy Labs", "Mid Labs", "Giant Labs"):
        host.verify(host.note("2026-04", licensor), licensor)
