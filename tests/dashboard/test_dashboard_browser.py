"""The dashboard in a real browser: Playwright drives Debian's headless Chromium (launched
by its path, never downloaded) against `revstream serve` with the embedded model and real
requests. Every figure a chart shows is compared with the CLI's `--json` output.

Screenshots go to test-output/dashboard/ at the repository root; the run prints where."""

from __future__ import annotations

import json
from pathlib import Path
import shutil
from datetime import datetime, timedelta, timezone

import httpx
import openai
import pytest
from playwright.sync_api import sync_playwright

from revstream.money import format_amount, split_minor

from conftest import REPO, start_server

pytestmark = [pytest.mark.model, pytest.mark.browser]

MODEL = "smollm2-135m-instruct"
SCREENSHOTS = REPO / "test-output" / "dashboard"
CONFIG = f"""
[costs]
currency = "USD"
gpu_hour = "2.00"
[costs.per_mtok]
"{MODEL}" = "0.02"
"""
LIVE = {"acme": 2, "globex": 1}


def _previous_period() -> str:
    last = datetime.now(timezone.utc).date().replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def _history(server, tmp_path) -> str:
    """Prices, credit, a licensor with a settled month of imported usage; returns the period."""
    period = _previous_period()
    server.cli("prices", "set", "--model", MODEL, "--input", "0.20", "--output", "0.60", "--from", "2020-01-01")
    for customer, amount in (("acme", "10.00"), ("globex", "5.00")):
        server.cli("credit", "add", "--customer", customer, "--amount", amount)
    server.cli("licensors", "add", "Llama Labs")
    server.cli("models", "set", "--model", MODEL, "--licensor", "Llama Labs")
    server.cli("agreements", "add", "--licensor", "Llama Labs", "--models", MODEL, "--share-bps", "1500",
               "--from", "2020-01-01")
    lines = [json.dumps({"request_id": f"old-{n}", "time": f"{period}-0{n + 1}T10:00:00Z", "customer": customer,
                         "model": MODEL, "tokens_prompt": 100_000 * (n + 1), "tokens_completion": 20_000, "status": "ok"})
             for n, customer in enumerate(("acme", "globex", "acme"))]
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(lines) + "\n")
    server.cli("usage", "import", str(path))
    server.cli("settle", "--period", period)
    server.cli("invoice", "--period", period)  # last month's invoices, one per customer
    server.cli("plans", "add", "pro", "--kind", "subscription", "--fee", "9.00", "--tokens-included", "1000000",
               "--overage", "1.00")
    server.cli("subscribe", "--customer", "acme", "--plan", "pro")
    server.cli("log", "init")
    return period


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("browser")
    server = start_server(tmp_path / "home", config=CONFIG)
    try:
        period = _history(server, tmp_path)
        keys = {customer: server.new_key(customer) for customer in LIVE}
        for customer, count in LIVE.items():
            client = openai.OpenAI(base_url=server.v1, api_key=keys[customer], max_retries=0, timeout=120)
            for n in range(count):
                client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"Say {n}."}],
                                               max_tokens=4)
        admin = next(line.split(":", 1)[1].strip() for line in server.log().splitlines() if "admin token" in line)
        licensor = server.cli_json("licensors", "token", "Llama Labs")["token"]
        yield {"server": server, "keys": keys, "admin": admin, "licensor": licensor, "period": period}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(request):
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is missing: run `bash scripts/browser.sh` (make test does)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()
    taken = ", ".join(sorted(path.name for path in SCREENSHOTS.glob("*.png")))
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown whatever the output capture
            reporter.write_line(f"\ndashboard screenshots ({taken}): {SCREENSHOTS}")


def open_as(browser, served, token: str):
    """A fresh tab (its own sessionStorage) logged in with ``token``, once every panel loaded."""
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(served["server"].base_url + "/dashboard")
    page.fill("#token", token)
    page.click("#open")
    page.wait_for_selector("body[data-loaded='1']")
    return context, page, errors


def chart(page, canvas_id: str) -> list[dict]:
    page.wait_for_selector(f"#{canvas_id}[data-ready='1']")
    return page.evaluate(
        "id => Chart.getChart(id).data.datasets.map(d => ({label: d.label, data: d.data, texts: d.texts || null}))",
        canvas_id)


def point_sum(datasets: list[dict]) -> int:
    return sum(sum(d["data"]) for d in datasets)


def final_usage(server, *args: str) -> list[dict]:
    return [r for r in server.cli_json("usage", *args) if r["status"] != "pending"]


def test_the_host_sees_the_money_flow_with_the_cli_figures(browser, served):
    server = served["server"]
    context, page, errors = open_as(browser, served, served["admin"])
    page.select_option("#host-bucket", "month")
    page.wait_for_selector("body[data-loaded='1']")
    records = final_usage(server)
    assert point_sum(chart(page, "chart-tokens")) == sum(r["tokens_prompt"] + r["tokens_completion"] for r in records)
    assert point_sum(chart(page, "chart-requests")) == len(records)
    charged = sum(r["charge_nanos"] or 0 for r in records)  # null: not charged (included in a plan)
    assert page.text_content("#host-revenue-total") == f"{format_amount(charged, 'USD')} USD"
    by_month: dict[str, int] = {}
    for record in records:
        by_month[record["time"][:7]] = by_month.get(record["time"][:7], 0) + (record["charge_nanos"] or 0)
    [api] = chart(page, "chart-revenue-stream")
    assert api["label"] == "api"
    assert api["data"][-2:] == [split_minor(by_month.get(served["period"], 0), "USD")[0],
                                split_minor(by_month.get(datetime.now(timezone.utc).strftime("%Y-%m"), 0), "USD")[0]]
    assert "margin" in page.text_content("#streams") and "—" not in page.text_content("#streams tbody")
    [statement] = server.cli_json("statements", "list")
    assert statement["statement"] in page.text_content("#host-statements")
    assert "size" in page.text_content("#checkpoint") or "no signed checkpoint" in page.text_content("#checkpoint")
    page.screenshot(path=str(SCREENSHOTS / "host.png"), full_page=True)
    with page.expect_download() as caught:
        page.click("#host-statements a[data-format='json']")
    download = caught.value
    assert download.suggested_filename == f"{statement['statement']}.json"
    shown = server.cli("statements", "show", statement["statement"], "--format", "json").stdout
    assert open(download.path(), "rb").read() == shown.encode()
    assert errors == []
    context.close()


def test_the_licensor_sees_its_statements_and_share_trend(browser, served):
    server = served["server"]
    context, page, errors = open_as(browser, served, served["licensor"])
    [statement] = server.cli_json("statements", "list")
    value = json.loads(server.cli("statements", "show", statement["statement"], "--format", "json").stdout)
    [model] = chart(page, "chart-share")
    [line] = value["lines"]
    assert model["label"] == MODEL and model["data"] == [split_minor(line["share_nanos"], "USD")[0]]
    assert "not yet checked" in page.text_content("#licensor-statements")
    assert format_amount(value["share_total_minor"] * 10**7, "USD") in page.text_content("#licensor-statements")
    page.screenshot(path=str(SCREENSHOTS / "licensor.png"), full_page=True)
    assert errors == []
    context.close()


def test_a_customer_sees_its_own_usage_and_balance_and_nothing_of_another(browser, served):
    server = served["server"]
    context, page, errors = open_as(browser, served, served["keys"]["acme"])
    first_day = (datetime.now(timezone.utc).date() - timedelta(days=29)).isoformat()
    mine = [r for r in final_usage(server, "--customer", "acme") if r["time"][:10] >= first_day]
    assert point_sum(chart(page, "chart-customer-tokens")) == sum(r["tokens_prompt"] + r["tokens_completion"] for r in mine)
    assert point_sum(chart(page, "chart-customer-requests")) == len(mine)
    balance = server.cli_json("balance", "--customer", "acme")
    assert f"{format_amount(balance['available_nanos'], 'USD')} USD" in page.text_content("#balance")
    plan = httpx.get(server.v1 + "/plan", headers={"authorization": f"Bearer {served['keys']['acme']}"}).json()
    shown = page.text_content("#customer-plan")
    assert "pro (subscription)" in shown and f"remaining{plan['tokens_remaining']}" in shown.replace(" ", "")
    [invoice] = [i for i in server.cli_json("invoices", "list", "--json") if i["customer"] == "acme"]
    assert invoice["number"] in page.text_content("#customer-invoices")
    with page.expect_download() as download:
        page.click("#customer-invoices a:text('PDF')")
    assert download.value.suggested_filename == f"invoice-{invoice['number']}.pdf"
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    page.screenshot(path=str(SCREENSHOTS / "customer.png"), full_page=True)
    assert "globex" not in page.content()
    assert "globex" not in page.evaluate("JSON.stringify(Chart.getChart('chart-customer-tokens').data)")
    assert errors == []
    context.close()


def test_a_wrong_token_returns_to_the_login_with_the_reason(browser, served):
    context = browser.new_context()
    page = context.new_page()
    page.goto(served["server"].base_url + "/dashboard")
    page.fill("#token", "rs-not-a-key")
    page.click("#open")
    page.wait_for_selector("#error:not([hidden])")
    assert "unknown or revoked" in page.text_content("#error") and page.is_visible("#login")
    context.close()
