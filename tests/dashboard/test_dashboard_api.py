"""The dashboard's JSON API against a real gateway (fake backends) on SQLite and the real
PostgreSQL: who may read what, and every figure against the store's own records."""

from __future__ import annotations

import dataclasses

from collections import Counter
from datetime import datetime, timezone

import pytest

from revstream.backends import BACKEND_CLASSES
from revstream.dashboard import statement_csv, statement_markdown
from revstream.dashboard._viewer import ADMIN_TOKEN_META_KEY
from revstream.gateway._auth import ADMIN_TOKEN_META_KEY as GATEWAY_ADMIN_TOKEN_META_KEY
from revstream.money import format_display, nanos_per_minor, split_minor
from revstream.store import (
    AuditedStatement,
    create_key,
    customer_balance,
    get_statement,
    record_audit,
    latest_checkpoint,
    list_statements,
    revoke_key,
)

from conftest import create_postgres_database, drop_postgres_database
from dashboard_fixture import LIVE_REQUESTS, FAST_LOG, Dashboard, InProcessServer, now_us, open_dashboard
from fake_backend import FakeBackend

HOST_PATHS = ("/dashboard/api/host/usage", "/dashboard/api/host/customers", "/dashboard/api/host/licensors",
              "/dashboard/api/host/checkpoint")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def dash(request, tmp_path_factory):
    """One dashboard per store for the module: the tests only read (one revokes a key of its own)."""
    home = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{home / 'store.db'}" if request.param == "sqlite" else create_postgres_database()
    patch = pytest.MonkeyPatch()
    patch.setitem(BACKEND_CLASSES, "fake", FakeBackend)
    server = InProcessServer(url, home, transparency=FAST_LOG)
    try:
        yield open_dashboard(server)
    finally:
        server.__exit__(None, None, None)
        patch.undo()
        if request.param == "postgres":
            drop_postgres_database(url)


def first_of_month(period: str) -> str:
    return f"{period}-01"


def error_of(response) -> dict:
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


# --- who may read what ------------------------------------------------------------------

def test_each_token_kind_opens_its_own_view(dash: Dashboard):
    assert dash.get("/dashboard/api/me", dash.admin).json() == {"view": "host", "name": "host"}
    assert dash.get("/dashboard/api/me", dash.licensor).json() == {"view": "licensor", "name": "Llama Labs"}
    assert dash.get("/dashboard/api/me", dash.keys["acme"]).json() == {"view": "customer", "name": "acme"}


def test_no_unknown_or_revoked_token_is_401_in_the_openai_format(dash: Dashboard):
    for token in (None, "rs-not-a-key", "rsadmin-guess"):
        response = dash.get("/dashboard/api/me", token)
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_api_key"
    key, row = create_key(dash.server.engine, "acme", now_us())
    assert dash.get("/dashboard/api/me", key).status_code == 200
    revoke_key(dash.server.engine, row.key_id, now_us())
    assert dash.get("/dashboard/api/me", key).status_code == 401


@pytest.mark.parametrize("who, path", [
    ("acme", "/dashboard/api/host/usage"), ("licensor", "/dashboard/api/host/customers"),
    ("acme", "/dashboard/api/statements"), ("licensor", "/dashboard/api/customer/usage"),
    ("admin", "/dashboard/api/customer/balance"), ("admin", "/dashboard/api/licensor/trend"),
    ("acme", "/dashboard/api/licensor/trend"),
])
def test_a_view_refuses_the_other_token_kinds_with_403(dash: Dashboard, who, path):
    token = {"acme": dash.keys["acme"], "licensor": dash.licensor, "admin": dash.admin}[who]
    response = dash.get(path, token)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"


@pytest.mark.parametrize("path, params, param", [
    ("/dashboard/api/host/usage", {"bucket": "year"}, "bucket"),
    ("/dashboard/api/host/usage", {"since": "yesterday"}, "since"),
    ("/dashboard/api/host/usage", {"since": "2026-02-01", "until": "2026-01-01"}, "since"),
    ("/dashboard/api/host/usage", {"since": "1990-01-01", "bucket": "day"}, "since"),
    ("/dashboard/api/host/customers", {"limit": "0"}, "limit"),
    ("/dashboard/api/statements/stm_x", {"format": "xml"}, "format"),
])
def test_bad_parameters_are_400_naming_the_parameter(dash: Dashboard, path, params, param):
    response = dash.get(path, dash.admin, **params)
    assert response.status_code == 400
    assert error_of(response)["param"] == param


def test_an_unknown_endpoint_is_a_json_404(dash: Dashboard):
    response = dash.get("/dashboard/api/nothing/here", dash.admin)
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


# --- host figures -------------------------------------------------------------------------

def test_host_usage_totals_equal_the_usage_records(dash: Dashboard):
    records = dash.records()
    body = dash.get("/dashboard/api/host/usage", dash.admin, bucket="month", since=first_of_month(dash.settled)).json()
    assert len(body["labels"]) == 2 and body["labels"][0] == dash.settled
    assert body["requests_by_model"]["total"] == len(records)
    assert body["tokens_by_model"]["total"] == sum(r.tokens_prompt + r.tokens_completion for r in records)
    [usd] = body["revenue_by_stream"]
    assert usd["currency"] == "USD" and usd["total"]["nanos"] == sum(r.charge_nanos for r in records)
    [api] = usd["datasets"]
    assert api["label"] == "api"
    by_month = Counter()
    for record in records:
        by_month[datetime.fromtimestamp(record.time_us / 1e6, timezone.utc).strftime("%Y-%m")] += record.charge_nanos
    assert api["data"] == [split_minor(by_month[label], "USD")[0] for label in body["labels"]]
    assert api["texts"][0] == "4.00"  # the settled month: four imported records of 1.00
    [stream] = body["streams"]
    assert stream["stream"] == "api" and stream["requests"] == len(records)
    assert stream["cost"] is None and body["costs_configured"] is False


def test_host_usage_by_day_has_one_point_a_day_and_ends_today(dash: Dashboard):
    body = dash.get("/dashboard/api/host/usage", dash.admin, bucket="day").json()
    assert len(body["labels"]) == 30
    assert body["labels"][-1] == datetime.now(timezone.utc).date().isoformat()
    [model] = body["requests_by_model"]["datasets"]
    assert model["label"] == "fake-echo" and model["data"][-1] == sum(LIVE_REQUESTS.values())


def test_top_customers_and_credit_outstanding_match_the_ledger(dash: Dashboard):
    body = dash.get("/dashboard/api/host/customers", dash.admin, bucket="month",
                    since=first_of_month(dash.settled)).json()
    records = dash.records()
    spent = Counter()
    for record in records:
        spent[record.customer_id] += record.charge_nanos
    top = body["top"]
    assert [c["customer"] for c in top] == sorted(("acme", "globex"), key=lambda c: -spent[dash.customer_ids[c]])
    for entry in top:
        assert [amount["nanos"] for amount in entry["spent"]] == [spent[entry["customer_id"]]]
    credit = {a["customer"]: [m["nanos"] for m in a["credit"]] for a in body["accounts"]}
    for customer in ("acme", "globex"):
        assert credit[customer] == [customer_balance(dash.server.engine, customer).available_nanos]
    receivable = {a["customer"]: [m["nanos"] for m in a["receivable"]] for a in body["accounts"]}
    assert receivable == {"acme": [2 * 10**9], "globex": [2 * 10**9]}  # the imported month, booked postpaid
    outstanding = {o["kind"]: o["balance"]["text"] for o in body["outstanding"]}
    assert outstanding["customer_receivable"] == "4.00"


def test_licensors_owed_closed_periods_and_this_period_so_far(dash: Dashboard):
    body = dash.get("/dashboard/api/host/licensors", dash.admin).json()
    [llama] = body["licensors"]
    assert llama["licensor"] == "Llama Labs"
    [closed] = llama["closed"]
    stored = list_statements(dash.server.engine, dash.settled)[0]
    assert closed["statement"] == stored.statement_id and closed["period"] == dash.settled
    assert closed["payable"]["minor"] == stored.share_total_minor == 60  # 15% of 4.00
    current = llama["open"][-1]
    assert current["period"] == datetime.now(timezone.utc).strftime("%Y-%m")
    assert current["records"] == sum(LIVE_REQUESTS.values())
    live_nanos = sum(r.charge_nanos for r in dash.records() if not r.request_id.startswith("imp-"))
    assert current["payable"]["minor"] == split_minor(live_nanos * 1500 // 10_000, "USD")[0]


def test_the_latest_checkpoint_is_shown(dash: Dashboard):
    body = dash.get("/dashboard/api/host/checkpoint", dash.admin).json()
    stored = latest_checkpoint(dash.server.engine)
    assert body["checkpoint"]["size"] == stored.size and body["checkpoint"]["note"] == stored.note


# --- statements -----------------------------------------------------------------------------

def test_statements_are_listed_for_the_host_and_their_own_licensor_only(dash: Dashboard):
    host = dash.get("/dashboard/api/statements", dash.admin).json()["statements"]
    mine = dash.get("/dashboard/api/statements", dash.licensor).json()["statements"]
    other = dash.get("/dashboard/api/statements", dash.other_licensor).json()["statements"]
    assert [s["statement"] for s in host] == [s["statement"] for s in mine] and len(mine) == 1
    assert other == []
    [statement] = mine
    assert statement["verification"] == {"state": "not_checked", "reason": None, "text": "not yet checked"}
    assert statement["payable"]["text"] == "0.60" and statement["licensor"] == "Llama Labs"


def test_statements_show_what_revstream_verify_recorded(dash: Dashboard):
    [statement] = dash.get("/dashboard/api/statements", dash.licensor).json()["statements"]
    audited = AuditedStatement("example.com/log", statement["statement"], "http://host", "Llama Labs", "agr_x",
                               statement["period"], "USD", 60, "note", "failed", "log entries: entry 3 differs", 1)
    record_audit(dash.server.engine, audited)
    [shown] = dash.get("/dashboard/api/statements", dash.licensor).json()["statements"]
    assert shown["verification"] == {"state": "failed", "reason": "log entries: entry 3 differs",
                                     "text": "failed: log entries: entry 3 differs"}
    record_audit(dash.server.engine, dataclasses.replace(audited, state="verified", reason=None, checked_us=2))
    [shown] = dash.get("/dashboard/api/statements", dash.admin).json()["statements"]
    assert shown["verification"]["text"] == "verified"


def test_a_statement_downloads_as_its_stored_bytes_csv_and_markdown(dash: Dashboard):
    [statement] = dash.get("/dashboard/api/statements", dash.licensor).json()["statements"]
    stored = get_statement(dash.server.engine, statement["statement"])
    response = dash.get(statement["downloads"]["json"], dash.licensor)
    assert response.status_code == 200 and response.content == stored.body
    assert response.headers["content-disposition"] == f'attachment; filename="{stored.statement_id}.json"'
    assert dash.get(statement["downloads"]["csv"], dash.admin).text == statement_csv(stored.json())
    assert dash.get(statement["downloads"]["md"], dash.admin).text == statement_markdown(stored.json())


def test_another_licensor_cannot_download_a_statement(dash: Dashboard):
    [statement] = dash.get("/dashboard/api/statements", dash.licensor).json()["statements"]
    response = dash.get(statement["downloads"]["json"], dash.other_licensor)
    assert response.status_code == 404 and statement["statement"] in error_of(response)["message"]
    assert dash.get(statement["downloads"]["json"], dash.keys["acme"]).status_code == 403


def test_the_licensor_trend_is_its_share_per_model_and_period(dash: Dashboard):
    body = dash.get("/dashboard/api/licensor/trend", dash.licensor).json()
    value = get_statement(dash.server.engine, list_statements(dash.server.engine)[0].statement_id).json()
    assert body["periods"] == [dash.settled]
    [usd] = body["currencies"]
    [model] = usd["datasets"]
    [line] = value["lines"]
    assert model["label"] == line["model"] and model["nanos"] == [line["share_nanos"]] == [value["share_total_nanos"]]
    assert model["data"] == [line["share_nanos"] // 10 ** (9 - usd["plot_digits"])]  # 0.60: in tenths of a cent
    assert usd["payable"]["nanos"] == [value["share_total_minor"] * nanos_per_minor("USD")]
    assert usd["payable"]["total"]["nanos"] == value["share_total_minor"] * nanos_per_minor("USD")


# --- customers ------------------------------------------------------------------------------

def test_a_customer_sees_its_own_usage_and_balance(dash: Dashboard):
    mine = [r for r in dash.records() if r.customer_id == dash.customer_ids["acme"]]
    body = dash.get("/dashboard/api/customer/usage", dash.keys["acme"], bucket="month",
                    since=first_of_month(dash.settled)).json()
    assert body["requests_by_model"]["total"] == len(mine) == LIVE_REQUESTS["acme"] + 2
    assert body["tokens_by_model"]["total"] == sum(r.tokens_prompt + r.tokens_completion for r in mine)
    assert body["revenue_by_model"][0]["total"]["nanos"] == sum(r.charge_nanos for r in mine)
    assert "revenue_by_stream" not in body
    balance = dash.get("/dashboard/api/customer/balance", dash.keys["acme"]).json()
    expected = customer_balance(dash.server.engine, "acme")
    assert balance["available_nanos"] == expected.available_nanos and balance["customer"] == "acme"
    assert balance["available"]["display"] == format_display(expected.available_nanos, "USD", exact=True)


def test_one_customers_key_never_shows_another_customers_data(dash: Dashboard):
    """Every response the acme key can get, whatever it asks for, never names globex."""
    secrets = ("globex", dash.customer_ids["globex"], dash.key_ids["globex"], dash.keys["globex"])
    paths = ["/dashboard/api/me", "/dashboard/api/customer/balance", "/dashboard/", *HOST_PATHS,
             "/dashboard/api/statements", "/dashboard/api/licensor/trend"]
    for bucket in ("day", "week", "month"):
        for params in ({}, {"customer": "globex"}, {"customer_id": dash.customer_ids["globex"]}):
            paths.append(("/dashboard/api/customer/usage", {"bucket": bucket, "since": first_of_month(dash.settled),
                                                             **params}))
    for entry in paths:
        path, params = entry if isinstance(entry, tuple) else (entry, {})
        response = dash.get(path, dash.keys["acme"], **params)
        assert response.status_code in (200, 403), (path, response.text)
        for secret in secrets:
            assert secret not in response.text, (path, secret)
    body = dash.get("/dashboard/api/customer/usage", dash.keys["acme"], bucket="month", customer="globex",
                    since=first_of_month(dash.settled)).json()
    assert body["requests_by_model"]["total"] == LIVE_REQUESTS["acme"] + 2


# --- the page --------------------------------------------------------------------------------

def test_the_page_and_its_chart_library_are_served_from_the_package(dash: Dashboard):
    page = dash.get("/dashboard", None)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    library = dash.get("/dashboard/static/vendor/chart.umd.min.js", None)
    assert library.status_code == 200 and "Chart.js v4" in library.text[:200]
    assert dash.get("/dashboard/static/app.js", None).status_code == 200


def test_the_dashboard_reads_the_admin_token_where_the_gateway_keeps_it():
    assert ADMIN_TOKEN_META_KEY == GATEWAY_ADMIN_TOKEN_META_KEY
