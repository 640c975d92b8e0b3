"""The dashboard's pure side: buckets, money on screen, costs and margins, the share trend,
statement files, and the [costs] section of the config."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from revstream.config import ConfigError, CostsConfig, load_config
from revstream.dashboard import statement_csv, statement_markdown, statement_rows
from revstream.dashboard._views import (
    BUCKETS_MAX,
    ViewError,
    bucket_label,
    bucket_starts,
    cost_exact,
    day_of,
    money_json,
    share_trend,
    streams_table,
    usage_series,
)
from revstream.store import DayUsage


def day(text: str) -> int:
    return day_of(date.fromisoformat(text))


def usage(on: str, model: str = "m", currency: str | None = "USD", requests: int = 1, prompt: int = 10,
          completion: int = 5, charge: int = 0, duration_ms: int = 0, stream: str = "api") -> DayUsage:
    return DayUsage(day(on), stream, model, currency, requests, prompt, completion, charge, duration_ms)


# --- money ----------------------------------------------------------------------------------

@pytest.mark.parametrize("nanos, currency, minor, text", [
    (12_345_000_000, "USD", 1234, "12.34"),      # half-even: 1234.5 cents -> 1234
    (12_355_000_000, "USD", 1236, "12.36"),
    (5_000_000, "USD", 0, "0.00"),              # half a cent rounds to even (0)
    (1_500_000_000, "JPY", 2, "2"),
    (1_234_500_000, "KWD", 1234, "1.234"),
    (-2_000_000_000, "EUR", -200, "-2.00"),
])
def test_money_on_screen_is_rounded_once_to_the_minor_unit(nanos, currency, minor, text):
    assert money_json(nanos, currency) == {"nanos": nanos, "currency": currency, "minor": minor, "text": text}


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
    assert [(d["label"], d["data"], d["texts"]) for d in usd["datasets"]] == [
        ("a", [2, 0], ["0.02", "0.00"]), ("b", [0, 1], ["0.00", "0.01"])]  # 1.5 cents rounds to 2
    assert usd["total"]["text"] == "0.02"  # 2.2 cents: the total is rounded once, not summed from points
    assert [d["label"] for d in series["revenue_by_stream"][0]["datasets"]] == ["api", "subscription"]
    assert series["requests_by_model"]["total"] == 4
    assert series["tokens_by_model"]["datasets"][1] == {"label": "b", "data": [0, 30]}


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
    assert free["revenue"] is None and free["cost"] is None and free["margin"] is None and free["requests"] == 1


# --- the licensor's share trend ------------------------------------------------------------

def _statement(period: str, shares: dict[str, int], adjustments: dict[str, int], minor: int) -> dict:
    return {"period": period, "currency": "USD", "share_total_minor": minor,
            "lines": [{"model": m, "share_nanos": n} for m, n in shares.items()],
            "adjustment_lines": [{"model": m, "share_nanos": n} for m, n in adjustments.items()]}


def test_share_trend_by_model_and_period_counts_adjustments_in_the_period_that_settled_them():
    trend = share_trend([_statement("2026-02", {"a": 30_000_000}, {"a": 10_000_000}, 4),
                         _statement("2026-01", {"a": 5_000_000, "b": 20_000_000}, {}, 3)])
    assert trend["periods"] == ["2026-01", "2026-02"]
    [usd] = trend["currencies"]
    assert [(d["label"], d["data"]) for d in usd["datasets"]] == [("a", [0, 4]), ("b", [2, 0])]
    assert usd["payable"]["data"] == [3, 4] and usd["payable"]["total"]["text"] == "0.07"


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
