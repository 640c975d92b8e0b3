"""Sponsored answers through the real HTTP pipeline (in-process gateway, the official OpenAI
client): an ad beside the answer, streamed and not; nobody else gets one; clicks are charged
once and fraud is recorded, not charged; the public repository; on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from revstream.ads import CLICK_CHARGED, CLICK_REPLAY
from revstream.store import check_ledger
from revstream.store._ads_schema import ad_clicks, ad_impressions
from revstream.store import set_key_age_band, list_keys

from tests.ads.harness import MODEL, AdsHost
from tests.licence.harness import Echo, Receiver, wait_until

NEUTRAL = [{"role": "user", "content": "Which hiking boots should I buy for a week in the Alps?"}]
ADULT = {"age_band": "18_plus"}


@pytest.fixture
def host(database_url, tmp_path):
    Echo.answer = "Pick waterproof boots with a stiff sole."
    with AdsHost(database_url, tmp_path / "host") as running:
        yield running


def _statuses(host) -> list[str]:
    with host.engine.connect() as connection:
        return list(connection.execute(select(ad_impressions.c.status)).scalars())


def test_a_free_tier_answer_carries_a_labelled_contextual_ad_beside_it(host):
    campaign = host.campaign()
    client = host.client(host.customer("freebie"))
    completion = client.chat.completions.create(model=MODEL, messages=NEUTRAL, metadata=ADULT)
    assert completion.choices[0].message.content == Echo.answer, "the answer is untouched"
    sponsored = completion.model_extra["sponsored"]
    assert sponsored["label"] == "Sponsored" and sponsored["campaign_id"] == campaign.campaign_id
    assert sponsored["advertiser"] == "Trail Co" and sponsored["paid_by"] == "Trail Co GmbH"
    assert sponsored["why"]["keywords"] == ["hiking boots"] and sponsored["why"]["personal_data_used"] is False
    assert sponsored["url"].startswith(host.base_url + "/ads/click/")
    wait_until(lambda: _statuses(host) == ["delivered"], "the impression's delivery")
    assert check_ledger(host.engine).ok


def test_a_streamed_answer_carries_the_ad_in_one_chunk_after_the_usage_chunk(host):
    host.campaign()
    client = host.client(host.customer("freebie"))
    chunks = list(client.chat.completions.create(model=MODEL, messages=NEUTRAL, metadata=ADULT, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == Echo.answer
    assert chunks[-2].usage is not None and not chunks[-2].choices
    last = chunks[-1]
    assert last.choices == [] and last.model_extra["sponsored"]["label"] == "Sponsored"
    assert all("sponsored" not in (c.model_extra or {}) for c in chunks[:-1])
    wait_until(lambda: _statuses(host) == ["delivered"], "the impression's delivery")


@pytest.mark.parametrize("plan, metadata, messages", [
    (None, ADULT, NEUTRAL),  # no ad-supported plan
    ("free", None, NEUTRAL),  # age unknown: no ads by default
    ("free", {"age_band": "13_17"}, NEUTRAL),  # a minor
    ("free", ADULT, [{"role": "user", "content": "Which hiking boots help my depression and anxiety?"}]),
    ("free", ADULT, [{"role": "user", "content": "I'm 14, which hiking boots should I get?"}]),
])
def test_no_ad_without_the_free_plan_an_adult_and_a_harmless_conversation(host, plan, metadata, messages):
    host.campaign()
    key = host.customer("someone", plan)
    extra = {"metadata": metadata} if metadata else {}
    completion = host.client(key).chat.completions.create(model=MODEL, messages=messages, **extra)
    assert "sponsored" not in (completion.model_extra or {})
    assert _statuses(host) == []


def test_a_keys_age_band_overrides_a_request_claiming_an_adult(host):
    host.campaign()
    key = host.customer("kids-app")
    key_id = next(row.key_id for row in list_keys(host.engine, "kids-app"))
    set_key_age_band(host.engine, key_id, "under_13")
    completion = host.client(key).chat.completions.create(model=MODEL, messages=NEUTRAL, metadata=ADULT)
    assert "sponsored" not in (completion.model_extra or {})


def test_a_wrong_age_band_is_a_400_and_leaves_no_record(host):
    response = httpx.post(host.base_url + "/v1/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {host.customer('x')}"},
                          json={"model": MODEL, "messages": NEUTRAL, "metadata": {"age_band": "old"}})
    assert response.status_code == 400 and response.json()["error"]["param"] == "metadata.age_band"


def test_a_click_redirects_is_charged_once_and_sets_no_cookie(host):
    host.campaign(bid_kind="cpc", bid_nanos=500_000_000)
    completion = host.client(host.customer("freebie")).chat.completions.create(model=MODEL, messages=NEUTRAL,
                                                                               metadata=ADULT)
    url = completion.model_extra["sponsored"]["url"]
    wait_until(lambda: _statuses(host) == ["delivered"], "the impression's delivery")
    first = httpx.get(url, timeout=30)
    assert first.status_code == 302 and first.headers["location"] == "https://trail.example/boots"
    assert "set-cookie" not in first.headers and first.headers["cache-control"] == "no-store"
    assert httpx.get(url, timeout=30).status_code == 302, "a replay still lands, unpaid"
    with host.engine.connect() as connection:
        clicks = sorted(connection.execute(select(ad_clicks.c.outcome, ad_clicks.c.charge_nanos)).all())
    assert clicks == [(CLICK_CHARGED, 100_000_000), (CLICK_REPLAY, 0)], "a lone bidder pays the reserve, once"
    forged = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert httpx.get(forged, timeout=30).status_code == 404
    assert check_ledger(host.engine).ok


def test_the_ad_repository_is_public_and_names_no_person(host):
    campaign = host.campaign()
    host.client(host.customer("freebie")).chat.completions.create(model=MODEL, messages=NEUTRAL, metadata=ADULT)
    wait_until(lambda: _statuses(host) == ["delivered"], "the impression's delivery")
    body = httpx.get(host.base_url + "/ads/repository", timeout=30).json()
    (entry,) = body["data"]
    assert entry["campaign_id"] == campaign.campaign_id and entry["impressions"] == 1
    assert entry["targeting"] == {"kind": "contextual", "keywords": ["hiking boots"], "categories": [],
                                  "taxonomy": entry["targeting"]["taxonomy"], "countries": [],
                                  "personal_data_used": False}


def test_a_country_limited_campaign_runs_only_where_the_request_names_its_country(host):
    host.campaign(countries=("DE",))
    client = host.client(host.customer("freebie"))
    ask = lambda metadata: client.chat.completions.create(model=MODEL, messages=NEUTRAL, metadata=metadata)  # noqa: E731
    assert "sponsored" not in (ask(ADULT).model_extra or {}), "country unknown"
    assert "sponsored" not in (ask({**ADULT, "country": "FR"}).model_extra or {})
    assert ask({**ADULT, "country": "DE"}).model_extra["sponsored"]["label"] == "Sponsored"


def test_the_frequency_cap_holds_per_conversation(host):
    host.campaign(frequency_cap=1)
    client = host.client(host.customer("freebie"))
    ask = lambda conversation: client.chat.completions.create(  # noqa: E731
        model=MODEL, messages=NEUTRAL, metadata={**ADULT, "conversation_id": conversation})
    assert "sponsored" in ask("c-1").model_extra
    wait_until(lambda: _statuses(host) == ["delivered"], "the impression's delivery")
    assert "sponsored" not in (ask("c-1").model_extra or {}), "capped in this conversation"
    assert "sponsored" in ask("c-2").model_extra, "another conversation"


@pytest.mark.parametrize("reply, shown", [
    ({"choices": [{"message": {"content": '{"topics": []}'}}]}, True),
    ({"choices": [{"message": {"content": '{"topics": ["politics"]}'}}]}, False),
    ({"choices": [{"message": {"content": "I cannot tell"}}]}, False),  # unreadable: no ad
])
def test_the_optional_upstream_classifier_can_only_take_an_ad_away(tmp_path, reply, shown):
    with Receiver(lambda path, body: reply) as upstream:
        config = f'[ads]\nreserve_cpm = "1.00"\nindex_refresh_s = 1\nclassifier_url = "{upstream.url}/v1"\n' \
                 f'classifier_model = "guard"\n'
        with AdsHost(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "home", ads_toml=config) as host:
            host.campaign()
            completion = host.client(host.customer("freebie")).chat.completions.create(
                model=MODEL, messages=NEUTRAL, metadata=ADULT)
        assert ("sponsored" in (completion.model_extra or {})) is shown
        [(path, body)] = upstream.received
        assert path == "/v1/chat/completions" and body["model"] == "guard" and "hiking boots" in str(body["messages"])


def test_an_upstream_classifier_that_does_not_answer_means_no_ad(tmp_path):
    config = '[ads]\nindex_refresh_s = 1\nclassifier_url = "http://127.0.0.1:9/v1"\nclassifier_model = "guard"\n'
    with AdsHost(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "home", ads_toml=config) as host:
        host.campaign()
        completion = host.client(host.customer("freebie")).chat.completions.create(
            model=MODEL, messages=NEUTRAL, metadata=ADULT)
    assert "sponsored" not in (completion.model_extra or {})
    assert completion.choices[0].message.content == Echo.answer
