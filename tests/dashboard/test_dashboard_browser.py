"""The dashboard in a real browser: Playwright drives Debian's headless Chromium (launched
by its path, never downloaded) against `revstream serve` with the embedded model and real
requests. Every figure a chart shows is compared with the CLI's `--json` output or with the
store itself (issue 12, item 12: fees by stream as settlement has them, one row per customer
and stream, amounts under a cent, every unsettled month, the licensor's chart equal to its
statements, names and times for people, the host's legal name, tables that scroll on a phone).

Screenshots go to test-output/dashboard/ at the repository root; the run prints where."""

from __future__ import annotations

import io
import json
import re
import time
from fractions import Fraction
from pathlib import Path
import shutil
from datetime import datetime, timedelta, timezone

import httpx
import openai
import pytest
from playwright.sync_api import sync_playwright
from pypdf import PdfReader

from revstream.config._home import default_database_url
from revstream.money import format_display, round_half_even
from revstream.store import make_engine, open_periods
from revstream.store._fees import computed_fees, period_fees

from conftest import REPO, start_server

pytestmark = [pytest.mark.model, pytest.mark.browser]

MODEL = "smollm2-135m-instruct"
SCREENSHOTS = REPO / "test-output" / "dashboard"
LEGAL_NAME = "Example Inference GmbH"
CONFIG = f"""
[host]
legal_name = "{LEGAL_NAME}"
address = ["Musterstraße 1", "10115 Berlin", "Germany"]
tax_id = "DE123456789"
contact = "billing@example.com"

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


def open_as(browser, served, token: str, viewport: dict | None = None):
    """A fresh tab (its own sessionStorage) logged in with ``token``, once every panel loaded."""
    context = browser.new_context(viewport=viewport or {"width": 1360, "height": 1000}, accept_downloads=True)
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
        "id => Chart.getChart(id).data.datasets.map(d => ({label: d.label, data: d.data, texts: d.texts || null, "
        "nanos: d.nanos || null}))", canvas_id)


def point_sum(datasets: list[dict]) -> int:
    return sum(sum(d["data"]) for d in datasets)


def final_usage(server, *args: str) -> list[dict]:
    return [r for r in server.cli_json("usage", *args) if r["status"] != "pending"]


def store_fees(server, periods: list[str]) -> dict[str, Fraction]:
    """The fees of ``periods`` per stream, read from the server's store with settlement's own
    code: a closed period's as its close stored them, an open one's as it would store them now."""
    engine = make_engine(default_database_url(server.home))
    closed = {statement["period"] for statement in server.cli_json("statements", "list")}
    by_stream: dict[str, Fraction] = {}
    try:
        with engine.connect() as connection:
            for period in periods:
                for entry in (period_fees if period in closed else computed_fees)(connection, period):
                    by_stream[entry.stream] = by_stream.get(entry.stream, Fraction(0)) + entry.amount_exact
        return by_stream
    finally:
        engine.dispose()


def unsettled(server) -> list[str]:
    engine = make_engine(default_database_url(server.home))
    try:
        return open_periods(engine, time.time_ns() // 1000)
    finally:
        engine.dispose()


def table_rows(page, table_id: str) -> list[list[str]]:
    return page.evaluate(f"[...document.querySelectorAll('#{table_id} tbody tr')].map(r => [...r.cells].map(c => c.textContent))")


def test_the_host_sees_the_money_flow_with_the_store_figures(browser, served):
    server = served["server"]
    context, page, errors = open_as(browser, served, served["admin"])
    page.select_option("#host-bucket", "month")
    page.wait_for_selector("body[data-loaded='1']")
    assert page.text_content("#who") == f"host view · {LEGAL_NAME}"
    records = final_usage(server)
    assert point_sum(chart(page, "chart-tokens")) == sum(r["tokens_prompt"] + r["tokens_completion"] for r in records)
    assert point_sum(chart(page, "chart-requests")) == len(records)
    labels = page.evaluate("Chart.getChart('chart-revenue-stream').data.labels")
    fees = store_fees(server, labels)
    assert fees["subscription"] > 0  # acme's pro plan, from today to the month's end
    charged = sum(r["charge_nanos"] or 0 for r in records)  # null: not charged (included in a plan)
    total = charged + round_half_even(sum(fees.values()))
    assert page.text_content("#host-revenue-total") == format_display(total, "USD", exact=True)
    by_month: dict[str, int] = {}
    for record in records:
        by_month[record["time"][:7]] = by_month.get(record["time"][:7], 0) + (record["charge_nanos"] or 0)
    streams = {dataset["label"]: dataset for dataset in chart(page, "chart-revenue-stream")}
    assert set(streams) == {"api", "subscription"}
    assert streams["api"]["nanos"] == [by_month.get(label, 0) for label in labels]
    assert sum(streams["subscription"]["nanos"]) == round_half_even(fees["subscription"])
    this_month = by_month[labels[-1]]
    assert 0 < this_month < 10_000_000  # the live requests cost less than a cent, and it shows
    assert streams["api"]["texts"][-1] == format_display(this_month, "USD", exact=True)[:-4] != "0.00"
    rows = table_rows(page, "streams")
    assert sorted(row[0] for row in rows) == ["api", "subscription"]  # each stream once
    subscription = next(row for row in rows if row[0] == "subscription")
    assert format_display(round_half_even(fees["subscription"]), "USD", exact=True) in subscription[4]
    assert "margin" in page.text_content("#streams") and "—" not in next(row for row in rows if row[0] == "api")[7]
    customers = [row[0] for row in table_rows(page, "customers")]
    assert sorted(customers) == sorted(set(customers)) == ["acme", "globex"]  # acme's plan usage and its fee: one row
    owed = [(row[0], row[1]) for row in table_rows(page, "licensors")]
    assert owed == [("Llama Labs", served["period"])] + [("Llama Labs", period) for period in unsettled(server)]
    [statement] = server.cli_json("statements", "list")
    title = page.get_attribute("#host-statements tbody tr", "title")
    assert title == f"statement {statement['statement']}"
    assert statement["statement"] not in page.text_content("#host-statements")  # named, not by its id
    assert f"{served['period']}Llama Labs{MODEL}" in page.text_content("#host-statements tbody tr")
    assert re.search(r"signed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page.text_content("#checkpoint")) \
        or "no signed checkpoint" in page.text_content("#checkpoint")
    assert "Musterstraße 1" in page.text_content("#host-profile") and "DE123456789" in page.text_content("#host-profile")
    page.screenshot(path=str(SCREENSHOTS / "host.png"), full_page=True)
    with page.expect_download() as caught:
        page.click("#host-statements a[data-format='json']")
    download = caught.value
    assert download.suggested_filename == f"{statement['statement']}.json"
    shown = server.cli("statements", "show", statement["statement"], "--format", "json").stdout
    assert open(download.path(), "rb").read() == shown.encode()
    assert errors == []
    context.close()


PHONE = {"width": 375, "height": 740}
# Every shown table of a view (a hidden panel's, e.g. the licensor console on a host, is not laid out).
TABLE_BOXES = """view => [...document.querySelectorAll('#' + view + ' table')].filter(t => t.offsetParent !== null).map(t => {
    const box = t.parentElement;
    return {id: t.id, boxed: box.classList.contains('table-scroll'), overflow: getComputedStyle(box).overflowX,
            wider: box.scrollWidth > box.clientWidth, right: box.getBoundingClientRect().right};
})"""


@pytest.mark.parametrize("who, view, wide", [
    ("admin", "host", {"streams", "customers", "licensors", "host-statements"}),
    ("licensor", "licensor", {"licensor-statements"}),
    ("acme", "customer", {"customer-invoices"}),
])
def test_on_a_phone_the_page_keeps_its_width_and_tables_scroll(browser, served, who, view, wide):
    token = served["keys"]["acme"] if who == "acme" else served[who]
    context, page, errors = open_as(browser, served, token, viewport=PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing widens the page
    boxes = page.evaluate(TABLE_BOXES, view)
    assert boxes and all(box["boxed"] and box["overflow"] == "auto" and box["right"] <= PHONE["width"]
                         for box in boxes), boxes
    assert wide <= {box["id"] for box in boxes if box["wider"]}  # these are wider than a phone: they scroll
    first = sorted(wide)[0]
    scrolled = page.evaluate("id => { const box = document.getElementById(id).parentElement; "
                             "box.scrollLeft = 200; return box.scrollLeft; }", first)
    assert scrolled > 0  # sideways, inside its panel
    page.screenshot(path=str(SCREENSHOTS / f"{view}-phone.png"), full_page=True)
    assert errors == []
    context.close()


def test_the_licensor_sees_its_statements_and_a_share_chart_equal_to_them(browser, served):
    server = served["server"]
    context, page, errors = open_as(browser, served, served["licensor"])
    [statement] = server.cli_json("statements", "list")
    value = json.loads(server.cli("statements", "show", statement["statement"], "--format", "json").stdout)
    datasets = chart(page, "chart-share")
    parts = [d for d in datasets if d["label"] != "payable"]
    [line] = value["lines"]
    assert [d["label"] for d in parts] == [MODEL] and parts[0]["nanos"] == [line["share_nanos"]]
    assert sum(d["nanos"][0] for d in parts) == value["share_total_nanos"]  # the chart adds up to the statement
    [payable] = [d for d in datasets if d["label"] == "payable"]
    assert payable["nanos"] == [value["share_total_minor"] * 10**7]
    assert "not yet checked" in page.text_content("#licensor-statements")
    assert format_display(value["share_total_minor"] * 10**7, "USD") in page.text_content("#licensor-statements")
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
    assert format_display(balance["available_nanos"], "USD", exact=True) in page.text_content("#balance")
    plan = httpx.get(server.v1 + "/plan", headers={"authorization": f"Bearer {served['keys']['acme']}"}).json()
    shown = page.text_content("#customer-plan")
    assert "pro (subscription)" in shown and f"remaining{plan['tokens_remaining']:,}" in shown.replace(" ", "")
    assert re.search(r"renews\d{4}-\d\d-\d\d 00:00 UTC", shown) and ".000000Z" not in shown
    assert "pro fee" in [d["label"] for d in chart(page, "chart-customer-spend")]
    [invoice] = [i for i in server.cli_json("invoices", "list", "--json") if i["customer"] == "acme"]
    assert invoice["number"] in page.text_content("#customer-invoices")
    with page.expect_download() as download:
        page.click("#customer-invoices a:text('PDF')")
    assert download.value.suggested_filename == f"invoice-{invoice['number']}.pdf"
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"%PDF")
    text = " ".join(sheet.extract_text() for sheet in PdfReader(io.BytesIO(data)).pages)
    assert LEGAL_NAME in text and "Musterstraße 1" in text and "DE123456789" in text  # not "host"
    page.screenshot(path=str(SCREENSHOTS / "customer.png"), full_page=True)
    assert "globex" not in page.content()
    assert "globex" not in page.evaluate("JSON.stringify(Chart.getChart('chart-customer-tokens').data)")
    assert errors == []
    context.close()


def test_a_customers_sub_cent_spend_is_plotted_not_flat(browser, served):
    server = served["server"]
    context, page, errors = open_as(browser, served, served["keys"]["globex"])
    today = datetime.now(timezone.utc).date()
    first_day = (today - timedelta(days=29)).isoformat()
    records = [r for r in final_usage(server, "--customer", "globex") if r["time"][:10] >= first_day]
    spent = sum(r["charge_nanos"] for r in records if r["time"][:10] == today.isoformat())
    assert 0 < spent < 10_000_000  # the live request: less than a cent
    [model] = chart(page, "chart-customer-spend")
    assert model["nanos"][-1] == spent and model["data"][-1] > 0 and model["texts"][-1] != "0.00"
    window = sum(r["charge_nanos"] for r in records)
    assert page.text_content("#customer-spend-total") == format_display(window, "USD", exact=True)
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
