"""The licence panel in a real browser, against `revstream serve` (the embedded model, declared
under the Llama 3.2 licence): `serve` logs the licence check at start, `/v1/models` and every
dashboard view carry "Built with Llama", and the host and licensor views show the month's active
users and acceptable-use counts exactly as `revstream licence status --json` reads them from the
store. The requests are refused prompts (screened before admission, counted all the same) and
one short generation, so the model barely runs."""

from __future__ import annotations

import shutil

import httpx
import pytest
from playwright.sync_api import sync_playwright

from conftest import REPO, start_server

from .harness import wait_until

pytestmark = [pytest.mark.model, pytest.mark.browser]

MODEL = "smollm2-135m-instruct"
SCREENSHOTS = REPO / "test-output" / "licence"
CONFIG = f"""
[licence]
mau_flush_interval_s = 0.2

[licence.acceptable_use]
S9 = "refuse"

[[licence.models]]
model = "{MODEL}"
licence = "llama3.2"
"""
REFUSED = "How do I build a pipe bomb at home?"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("licence-browser") / "home", config=CONFIG)
    try:
        key = server.new_key("acme")
        headers = {"authorization": f"Bearer {key}"}
        for user in ("ann", "ben", "cid"):
            refused = httpx.post(server.v1 + "/chat/completions", headers=headers, timeout=60, json={
                "model": MODEL, "user": user, "messages": [{"role": "user", "content": REFUSED}]})
            assert refused.status_code == 400 and refused.json()["error"]["code"] == "content_policy_violation"
        answered = httpx.post(server.v1 + "/chat/completions", headers=headers, timeout=120, json={
            "model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]})
        assert answered.status_code == 200
        status = wait_until(lambda: (lambda s: s if s["months"] and s["months"][0]["users"] == 4
                                     and s["months"][0]["acceptable_use"]["classified"] == 4 else None)(
            server.cli_json("licence", "status")), "four end users merged into the store")
        admin = next(line.split(":", 1)[1].strip() for line in server.log().splitlines() if "admin token" in line)
        server.cli("licensors", "add", "Llama Labs")
        licensor = server.cli_json("licensors", "token", "Llama Labs")["token"]
        yield {"server": server, "key": key, "admin": admin, "licensor": licensor, "status": status}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is missing: run `bash scripts/browser.sh` (make test does)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_as(browser, served, token: str, panel: bool = True):
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(served["server"].base_url + "/dashboard")
    page.fill("#token", token)
    page.click("#open")
    page.wait_for_selector("body[data-licence-loaded='1']" if panel else "body[data-loaded='1']")
    page.wait_for_selector("#licence-attribution p")
    return context, page, errors


def rows(page, table_id: str) -> list[list[str]]:
    return page.evaluate(f"[...document.querySelectorAll('#{table_id} tbody tr')]"
                         ".map(r => [...r.cells].map(c => c.textContent))")


def test_serve_logs_the_licence_check_and_models_carry_the_attribution(served):
    log = served["server"].log()
    assert "revstream: licence violation: notice_missing" in log and "licence §1.b.iii" in log
    models = httpx.get(served["server"].v1 + "/models", headers={"authorization": f"Bearer {served['key']}"}).json()
    entry = next(m for m in models["data"] if m["id"] == MODEL)
    assert (entry["licence"], entry["attribution"]) == ("llama3.2", "Built with Llama")


@pytest.mark.parametrize("viewer", ["admin", "licensor"])
def test_the_host_and_licensor_see_the_stores_figures(browser, served, viewer):
    context, page, errors = open_as(browser, served, served[viewer])
    [month] = served["status"]["months"]
    [shown] = rows(page, "licence-months")
    assert shown[0] == month["month"] and shown[1] == f"{month['users']:,}" and shown[2] == "exact"
    assert shown[5:8] == [str(month["acceptable_use"][name]) for name in ("classified", "flagged", "refused")]
    by_category = {row[0]: int(row[2]) for row in rows(page, "licence-categories")}
    assert by_category == {c["category"]: c["count"] for c in month["acceptable_use"]["by_category"]}
    assert by_category["S9"] == 3
    [attribution] = rows(page, "licence-attribution-state")
    assert attribution[:3] == ["Built with Llama", "llama3.2", f"smollm2, {MODEL}"]
    assert "Built with Llama" in page.text_content("#licence-attribution")
    page.screenshot(path=str(SCREENSHOTS / f"{viewer}.png"), full_page=True)
    assert errors == []
    context.close()


def test_a_customer_sees_the_attribution_but_no_licence_panel(browser, served):
    context, page, errors = open_as(browser, served, served["key"], panel=False)
    assert "Built with Llama" in page.text_content("#licence-attribution")
    assert page.query_selector("#licence-panel") is None
    assert errors == []
    context.close()
