"""Issue 12, item 12: the host dashboard tells the truth about money on day one. Each test
reads the dashboard's JSON API of a real gateway (fake backends) on SQLite and the real
PostgreSQL, and checks its figures against the store (see `day_one_fixture`)."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from revstream.backends import BACKEND_CLASSES
from revstream.money import format_display, round_half_even
from revstream.periods import period_bounds_us
from revstream.store import list_statements
from revstream.store._fees import computed_fees, period_fees

from conftest import create_postgres_database, drop_postgres_database
from day_one_fixture import FAST_LOG, HOST, LIVE, DayOne, InProcessServer, current_period, open_day_one
from fake_backend import FakeBackend


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def day(request, tmp_path_factory) -> DayOne:
    home = tmp_path_factory.mktemp("day-one")
    url = f"sqlite:///{home / 'store.db'}" if request.param == "sqlite" else create_postgres_database()
    patch = pytest.MonkeyPatch()
    patch.setitem(BACKEND_CLASSES, "fake", FakeBackend)
    server = InProcessServer(url, home, transparency=FAST_LOG)
    try:
        yield open_day_one(server)
    finally:
        if server.thread.ident is not None:  # started
            server.__exit__(None, None, None)
        patch.undo()
        if request.param == "postgres":
            drop_postgres_database(url)


def whole_window(day: DayOne) -> dict:
    return {"bucket": "month", "since": f"{day.settled}-01"}


def store_fees(day: DayOne) -> dict[str, Fraction]:
    """Every fee of the window, per stream, as settlement has them: stored by the close of
    the settled month, computed for the months not settled yet."""
    by_stream: dict[str, Fraction] = {}
    with day.engine.connect() as connection:
        entries = period_fees(connection, day.settled) + [
            entry for period in day.unsettled for entry in computed_fees(connection, period)]
    for entry in entries:
        by_stream[entry.stream] = by_stream.get(entry.stream, Fraction(0)) + entry.amount_exact
    return by_stream


# --- fees by stream -------------------------------------------------------------------------

def test_subscription_fees_appear_by_stream_as_settlement_has_them(day: DayOne):
    body = day.get("/dashboard/api/host/usage", day.admin, **whole_window(day))
    fees = store_fees(day)
    assert fees["subscription"] == 6 * 9 * 10**9  # six months of the 9.00 plan, each whole
    [usd] = body["revenue_by_stream"]
    by_label = {dataset["label"]: dataset for dataset in usd["datasets"]}
    assert by_label["subscription"]["total"]["nanos"] == round_half_even(fees["subscription"])
    assert by_label["subscription"]["nanos"] == [9 * 10**9] * 6  # one fee in every month
    charges = sum(record.charge_nanos or 0 for record in day.records())
    assert usd["total"]["nanos"] == charges + round_half_even(sum(fees.values()))
    subscription = next(row for row in body["streams"] if row["stream"] == "subscription")
    assert [fee["nanos"] for fee in subscription["fees"]] == [round_half_even(fees["subscription"])]
    assert subscription["revenue"][0]["display"] == "54.00 USD"
    [usd_model] = body["revenue_by_model"]
    assert usd_model["total"]["nanos"] == usd["total"]["nanos"]  # every fee attributed to a model


def test_a_customers_spend_counts_its_fees(day: DayOne):
    top = day.get("/dashboard/api/host/customers", day.admin, **whole_window(day))["top"]
    assert top[0]["customer"] == "subs" and top[0]["spent"][0]["display"] == "54.00 USD"
    mine = day.get("/dashboard/api/customer/usage", day.acme, **whole_window(day))
    assert {d["label"] for d in mine["revenue_by_model"][0]["datasets"]} == {"fake-echo", "capped-model"}


# --- one row per thing ----------------------------------------------------------------------

def test_no_customer_or_stream_is_listed_twice(day: DayOne):
    customers = day.get("/dashboard/api/host/customers", day.admin, **whole_window(day))
    names = [row["customer"] for row in customers["top"]]
    assert sorted(names) == sorted(set(names)) == ["acme", "subs"]
    acme = next(row for row in customers["top"] if row["customer"] == "acme")
    records = [r for r in day.records() if r.customer_id == acme["customer_id"]]
    assert acme["requests"] == len(records) == 2 + LIVE + 1  # priced and unpriced alike, in one row
    assert acme["tokens"] == sum(r.tokens_prompt + r.tokens_completion for r in records)
    assert [m["nanos"] for m in acme["usage"]] == [sum(r.charge_nanos or 0 for r in records)]
    accounts = [row["customer"] for row in customers["accounts"]]
    assert len(accounts) == len(set(accounts))
    streams = [row["stream"] for row in day.get("/dashboard/api/host/usage", day.admin, **whole_window(day))["streams"]]
    assert sorted(streams) == sorted(set(streams)) == ["api", "subscription"]


# --- amounts under a cent ---------------------------------------------------------------------

def test_amounts_under_a_cent_are_shown_and_plotted(day: DayOne):
    live = [r for r in day.records() if r.time_us >= period_bounds_us(current_period())[0] and r.model == "fake-echo"]
    spent = sum(r.charge_nanos for r in live)
    assert len(live) == LIVE and 0 < spent < 10_000_000  # less than a cent in all
    body = day.get("/dashboard/api/customer/usage", day.acme, bucket="day")
    [usd] = body["revenue_by_model"]
    [echo] = [d for d in usd["datasets"] if d["label"] == "fake-echo"]
    assert echo["texts"][-1] != "0.00" and echo["data"][-1] > 0  # not rounded away, not a flat chart
    assert echo["nanos"][-1] == spent and echo["total"]["display"] == format_display(spent, "USD", exact=True)
    assert echo["data"][-1] == round_half_even(Fraction(spent, 10 ** (9 - usd["plot_digits"])))
    host = day.get("/dashboard/api/host/usage", day.admin, bucket="day")
    [api] = [d for d in host["revenue_by_stream"][0]["datasets"] if d["label"] == "api"]
    # Beside 0.30 USD of subscription fees a day the bar is too small to see; its text is exact.
    assert api["nanos"][-1] == spent and api["texts"][-1] == format_display(spent, "USD", exact=True)[:-4]
    balance = day.get("/dashboard/api/customer/balance", day.acme)
    assert balance["available"]["text"] == format_display(balance["available_nanos"], "USD", exact=True)[:-4]


# --- what the licensors are owed -------------------------------------------------------------------

def test_owed_to_licensors_lists_every_unsettled_month(day: DayOne):
    owed = day.get("/dashboard/api/host/licensors", day.admin)
    by_name = {entry["licensor"]: entry for entry in owed["licensors"]}
    for name in ("Llama Labs", "Capped Labs"):
        assert [p["period"] for p in by_name[name]["open"]] == list(day.unsettled)  # five, not the last three
        assert [p["period"] for p in by_name[name]["closed"]] == [day.settled]
    assert owed["not_previewed"] == []
    minimum = [p["payable"]["display"] for p in by_name["Llama Labs"]["open"]]
    assert minimum[:-1] == ["5.00 USD"] * (len(day.unsettled) - 1)  # the guarantee, every month


def test_the_licensors_chart_equals_its_statements_minimum_and_cap_applied(day: DayOne):
    for token, part in ((day.licensor, "minimum guarantee top-up"), (day.capped, "cap reduction")):
        trend = day.get("/dashboard/api/licensor/trend", token)
        [usd] = trend["currencies"]
        [statement] = [s for s in list_statements(day.engine, day.settled)
                       if s.json()["licensor"] == ("Llama Labs" if token == day.licensor else "Capped Labs")]
        value = statement.json()
        assert trend["periods"] == [day.settled]
        assert part in {dataset["label"] for dataset in usd["datasets"]}
        assert sum(dataset["nanos"][0] for dataset in usd["datasets"]) == value["share_total_nanos"]
        assert usd["share_total"]["nanos"] == [value["share_total_nanos"]]
        assert usd["payable"]["nanos"] == [value["share_total_minor"] * 10**7]
    trend = day.get("/dashboard/api/licensor/trend", day.licensor)
    assert trend["currencies"][0]["payable"]["total"]["display"] == "5.00 USD"


# --- names, times, the host ----------------------------------------------------------------------

def test_people_read_names_and_times_not_ids_and_microseconds(day: DayOne):
    checkpoint = day.get("/dashboard/api/host/checkpoint", day.admin)["checkpoint"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", checkpoint["created"])
    [statement] = day.get("/dashboard/api/statements", day.licensor)["statements"]
    assert statement["title"] == f"Llama Labs, {day.settled} (fake-echo)"
    assert statement["terms"] == "10% of net, minimum 5.00 USD"
    owed = day.get("/dashboard/api/host/licensors", day.admin)
    closed = owed["licensors"][1]["closed"][0]
    assert closed["title"] == statement["title"]


def test_the_host_is_named_as_configured(day: DayOne):
    assert day.get("/dashboard/api/me", day.admin) == {"view": "host", "name": HOST.legal_name}
    profile = day.get("/dashboard/api/host/profile", day.admin)
    assert profile == {"configured": True, "legal_name": HOST.legal_name, "address": list(HOST.address),
                       "tax_id": HOST.tax_id, "contact": HOST.contact}
