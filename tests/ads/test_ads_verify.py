"""The `ads` stream settled and verified: September's delivered impressions become the ads
line of the statement at the agreement's ads share, `revstream verify` recomputes it from the
impression leaves, and a tampered impression leaf or an under-reported ads line is caught."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest
from sqlalchemy import select, update

from conftest import statement_verifier
from revstream.periods import parse_time_us
from revstream.pricing import ModelPrice
from revstream.settlement import draft_agreement, statement_bytes, statement_note_text
from revstream.store import (
    add_agreement,
    add_licensor,
    create_licensor_token,
    init_log_key,
    list_usage,
    set_model_licensor,
    set_price,
    settle,
)
from revstream.store._ads_schema import ad_impressions
from revstream.store._schema import log_leaves
from revstream.transparency import sign_note

from tests.ads.harness import MODEL, AdsHost
from tests.licence.harness import Clock, Echo, wait_until

SEPTEMBER = parse_time_us("2026-09-10T08:00:00Z")
IMPRESSIONS = 3
CHARGE_NANOS = 1_000_000
"""A lone CPM bidder pays the reserve of 1.00 per 1,000 impressions."""


def _now_us() -> int:
    return time.time_ns() // 1000


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ads-verify")
    database = f"sqlite:///{tmp / 'store.db'}"
    Echo.answer = "Pick waterproof boots."
    with AdsHost(database, tmp / "home", clock=Clock(SEPTEMBER)) as host:
        engine, now = host.engine, _now_us()
        vkey = init_log_key(engine, "ads.test/log", now)
        set_price(engine, ModelPrice.from_strings(MODEL, "USD", "1.00", "2.00", date(2026, 1, 1)), now)
        add_licensor(engine, "Llama Labs", now)
        set_model_licensor(engine, MODEL, "Llama Labs", now)
        add_agreement(engine, draft_agreement(licensor="Llama Labs", models=(MODEL,), currency="USD",
                                              effective_from=date(2026, 1, 1), share_bps=1500,
                                              stream_shares=("ads:3000",)), now)
        host.campaign()
        client = host.client(host.customer("freebie", from_us=SEPTEMBER - 1_000_000))
        for n in range(IMPRESSIONS):
            completion = client.chat.completions.create(
                model=MODEL, metadata={"age_band": "18_plus", "conversation_id": f"c{n}"},
                messages=[{"role": "user", "content": "Which hiking boots for the Alps?"}])
            assert completion.model_extra["sponsored"]["label"] == "Sponsored"

        def delivered():
            with engine.connect() as connection:
                return connection.execute(select(ad_impressions.c.status)).scalars().all() == ["delivered"] * IMPRESSIONS

        wait_until(delivered, "three delivered impressions")
        wait_until(lambda: len([r for r in list_usage(engine) if r.status == "ok"]) == IMPRESSIONS, "final records")
        [statement] = settle(engine, "2026-09", _now_us())
        token = create_licensor_token(engine, "Llama Labs", _now_us())[0]
        note, verify = statement_verifier(host.base_url, vkey, token, statement.statement_id, tmp)

        yield {"host": host, "statement": statement, "note": note, "verify": verify}


def test_the_ads_line_is_settled_at_the_ads_share_and_verify_recomputes_it(closed):
    body = json.loads(closed["statement"].body)
    ads = [line for line in body["lines"] if line["stream"] == "ads"]
    assert len(ads) == 1 and ads[0]["model"] == MODEL
    assert ads[0]["gross_nanos"] == IMPRESSIONS * CHARGE_NANOS, ads
    code, report = closed["verify"](closed["note"])
    assert code == 0 and report["verified"], report


def test_a_tampered_impression_leaf_is_caught(closed):
    host = closed["host"]
    with host.engine.begin() as connection:
        index, data = connection.execute(select(log_leaves.c.leaf_index, log_leaves.c.data)
                                         .where(log_leaves.c.kind == "impression").limit(1)).one()
        forged = bytes(data).replace(b'"charge_nanos":1000000', b'"charge_nanos":999')
        assert forged != bytes(data)
        connection.execute(update(log_leaves).where(log_leaves.c.leaf_index == index).values(data=forged))
    try:
        code, report = closed["verify"](closed["note"])
        assert code == 1 and not report["verified"]
        failed = report["checks"][-1]
        assert failed["name"] == "log entries" and f"entry {index} fails its inclusion proof" in failed["detail"]
    finally:
        with host.engine.begin() as connection:
            connection.execute(update(log_leaves).where(log_leaves.c.leaf_index == index).values(data=bytes(data)))


def test_an_under_reported_ads_line_signed_by_the_host_is_refused(closed):
    host = closed["host"]
    body = json.loads(closed["statement"].body)
    line = next(line for line in body["lines"] if line["stream"] == "ads")
    line["gross_nanos"] -= CHARGE_NANOS  # the host hides one impression's revenue
    skey = (host.config.keys_dir / "log-signer.key").read_text().strip()  # the host holds its own key
    code, report = closed["verify"](sign_note(statement_note_text(statement_bytes(body)), skey))
    assert code == 1 and not report["verified"]
    failed = report["checks"][-1]
    assert not failed["ok"] and "gross adds up to 2000000, total says 3000000" in failed["detail"], failed
