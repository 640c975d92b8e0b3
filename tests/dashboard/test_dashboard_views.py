"""The dashboard's pure side: buckets, money on screen and in charts, fees in buckets, costs
and margins, customers, the share trend, statement files, and the [costs] and [host]
sections of the config."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from revstream.config import ConfigError, CostsConfig, HostConfig, load_config
from revstream.dashboard import statement_csv, statement_markdown, statement_rows
from revstream.dashboard._money import PLOT_UNITS_MAX, money_chart, plot_digits
from revstream.dashboard._views import (
    BUCKETS_MAX,
    ViewError,
    accounts_json,
    bucket_label,
    bucket_starts,
    cost_exact,
    day_of,
    fees_inside,
    licensors_owed,
    money_json,
    share_trend,
    streams_table,
    terms_text,
    time_text,
    top_customers_json,
    usage_series,
)
from revstream.store import CustomerAccount, CustomerSpend, DayUsage
from revstream.store._dashboard import FeeRevenue

US_PER_DAY = 86_400_000_000


def day(text: str) -> int:
    return day_of(date.fromisoformat(text))


def usage(on: str, model: str = "m", currency: str | None = "USD", requests: int = 1, prompt: int = 10,
          completion: int = 5, charge: int = 0, duration_ms: int = 0, stream: str = "api") -> DayUsage:
    return DayUsage(day(on), stream, model, currency, requests, prompt, completion, charge, duration_ms)


def fee(first: str, before: str, amount: int | Fraction, model: str | None = "m", customer: str = "c",
        stream: str = "subscription", currency: str = "USD") -> FeeRevenue:
    """A fee earned evenly from the day ``first`` to the day ``before`` (excluded)."""
    return FeeRevenue(first[:7], True, stream, model, currency, f"cus_{customer}", customer, "pro", "subscription",
                      day(first) * US_PER_DAY, day(before) * US_PER_DAY, Fraction(amount))


# --- money ----------------------------------------------------------------------------------

@pytest.mark.parametrize("nanos, currency, minor, text", [
    (12_345_000_000, "USD", 1234, "12.345"),     # the text is exact; minor rounds half-even: 1234.5 cents -> 1234
    (12_355_000_000, "USD", 1236, "12.355"),
    (5_000_000, "USD", 0, "0.005"),             # half a cent is shown, not 0.00
    (3_400, "USD", 0, "0.0000034"),              # a small request's charge
    (1_500_000_000, "JPY", 2, "1.5"),
    (1_234_500_000, "KWD", 1234, "1.2345"),
    (-2_000_000_000, "EUR", -200, "-2.00"),
    (1_234_567_890_000_000_000, "USD", 123_456_789_000, "1,234,567,890.00"),
])
def test_money_on_screen_is_exact_and_keeps_its_minor_units(nanos, currency, minor, text):
    assert money_json(nanos, currency) == {"nanos": nanos, "currency": currency, "minor": minor, "text": text,
                                           "display": f"{text} {currency}"}


def test_a_chart_plots_sub_cent_amounts_in_a_unit_fine_enough_to_see_them():
    assert plot_digits("USD", [3_400, 0]) == 8  # 0.0000034 USD: 340 units of 10^-8, not 0 cents
    assert plot_digits("USD", [4_000_000_000]) == 2 and plot_digits("USD", []) == 2
    assert plot_digits("JPY", [1_000_000_000]) == 2  # 1 JPY: 100 hundredths
    assert plot_digits("USD", [10**27]) < 2  # 10^18 USD: coarser than cents, exact in a double
    chart = money_chart("USD", {"api": [Fraction(3_400), Fraction(0)], "fees": [Fraction(1, 3), Fraction(2, 3)]})
    [api, fees] = chart["datasets"]
    assert chart["plot_digits"] == 8 and api["data"] == [340, 0] and api["texts"] == ["0.0000034", "0.00"]
    assert fees["nanos"] == [0, 1] and fees["total"]["nanos"] == 1  # each point rounded once, the total once
    assert chart["total"]["nanos"] == 3_401
    huge = money_chart("USD", {"a": [Fraction(10**27)]})
    assert 0 < huge["datasets"][0]["data"][0] <= PLOT_UNITS_MAX


# --- buckets --------------------------------------------------------------------------------

def test_weeks_start_on_monday_and_months_on_the_first():
    starts = bucket_starts("week", day("2026-11-01"), day("2026-11-29"))  # a Sunday to a Sunday
    assert [bucket_label(s, "week") for s in starts] == ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23"]
    months = bucket_starts("month", day("2025-11-15"), day("2026-02-03"))
    assert [bucket_label(s, "month") for s in months] == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_without_a_start_a_chart_shows_the_default_number_of_buckets():
    assert len(bucket_starts("day", None, day("2026-03-01"))) == 30
    months = bucket_starts("month", None, day("2026-03-01"))
    assert bucket_label(months[0], "month") == "2025-04" and bucket_label(months[-1], "month") == "2026-03"


def test_bucket_requests_out_of_range_are_refused():
    with pytest.raises(ViewError) as caught:
        bucket_starts("hour", None, day("2026-03-01"))
    assert caught.value.param == "bucket"
    with pytest.raises(ViewError):
        bucket_starts("day", day("2026-03-02"), day("2026-03-01"))
    with pytest.raises(ViewError):
        bucket_starts("day", day("2020-01-01"), day("2020-01-01") + BUCKETS_MAX)
    assert len(bucket_starts("day", day("2020-01-01"), day("2020-01-01") + BUCKETS_MAX - 1)) == BUCKETS_MAX


def test_usage_series_adds_each_day_into_its_bucket_by_model_and_stream():
    rows = [usage("2026-01-05", "a", charge=10_000_000), usage("2026-01-31", "a", charge=5_000_000),
            usage("2026-02-01", "b", charge=7_000_000, stream="subscription"), usage("2026-02-02", "b", currency=None)]
    series = usage_series(rows, "month", bucket_starts("month", day("2026-01-01"), day("2026-02-28")), by_stream=True)
    assert series["labels"] == ["2026-01", "2026-02"]
    [usd] = series["revenue_by_model"]
    assert usd["plot_digits"] == 4  # 1.5 cents is 150 units of 10^-4: three digits for the largest bar
    assert [(d["label"], d["data"], d["texts"]) for d in usd["datasets"]] == [
        ("a", [150, 0], ["0.015", "0.00"]), ("b", [0, 70], ["0.00", "0.007"])]
    assert usd["total"]["text"] == "0.022"
    assert [d["label"] for d in series["revenue_by_stream"][0]["datasets"]] == ["api", "subscription"]
    assert series["requests_by_model"]["total"] == 4
    assert series["tokens_by_model"]["datasets"][1] == {"label": "b", "data": [0, 30]}


def test_a_fee_is_earned_evenly_over_its_interval_in_every_bucket_it_spans():
    starts = bucket_starts("day", day("2026-01-30"), day("2026-02-02"))  # four days
    month = fee("2026-01-01", "2026-02-01", 31 * 10**9)  # one unit a day
    third = fee("2026-02-01", "2026-03-01", Fraction(10**9, 3), model=None, customer="d")  # a third of a unit
    series = usage_series([usage("2026-01-31", charge=7)], "day", starts, by_stream=True, fees=[month, third])
    [usd] = series["revenue_by_stream"]
    by_label = {d["label"]: d for d in usd["datasets"]}
    assert by_label["subscription"]["nanos"] == [10**9, 10**9, 11_904_762, 11_904_762]  # 1/84 of a third, rounded
    assert by_label["api"]["nanos"] == [0, 7, 0, 0]
    assert usd["total"]["nanos"] == 2 * 10**9 + 7 + round(Fraction(2 * 10**9, 3 * 28 * 1))
    models = {d["label"] for d in series["revenue_by_model"][0]["datasets"]}
    assert models == {"m", "unattributed"}
    assert fees_inside([month, third], day("2026-01-31") * US_PER_DAY, day("2026-02-01") * US_PER_DAY) == [
        (month, Fraction(10**9))]


# --- costs and margin ---------------------------------------------------------------------

def test_cost_per_million_tokens_and_per_gpu_hour_are_exact():
    costs = CostsConfig("USD", gpu_hour_nanos=3_600_000_000, per_mtok_nanos=(("m", 20_000_000),))
    row = usage("2026-01-01", prompt=700_000, completion=300_001, duration_ms=1500)
    assert cost_exact(row, costs) == Fraction(1_000_001 * 20_000_000, 1_000_000) + 1500 * 1_000  # 3.60 an hour: 1000 nanos a ms


def test_margin_is_revenue_less_the_cost_rounded_once_per_stream():
    costs = CostsConfig("USD", per_mtok_nanos=(("m", 3),))  # 3 nanos per Mtok: a third of a nano per 111,111 tokens
    rows = [usage("2026-01-01", prompt=1, completion=0, charge=100), usage("2026-01-02", prompt=1, completion=0)]
    [api] = streams_table(rows, costs)
    assert api["cost"]["nanos"] == 0 and api["margin"]["nanos"] == 100  # 6/1e6 nanos rounds to 0
    rows = [usage("2026-01-01", prompt=250_000, completion=0, charge=100)] * 2
    [api] = streams_table(rows, CostsConfig("USD", per_mtok_nanos=(("m", 2),)))
    assert api["cost"]["nanos"] == 1 and api["margin"]["nanos"] == 199  # 0.5 + 0.5: one nano, not 0 + 0


def test_without_costs_there_is_no_margin_and_unpriced_usage_has_no_revenue():
    [free] = streams_table([usage("2026-01-01", currency=None)], CostsConfig())
    assert free["revenue"] == [] and free["cost"] is None and free["margin"] is None and free["requests"] == 1


def test_a_stream_is_one_row_with_its_usage_charges_and_its_fees():
    rows = [usage("2026-01-01", charge=100), usage("2026-01-02", currency=None, requests=2),
            usage("2026-01-03", stream="subscription", charge=5)]
    fees = [(fee("2026-01-01", "2026-02-01", 90), Fraction(30)), (fee("2026-01-01", "2026-02-01", 1), Fraction(1, 2))]
    api, subscription = streams_table(rows, CostsConfig("USD", per_mtok_nanos=(("m", 10**6),)), fees)
    assert api["stream"] == "api" and api["requests"] == 3 and [m["nanos"] for m in api["revenue"]] == [100]
    assert api["cost"]["nanos"] == 30 and api["margin"]["nanos"] == 70  # 15 tokens a row at 1 nano a token
    assert [m["nanos"] for m in subscription["fees"]] == [30]  # 30 + 1/2, rounded once (to even)
    assert [m["nanos"] for m in subscription["revenue"]] == [36]  # 5 + 30.5 rounded once
    [eur] = streams_table([usage("2026-01-01", currency="EUR", charge=1)], CostsConfig("USD", gpu_hour_nanos=1))
    assert eur["cost"] is not None and eur["margin"] is None  # no margin across currencies


# --- customers --------------------------------------------------------------------------------

def spend(customer: str, currency: str | None, charge: int, requests: int = 1) -> CustomerSpend:
    return CustomerSpend(customer, f"cus_{customer}", currency, requests, 10 * requests, charge)


def test_a_customer_is_one_row_ranked_by_usage_and_fees():
    rows = [spend("acme", "USD", 500, 4), spend("acme", None, 0, 6), spend("globex", "USD", 900)]
    fees = [(fee("2026-01-01", "2026-02-01", 9, customer="subs"), Fraction(1_000)),
            (fee("2026-01-01", "2026-02-01", 9, customer="acme"), Fraction(1, 2))]
    top = top_customers_json(rows, fees, 10)
    assert [row["customer"] for row in top] == ["subs", "globex", "acme"]
    acme = top[2]
    assert acme["requests"] == 10 and acme["tokens"] == 100
    assert [m["nanos"] for m in acme["usage"]] == [500] and [m["nanos"] for m in acme["fees"]] == [0]
    assert [m["nanos"] for m in acme["spent"]] == [500]  # 500.5 rounded once, half to even
    assert [row["customer"] for row in top_customers_json(rows, fees, 2)] == ["subs", "globex"]


def test_accounts_are_one_row_per_customer():
    accounts = [CustomerAccount("acme", "cus_acme", "prepaid", "customer_credit", "USD", 10, None),
                CustomerAccount("acme", "cus_acme", "prepaid", "customer_receivable", "USD", 3, None),
                CustomerAccount("beta", "cus_beta", "postpaid", "customer_receivable", "USD", 4, 100)]
    value = accounts_json(accounts)
    assert [(a["customer"], [m["nanos"] for m in a["credit"]], [m["nanos"] for m in a["receivable"]])
            for a in value["accounts"]] == [("acme", [10], [3]), ("beta", [], [4])]
    assert value["accounts"][1]["credit_limit"]["nanos"] == 100
    assert {o["kind"]: o["balance"]["nanos"] for o in value["outstanding"]} == {
        "customer_credit": 10, "customer_receivable": 7}


# --- the licensor's share trend ------------------------------------------------------------

def _statement(period: str, shares: dict[str, int], adjustments: dict[str, int], minor: int,
               minimum: int | None = None, cap: int | None = None) -> dict:
    total = sum(shares.values()) + sum(adjustments.values()) + (minimum or 0) + (cap or 0)
    return {"period": period, "currency": "USD", "share_total_minor": minor, "share_total_nanos": total,
            "lines": [{"model": m, "share_nanos": n} for m, n in shares.items()],
            "adjustment_lines": [{"model": m, "share_nanos": n} for m, n in adjustments.items()],
            "minimum": None if minimum is None else {"description": "minimum guarantee top-up", "share_nanos": minimum},
            "cap": None if cap is None else {"description": "cap reduction", "share_nanos": cap}}


def test_share_trend_by_model_and_period_counts_adjustments_in_the_period_that_settled_them():
    trend = share_trend([_statement("2026-02", {"a": 30_000_000}, {"a": 10_000_000}, 4),
                         _statement("2026-01", {"a": 5_000_000, "b": 20_000_000}, {}, 3)])
    assert trend["periods"] == ["2026-01", "2026-02"]
    [usd] = trend["currencies"]
    assert [(d["label"], d["nanos"]) for d in usd["datasets"]] == [("a", [5_000_000, 40_000_000]),
                                                                    ("b", [20_000_000, 0])]
    assert usd["payable"]["nanos"] == [30_000_000, 40_000_000] and usd["payable"]["total"]["text"] == "0.07"


def test_the_share_trend_adds_up_to_the_statements_with_their_minimum_and_cap():
    values = [_statement("2026-01", {"a": 1_000_000}, {}, 500, minimum=4_999_000_000),
              _statement("2026-02", {"a": 9_000_000_000}, {}, 100, cap=-8_900_000_000)]
    [usd] = share_trend(values)["currencies"]
    labels = [d["label"] for d in usd["datasets"]]
    assert labels == ["a", "cap reduction", "minimum guarantee top-up"]
    for index, value in enumerate(values):
        assert sum(d["nanos"][index] for d in usd["datasets"]) == value["share_total_nanos"]
    assert usd["share_total"]["nanos"] == [5_000_000_000, 100_000_000]
    assert usd["payable"]["texts"] == ["5.00", "1.00"]


def test_owed_lists_the_months_beyond_the_preview_bound_too():
    owed = licensors_owed([], [{"licensor": "L", "period": "2026-01", "currency": "USD", "usage": {"records": 2},
                                "share_total_minor": 7, "terms": {"models": ["m"]}}], ["2026-02"])
    assert owed["not_previewed"] == ["2026-02"]
    [entry] = owed["licensors"]
    assert entry["open"][0]["payable"]["display"] == "0.07 USD" and entry["open"][0]["title"] == "L, 2026-01 (m)"


def test_terms_and_times_read_as_words():
    assert terms_text({"share_bps": 1500, "minimum_nanos": 100 * 10**9, "cap_nanos": None}, "USD") == \
        "15% of net, minimum 100.00 USD"
    assert terms_text({"tiers": [[0, 1000], [100_000_000_000, 1500]], "stream_share_bps": {"subscription": 500},
                       "cap_nanos": 5_000_000_000}, "EUR") == "tiered 10% / 15%, subscription 5%, cap 5.00 EUR"
    assert terms_text({"royalty_nanos_per_mtok": 50_000_000}, "USD") == "0.05 USD per Mtok"
    assert time_text(1_700_000_000_123_456) == "2023-11-14 22:13:20 UTC"


# --- statement files --------------------------------------------------------------------------

STATEMENT = {
    "statement": "stm_1_202601", "period": "2026-01", "licensor": "L", "agreement": "agr_1", "currency": "USD",
    "usage": {"time_from": "2026-01-01T00:00:00Z", "time_before": "2026-02-01T00:00:00Z", "records": 2, "late_records": 0},
    "lines": [{"model": "m", "stream": "api", "requests": 2, "tokens_prompt": 3, "tokens_completion": 4,
               "gross_nanos": 100, "net_nanos": 100, "rate": "1500bps", "share_nanos": 15}],
    "bracket_lines": [], "minimum": None, "cap": None, "adjustment_lines": [],
    "gross_total_nanos": 100, "net_total_nanos": 100, "share_total_nanos": 15, "share_total_minor": 0,
    "residue_nanos": 15,
}


def test_statement_files_list_every_line_and_the_total():
    assert [row["kind"] for row in statement_rows(STATEMENT)] == ["line", "total"]
    lines = statement_csv(STATEMENT).splitlines()
    assert lines[0].startswith("kind,period,description,model") and lines[1].startswith("line,2026-01,,m,api,2,3,4")
    assert "| total | 2026-01 | share total |" in statement_markdown(STATEMENT)


# --- [costs] in the config file -------------------------------------------------------------

def test_costs_are_read_from_the_config_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[costs]\ncurrency = "EUR"\ngpu_hour = "2.50"\n[costs.per_mtok]\n"llama" = "0.02"\n')
    costs = load_config(path, environ={}).costs
    assert costs == CostsConfig("EUR", 2_500_000_000, (("llama", 20_000_000),)) and costs.configured
    assert not load_config(None, environ={}).costs.configured


def test_the_host_is_read_from_the_config_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[host]\nlegal_name = " Example GmbH "\naddress = ["Musterstraße 1", "10115 Berlin"]\n'
                    'tax_id = "DE123456789"\ncontact = "billing@example.com"\n')
    host = load_config(path, environ={}).host
    assert host == HostConfig("Example GmbH", ("Musterstraße 1", "10115 Berlin"), "DE123456789", "billing@example.com")
    assert host.issuer() == {"legal_name": "Example GmbH", "address": ["Musterstraße 1", "10115 Berlin"],
                             "tax_id": "DE123456789", "contact": "billing@example.com"}
    unset = load_config(None, environ={}).host
    assert not unset.configured and unset.issuer() is None


@pytest.mark.parametrize("text, key", [
    ('[host]\naddress = ["x"]\n', "host.legal_name"),
    ('[host]\nlegal_name = ""\n', "host.legal_name"),
    ('[host]\nlegal_name = "A\\nB"\n', "host.legal_name"),
    ('[host]\nlegal_name = "A"\naddress = [1]\n', "host.address[0]"),
    ('[host]\nlegal_name = "A"\naddress = {x = 1}\n', "host.address"),
    ('[host]\nlegal_name = "A"\nvat = "1"\n', "host.vat"),
    ('[host]\nlegal_name = "A"\ntax_id = 5\n', "host.tax_id"),
    ('host = "A"\n', "host"),
])
def test_a_wrong_host_section_is_refused_naming_its_key(tmp_path, text, key):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value).startswith(key)


@pytest.mark.parametrize("text, key", [
    ('[costs]\ngpu_hour = 2.5\n', "costs.gpu_hour"),
    ('[costs]\ngpu_hour = "-1"\n', "costs.gpu_hour"),
    ('[costs]\ncurrency = "usd"\n', "costs.currency"),
    ('[costs]\nper_gpu = "1"\n', "costs.per_gpu"),
    ('[costs]\nper_mtok = "1"\n', "costs.per_mtok"),
    ('[costs.per_mtok]\nllama = "0.0000000001"\n', "costs.per_mtok.llama"),
])
def test_a_wrong_cost_is_refused_naming_its_key(tmp_path, text, key):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value).startswith(key)
