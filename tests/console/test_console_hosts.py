"""The licensor console end to end (issue 17): one licensor, two real hosts (`revstream serve`)
with different agreements and currencies, the real `revstream licensor` commands, and the
dashboard's console view in a real browser.

* Cloud A sells `llama-a` in USD under a 15% share with a 40.00 minimum guarantee (applied:
  its usage is small), witnessed by a real witness the licensor requires; it settles March
  and April.
* Cloud B sells `llama-b` in EUR under a 20% share capped at 3.00 (applied: its usage is
  large); it settles February and March, then re-signs its March statement under-reporting
  a request (a tampered statement), and never settles April (a missing statement).

The console reports each host as its statements say and as they verified, totals per
currency (USD and EUR apart), the tampered one failed with its reason and evidence, April's
statement of Cloud B missing.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest

from conftest import REPO, revstream, start_server
from console.processes import make_witness, prepare_host, usage
from revstream.money import format_amount, format_display, parse_json_int
from revstream.settlement import statement_bytes, statement_note_text
from revstream.transparency import sign_note

def _tamper(host, statement: dict) -> dict:
    """The host re-signs its statement with one request fewer on its first line: the signature
    holds (its own key), the arithmetic holds (requests are no money), the log disagrees."""
    value = json.loads(json.dumps(statement))
    value["lines"][0]["requests"] -= 1
    body = statement_bytes(value)
    skey = (host.home / "keys" / "log-signer.key").read_text(encoding="utf-8").strip()  # the host's own key
    with sqlite3.connect(host.home / "revstream.db") as connection:
        connection.execute("UPDATE statements SET body = ?, signed_note = ? WHERE statement_id = ?",
                           (body, sign_note(statement_note_text(body), skey), value["statement"]))
    return value


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    witness = make_witness(tmp, "witness.test/console")
    cloud_a = prepare_host(tmp / "cloud-a", "cloud-a.test/log", "llama-a", "USD", input_price="0.20",
                           output_price="0.60", witnesses=(witness,), share_bps=1500, minimum="40.00")
    cloud_b = prepare_host(tmp / "cloud-b", "cloud-b.test/log", "llama-b", "EUR", input_price="0.50",
                           output_price="1.50", share_bps=2000, cap="3.00")
    witness.follow((cloud_a.origin, cloud_a.vkey))
    processes = [witness.start(), cloud_a, cloud_b]
    try:
        cloud_a.start()
        cloud_b.start()
        statements = {}
        cloud_a.import_usage(usage("a-mar", "llama-a", "2026-03", 5, 100_000, 20_000))
        [statements["A", "2026-03"]] = cloud_a.settle("2026-03")
        cloud_a.import_usage(usage("a-apr", "llama-a", "2026-04", 2, 50_000, 10_000))
        [statements["A", "2026-04"]] = cloud_a.settle("2026-04")
        cloud_a.wait_witnessed(statements["A", "2026-04"]["log"]["size"])
        cloud_b.import_usage(usage("b-feb", "llama-b", "2026-02", 8, 2_000_000, 1_000_000))
        [statements["B", "2026-02"]] = cloud_b.settle("2026-02")
        cloud_b.import_usage(usage("b-mar", "llama-b", "2026-03", 3, 1_000_000, 500_000))
        [statements["B", "2026-03"]] = cloud_b.settle("2026-03")
        statements["B", "2026-03"] = _tamper(cloud_b, statements["B", "2026-03"])
        home = tmp / "licensor"
        env = {"CLOUD_A_TOKEN": cloud_a.token, "CLOUD_B_TOKEN": cloud_b.token}
        world = {"tmp": tmp, "home": home, "env": env, "a": cloud_a, "b": cloud_b, "witness": witness,
                 "statements": statements}
        yield world
    finally:
        for process in processes:
            process.stop()


def licensor(world, *args: str, env: dict | None = None, check: bool = True):
    return revstream("licensor", *args, home=world["home"], env=world["env"] if env is None else env, check=check)


def _figures(statement: dict) -> dict:
    return {"gross_total_nanos": parse_json_int(statement["gross_total_nanos"]),
            "share_total_nanos": parse_json_int(statement["share_total_nanos"]),
            "minimum_top_up_nanos": parse_json_int(statement["minimum"]["share_nanos"]) if statement["minimum"] else 0,
            "cap_reduction_nanos": -parse_json_int(statement["cap"]["share_nanos"]) if statement["cap"] else 0,
            "share_total_minor": parse_json_int(statement["share_total_minor"]), "currency": statement["currency"]}


@pytest.fixture(scope="module")
def synced(world):
    a, b, witness = world["a"], world["b"], world["witness"]
    licensor(world, "hosts", "add", "Cloud A", "--url", a.url, "--vkey", a.vkey, "--token-env", "CLOUD_A_TOKEN",
             "--witness", witness.vkey)
    licensor(world, "hosts", "add", "Cloud B", "--url", b.url, "--vkey", b.vkey, "--token-env", "CLOUD_B_TOKEN")
    result = licensor(world, "sync", "--json", check=False)
    assert result.returncode == 1, result.stderr  # a statement failed
    return {row["host"]: row for row in json.loads(result.stdout)}


def report(world, period: str) -> dict:
    value = json.loads(licensor(world, "report", "--period", period, "--json").stdout)
    return value


def test_hosts_are_registered_and_listed(world, synced):
    hosts = json.loads(licensor(world, "hosts", "list", "--json").stdout)
    assert [(h["name"], h["token_env"], h["quorum"], len(h["witnesses"])) for h in hosts] == [
        ("Cloud A", "CLOUD_A_TOKEN", 1, 1), ("Cloud B", "CLOUD_B_TOKEN", 0, 0)]
    again = licensor(world, "hosts", "add", "Cloud A", "--url", world["a"].url, "--vkey", world["a"].vkey,
                     "--token-env", "X", check=False)
    assert again.returncode == 1 and "registered already" in again.stderr
    assert "token" not in json.dumps(hosts).replace("token_env", "")  # the token itself is never stored


def test_sync_verifies_every_host_and_keeps_the_evidence(world, synced):
    assert synced["Cloud A"] == {"host": "Cloud A", "listed": 2, "verified": 2, "failed": 0, "unchecked": 0,
                                 "error": None}
    assert synced["Cloud B"] == {"host": "Cloud B", "listed": 2, "verified": 1, "failed": 1, "unchecked": 0,
                                 "error": None}
    # Nothing new: a second sync checks nothing again; a missing token stops that host only.
    result = licensor(world, "sync", "--json", env={"CLOUD_A_TOKEN": world["env"]["CLOUD_A_TOKEN"]})
    rows = {row["host"]: row for row in json.loads(result.stdout)}
    assert rows["Cloud A"]["listed"] == 2 and rows["Cloud A"]["verified"] == 0 and rows["Cloud A"]["error"] is None
    assert rows["Cloud B"]["error"] == "the licensor token variable $CLOUD_B_TOKEN is not set"


def test_the_report_shows_each_host_and_the_total_per_currency(world, synced):
    statements = world["statements"]
    march = report(world, "2026-03")
    hosts = {entry["host"]: entry for entry in march["hosts"]}
    [a] = hosts["Cloud A"]["statements"]
    assert a["state"] == "verified" and a["reason"] is None
    assert {name: a[name] for name in _figures(statements["A", "2026-03"])} == _figures(statements["A", "2026-03"])
    assert a["minimum_top_up_nanos"] > 0  # Cloud A's small month is topped up to its minimum
    [b] = hosts["Cloud B"]["statements"]
    assert b["state"] == "failed" and b["reason"].startswith("statement totals: recomputed from the log")
    assert "requests: the log gives 3, the statement says 2" in b["reason"]
    assert (Path(b["evidence"]) / "statement-recomputed.json").exists()
    assert march["missing"] == []
    eur, usd = march["totals"]  # by currency code, never summed together
    assert (usd["currency"], usd["statements_verified"], usd["statements_failed"]) == ("USD", 1, 0)
    assert usd["share_total_nanos"] == a["share_total_nanos"] and usd["gross_total_nanos"] == a["gross_total_nanos"]
    assert (eur["currency"], eur["statements_verified"], eur["statements_failed"]) == ("EUR", 0, 1)
    assert eur["share_total_nanos"] == 0  # a failed statement counts for nothing ...
    assert eur["claimed_unverified_share_nanos"] == _figures(statements["B", "2026-03"])["share_total_nanos"]  # ... but shows

    february = report(world, "2026-02")
    [b_feb] = {e["host"]: e for e in february["hosts"]}["Cloud B"]["statements"]
    assert b_feb["state"] == "verified" and b_feb["cap_reduction_nanos"] > 0  # Cloud B's large month is capped
    assert {name: b_feb[name] for name in _figures(statements["B", "2026-02"])} == _figures(statements["B", "2026-02"])
    assert [(t["currency"], t["statements_verified"], t["statements_missing"]) for t in february["totals"]] == [
        ("EUR", 1, 0), ("USD", 0, 1)]  # Cloud A's agreement covers February: its statement is missing
    assert [(m["host"], m["currency"]) for m in february["missing"]] == [("Cloud A", "USD")]

    april = report(world, "2026-04")
    assert [(m["host"], "covers 2026-04") for m in april["missing"]] == [("Cloud B", "covers 2026-04")]
    assert all("covers 2026-04" in m["reason"] for m in april["missing"])
    eur_april, usd_april = april["totals"]
    assert (eur_april["statements_missing"], eur_april["statements_verified"], eur_april["share_total_nanos"]) == (1, 0, 0)
    assert usd_april["share_total_minor"] == parse_json_int(statements["A", "2026-04"]["share_total_minor"])

    text = licensor(world, "report", "--period", "2026-03").stdout
    assert "== Cloud A" in text and "== Cloud B" in text and "failed: statement totals" in text
    usd_share = format_amount(a["share_total_nanos"], "USD")
    assert usd_share in text and "EUR" in text


@pytest.fixture(scope="module")
def console_server(world, synced):
    """The licensor's own install serving its dashboard, and its admin token."""
    server = start_server(world["home"])
    try:
        admin = next(line.split(":", 1)[1].strip() for line in server.log().splitlines() if "admin token" in line)
        yield server, admin
    finally:
        server.stop()


def test_the_console_api_answers_the_admin_token_only(world, console_server):
    server, admin = console_server
    api = server.base_url + "/dashboard/api/console"
    assert httpx.get(api, timeout=10).status_code == 401
    customer = server.new_key("someone")
    assert httpx.get(api, headers={"authorization": f"Bearer {customer}"}, timeout=10).status_code == 403
    bad = httpx.get(api + "?period=2026-13", headers={"authorization": f"Bearer {admin}"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "period"
    me = httpx.get(server.base_url + "/dashboard/api/me", headers={"authorization": f"Bearer {admin}"}).json()
    assert me == {"view": "host", "name": "host", "console": True}
    value = httpx.get(api + "?period=2026-03", headers={"authorization": f"Bearer {admin}"}, timeout=10).json()
    assert value["periods"] == ["2026-04", "2026-03", "2026-02"]
    [a] = next(h for h in value["hosts"] if h["host"] == "Cloud A")["statements"]
    assert a["share"]["nanos"] == _figures(world["statements"]["A", "2026-03"])["share_total_nanos"]


@pytest.mark.browser
def test_the_dashboard_console_shows_the_verified_figures(world, console_server):
    from playwright.sync_api import sync_playwright

    statements = world["statements"]
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is missing: run `bash scripts/browser.sh` (make test does)")
    server, admin = console_server  # the licensor's own install serves its dashboard
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server.base_url + "/dashboard")
        page.fill("#token", admin)
        page.click("#open")
        page.wait_for_selector("body[data-loaded='1']")
        page.wait_for_selector("#console[data-ready='1']")
        assert page.input_value("#console-period") == "2026-04"
        page.select_option("#console-period", "2026-03")
        page.wait_for_selector("#console[data-ready='1']")
        a, b = statements["A", "2026-03"], statements["B", "2026-03"]
        row_a = page.text_content(f"#console-statements tr[data-key='{a['statement']}']")
        figures = _figures(a)
        for nanos in (figures["gross_total_nanos"], figures["share_total_nanos"], figures["minimum_top_up_nanos"]):
            assert format_display(nanos, "USD", exact=True) in row_a
        assert row_a.endswith("verified")
        row_b = page.text_content(f"#console-statements tr[data-key='{b['statement']}']")
        assert "failed: statement totals" in row_b
        assert format_display(_figures(b)['share_total_nanos'], "EUR", exact=True) in row_b
        usd = page.text_content("#console-totals tr[data-key='USD']")
        assert format_display(figures['share_total_nanos'], "USD", exact=True) in usd
        eur = page.text_content("#console-totals tr[data-key='EUR']")
        assert format_display(_figures(b)['share_total_nanos'], "EUR", exact=True) in eur  # claimed, not verified
        page.select_option("#console-period", "2026-04")
        page.wait_for_selector("#console[data-ready='1']")
        assert "covers 2026-04" in page.text_content("#console-statements")
        overview = page.text_content("#console-overview tr[data-key='2026-02']")
        b_feb = _figures(statements["B", "2026-02"])
        assert format_display(b_feb['share_total_nanos'], "EUR", exact=True) in overview and "USD" in overview
        screenshots = REPO / "test-output" / "dashboard"
        screenshots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshots / "console.png"), full_page=True)
        assert errors == []
        browser.close()


def test_a_host_is_registered_only_with_what_a_sync_can_use(world, synced):
    result = licensor(world, "hosts", "add", "Bad", "--url", "ftp://x", "--vkey", world["a"].vkey, "--token-env", "A",
                      check=False)
    assert result.returncode == 2 and "--url must be an http(s) URL" in result.stderr
    result = licensor(world, "hosts", "add", "Bad", "--url", "https://x.test", "--vkey", world["a"].vkey,
                      "--token-env", "not a variable", check=False)
    assert result.returncode == 2 and "--token-env must name an environment variable" in result.stderr
