"""The built-in webchat page in a real browser (Playwright driving Debian's headless
Chromium, launched by its path): a visitor writes, the real embedded model answers in the
page, and the page reports the reply delivered, which books it (a free service message)."""

from __future__ import annotations

import shutil
import time

import pytest
from playwright.sync_api import sync_playwright

from revstream.config._model import EMBEDDED_MODEL_NAME as MODEL
from revstream.store import add_channel, add_credit, customer_balance, list_conversations, list_messages

from messaging_host import Clock, Host, wait_until

pytestmark = [pytest.mark.model, pytest.mark.browser]


def test_a_visitor_chats_with_the_model_in_the_page(tmp_path) -> None:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is missing: run `bash scripts/browser.sh` (make test does)")
    now = time.time_ns() // 1000  # the page stamps its reports with the browser's clock
    with Host(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "home", Clock(now)) as host:
        add_credit(host.engine, "acme", 10**9, "USD", now)
        channel = add_channel(host.engine, "acme", "webchat", now, market="IN", ai_model=MODEL)
        customer_id = customer_balance(host.engine, "acme").customer_id
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.goto(f"{host.base_url}/webchat/{channel['channel_id']}")
                page.fill("#text", "Hello! Are you open on Sundays?")
                page.click("button")
                page.wait_for_selector("#log .out span", timeout=120_000)
                assert page.locator("#log .in span").first.inner_text() == "Hello! Are you open on Sundays?"
                assert page.locator("#log .out span").first.inner_text().strip()
            finally:
                browser.close()
        [conversation] = wait_until(lambda: list_conversations(host.engine, customer_id, now), "the conversation")
        messages = wait_until(lambda: [m for m in list_messages(host.engine, customer_id, conversation["id"])
                                       if m["direction"] == "out" and m["status"] == "delivered"],
                              "the page's delivery report")
        assert messages[0]["attribution"] == "reply" and messages[0]["price_nanos"] == 0
