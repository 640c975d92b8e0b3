"""The advertiser view in a real browser (Debian's Chromium through Playwright): an advertiser
token sees its campaigns and their delivery per day, with figures equal to the store's
(`ads_report`), and nothing of any other advertiser."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from revstream.store import ads_report, new_advertiser_token
from revstream.store._ads_schema import ad_impressions

from tests.ads.harness import MODEL, AdsHost
from tests.licence.harness import Echo, wait_until

pytestmark = pytest.mark.browser
NEUTRAL = [{"role": "user", "content": "Which hiking boots should I buy for the Alps?"}]
SHOWN = 3


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    Echo.answer = "Pick waterproof boots."
    tmp = tmp_path_factory.mktemp("ads-browser")
    with AdsHost(f"sqlite:///{tmp / 'store.db'}", tmp / "home") as running:
        campaign = running.campaign()
        running.campaign(advertiser="Other Co", keywords=("tent",))
        client = running.client(running.customer("freebie"))
        for n in range(SHOWN):
            client.chat.completions.create(model=MODEL, messages=NEUTRAL,
                                           metadata={"age_band": "18_plus", "conversation_id": f"c{n}"})

        def delivered():
            with running.engine.connect() as connection:
                statuses = connection.execute(select(ad_impressions.c.status)).scalars().all()
            return statuses == ["delivered"] * SHOWN

        wait_until(delivered, "the impressions' delivery")
        yield running, campaign, new_advertiser_token(running.engine, "Trail Co")


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is missing: run `bash scripts/browser.sh` (make test does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


def rows(page, table_id: str) -> list[list[str]]:
    return page.evaluate(f"[...document.querySelectorAll('#{table_id} tbody tr')]"
                         ".map(r => [...r.cells].map(c => c.textContent))")


def test_the_advertiser_sees_its_delivery_as_the_store_has_it(host, browser):
    running, campaign, token = host
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(running.base_url + "/dashboard")
    page.fill("#token", token)
    page.click("#open")
    page.wait_for_selector("body[data-loaded='1']")
    assert "advertiser view · Trail Co" in page.text_content("#who")
    [shown] = rows(page, "advertiser-campaigns")
    assert shown[0] == campaign.campaign_id and shown[2] == "active" and shown[4] == str(SHOWN)
    [day] = rows(page, "advertiser-delivery")
    [expected] = ads_report(running.engine, day[0][:7], "Trail Co")["rows"]
    assert day[0] == expected["day"] and day[2:5] == [str(expected[n]) for n in ("impressions", "clicks", "refused_clicks")]
    assert expected["impressions"] == SHOWN and day[5] == "0.00%"
    assert day[6] == "0.003 USD" and int(expected["spend_nanos"]) == 3_000_000, "three impressions at 0.001"
    assert "Other Co" not in page.text_content("body")
    assert errors == []
    context.close()
