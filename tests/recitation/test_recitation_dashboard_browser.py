"""The rights view in a real browser: a holder's token opens the dashboard on its own works and
the guard's events, exactly as the store reads them (the echo gateway of the gateway tests;
no model runs)."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import sync_playwright

import recitation_fixtures as fixtures
from conftest import REPO
from licence.harness import Echo, Host, wait_until
from revstream.store import holder_events, list_works, new_holder_token
from test_recitation_gateway import BLOCKED, MODEL, register

pytestmark = pytest.mark.browser
SCREENSHOTS = REPO / "test-output" / "recitation"


def test_a_holder_sees_its_works_and_events(tmp_path):
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is missing: run `bash scripts/browser.sh` (make test does)")
    host = Host(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "home", models=(MODEL,))
    mine = [w for w in fixtures.read_works() if w["holder"] == BLOCKED["holder"]]
    register(host, mine)
    with host:
        Echo.answer = BLOCKED["text"]
        host.client(host.new_key("acme")).chat.completions.create(
            model=MODEL, max_tokens=900, messages=[{"role": "user", "content": "Recite it"}])
        [event] = wait_until(lambda: holder_events(host.engine, None), "the block event")
        token, _ = new_holder_token(host.engine, BLOCKED["holder"])
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(host.base_url + "/dashboard")
            page.fill("#token", token)
            page.click("#open")
            page.wait_for_selector("body[data-loaded='1']")
            works = page.evaluate("[...document.querySelectorAll('#holder-works tbody tr')]"
                                  ".map(r => [...r.cells].map(c => c.textContent))")
            events = page.evaluate("[...document.querySelectorAll('#holder-events tbody tr')]"
                                   ".map(r => [...r.cells].map(c => c.textContent))")
            page.screenshot(path=str(SCREENSHOTS / "holder.png"), full_page=True)
            assert page.text_content("#who") == f"holder view · {BLOCKED['holder']}"
            browser.close()
    stored = {w.work_id: w for w in list_works(host.engine)}
    assert sorted(row[1] for row in works) == sorted(stored)
    blocked_row = next(row for row in works if row[1] == event["work_id"])
    assert blocked_row[0] == BLOCKED["title"] and blocked_row[2] == "block" and blocked_row[5:7] == ["1", "0"]
    assert [row[1:4] for row in events] == [[BLOCKED["title"], "block", event["window_hash"]]]
    assert errors == []
