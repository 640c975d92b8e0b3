"""What the dashboard shows, as JSON values: pure functions over the store's rows.

Money leaves the server formatted (see ``_money``): every amount is ``money_json``, exact
to the nano in its text, and charts plot integers in a unit fine enough to show it, so
the browser never computes money. Revenue is what customers pay: usage charges from the
usage records, and fees (subscription fees, commit minimum top-ups) exactly as settlement
settles them (``store.fee_revenue``), each earned evenly over its interval, so a bucket
holds the part of a fee earned inside it. Days are integers (days since 1970-01-01, UTC);
weeks start on Monday; months are calendar months.
"""

from __future__ import annotations

import base64
import bisect
from collections import defaultdict
from datetime import date, timedelta
from fractions import Fraction
from typing import Callable, Final, Iterable

from ..config import CostsConfig
from ..money import format_display, nanos_per_minor, parse_json_int, round_half_even
from ..periods import datetime_of_us, rfc3339
from ..pricing import TOKENS_PER_MTOK
from ..store import CustomerAccount, CustomerSpend, DayUsage, StoredStatement, VerificationState
from ..store._dashboard import FeeRevenue
from ._money import minor_money_json, money_chart, money_dataset, money_json, money_list_json

BUCKETS: Final = ("day", "week", "month")
# How many buckets a chart shows when the request names no start.
BUCKETS_DEFAULT: Final = {"day": 30, "week": 12, "month": 12}
BUCKETS_MAX: Final = 400
MILLISECONDS_PER_HOUR: Final = 3_600_000
MICROSECONDS_PER_DAY: Final = 86_400_000_000
UNATTRIBUTED: Final = "unattributed"
_EPOCH: Final = date(1970, 1, 1)


class ViewError(ValueError):
    """A request for a view that cannot be drawn (an unknown bucket, too many buckets);
    ``param`` names the query parameter at fault."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


# --- time -------------------------------------------------------------------------------

def day_of(moment: date) -> int:
    return (moment - _EPOCH).days


def date_of(day: int) -> date:
    return _EPOCH + timedelta(days=day)


def time_text(time_us: int | None) -> str | None:
    """A moment for people, to the second: "2026-11-30 05:30:11 UTC"."""
    return None if time_us is None else datetime_of_us(time_us).strftime("%Y-%m-%d %H:%M:%S UTC")


def bucket_start(day: int, bucket: str) -> int:
    moment = date_of(day)
    if bucket == "week":
        return day - moment.weekday()
    if bucket == "month":
        return day_of(moment.replace(day=1))
    return day


def next_bucket(start: int, bucket: str) -> int:
    if bucket == "week":
        return start + 7
    if bucket == "month":
        moment = date_of(start)
        return day_of(date(moment.year + moment.month // 12, moment.month % 12 + 1, 1))
    return start + 1


def _previous_bucket(start: int, bucket: str) -> int:
    return bucket_start(start - 1, bucket)


def bucket_label(start: int, bucket: str) -> str:
    moment = date_of(start)
    return moment.strftime("%Y-%m") if bucket == "month" else moment.isoformat()


def bucket_starts(bucket: str, first_day: int | None, last_day: int) -> list[int]:
    """Every bucket from the one holding ``first_day`` (default: BUCKETS_DEFAULT back) to the
    one holding ``last_day``, in order."""
    if bucket not in BUCKETS:
        raise ViewError(f"bucket must be one of {', '.join(BUCKETS)}, got {bucket!r}", "bucket")
    last = bucket_start(last_day, bucket)
    if first_day is None:
        starts = [last]
        while len(starts) < BUCKETS_DEFAULT[bucket]:
            starts.append(_previous_bucket(starts[-1], bucket))
        return starts[::-1]
    if first_day > last_day:
        raise ViewError("since must not be after until", "since")
    starts = [bucket_start(first_day, bucket)]
    while starts[-1] < last:
        if len(starts) >= BUCKETS_MAX:
            raise ViewError(f"at most {BUCKETS_MAX} {bucket}s at once: choose a later since or a larger bucket", "since")
        starts.append(next_bucket(starts[-1], bucket))
    return starts


# --- fees inside a window -----------------------------------------------------------------

def fee_part(fee: FeeRevenue, since_us: int, until_us: int) -> Fraction:
    """The part of ``fee`` earned inside [since, until): earned evenly over its interval."""
    overlap_us = min(fee.to_us, until_us) - max(fee.from_us, since_us)
    if overlap_us <= 0 or fee.to_us <= fee.from_us:
        return Fraction(0)
    return fee.amount_exact * overlap_us / (fee.to_us - fee.from_us)


def fees_inside(fees: Iterable[FeeRevenue], since_us: int, until_us: int) -> list[tuple[FeeRevenue, Fraction]]:
    """Each fee with the part of it earned inside the window (fees wholly outside left out)."""
    return [(fee, part) for fee in fees if (part := fee_part(fee, since_us, until_us))]


# --- usage series ---------------------------------------------------------------------

def _index(starts: list[int], day: int) -> int:
    return bisect.bisect_right(starts, day) - 1


def _count_datasets(rows: Iterable[DayUsage], starts: list[int], key: Callable, value: Callable) -> dict:
    series: dict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
    for row in rows:
        series[key(row)][_index(starts, row.day)] += value(row)
    datasets = [{"label": label, "data": data} for label, data in sorted(series.items())]
    return {"total": sum(sum(d["data"]) for d in datasets), "datasets": datasets}


def _money_charts(rows: Iterable[DayUsage], fees: Iterable[FeeRevenue], starts: list[int], bucket: str,
                  usage_key: Callable, fee_key: Callable) -> list[dict]:
    """Per currency: one dataset per key, each point the exact revenue of the bucket (usage
    charges, and the part of each fee earned in it), rounded once."""
    series: dict[str, dict[str, list[Fraction]]] = defaultdict(lambda: defaultdict(lambda: [Fraction(0)] * len(starts)))
    for row in rows:
        if row.currency is not None:
            series[row.currency][usage_key(row)][_index(starts, row.day)] += row.charge_nanos
    starts_us = [start * MICROSECONDS_PER_DAY for start in starts]
    ends_us = starts_us[1:] + [next_bucket(starts[-1], bucket) * MICROSECONDS_PER_DAY] if starts else []
    for fee in fees:
        points = series[fee.currency][fee_key(fee)]
        for index in range(max(0, bisect.bisect_right(starts_us, fee.from_us) - 1), len(starts_us)):
            if starts_us[index] >= fee.to_us:
                break
            points[index] += fee_part(fee, starts_us[index], ends_us[index])
    return [money_chart(currency, by_key) for currency, by_key in sorted(series.items())]


def usage_series(rows: list[DayUsage], bucket: str, starts: list[int], by_stream: bool,
                 fees: Iterable[FeeRevenue] = (), fee_label: Callable | None = None) -> dict:
    """Revenue, requests and tokens per bucket by model (and by stream for the host).

    Revenue adds the fees: by the model settlement attributes each to (or by
    ``fee_label(fee)``, e.g. the plan for a customer's own view) and by its stream."""
    inside = [row for row in rows if starts and row.day >= starts[0]]
    fees = tuple(fees) if starts else ()
    by_model = fee_label or (lambda fee: fee.model or UNATTRIBUTED)
    value = {
        "bucket": bucket, "labels": [bucket_label(start, bucket) for start in starts],
        "revenue_by_model": _money_charts(inside, fees, starts, bucket, lambda r: r.model, by_model),
        "requests_by_model": _count_datasets(inside, starts, lambda r: r.model, lambda r: r.requests),
        "tokens_by_model": _count_datasets(inside, starts, lambda r: r.model,
                                           lambda r: r.tokens_prompt + r.tokens_completion),
    }
    if by_stream:
        value["revenue_by_stream"] = _money_charts(inside, fees, starts, bucket, lambda r: r.stream, lambda f: f.stream)
    return value


# --- serving cost and margin ----------------------------------------------------------

def cost_exact(row: DayUsage, costs: CostsConfig) -> Fraction:
    """What serving ``row`` cost, in nanos of ``costs.currency``, unrounded."""
    cost = Fraction(0)
    per_mtok_nanos = dict(costs.per_mtok_nanos).get(row.model)
    if per_mtok_nanos is not None:
        cost += Fraction((row.tokens_prompt + row.tokens_completion) * per_mtok_nanos, TOKENS_PER_MTOK)
    if costs.gpu_hour_nanos is not None:
        cost += Fraction(row.duration_ms * costs.gpu_hour_nanos, MILLISECONDS_PER_HOUR)
    return cost


def _rounded(amounts: dict[str, Fraction]) -> dict[str, int]:
    return {currency: round_half_even(exact) for currency, exact in amounts.items()}


def streams_table(rows: list[DayUsage], costs: CostsConfig, fees: Iterable[tuple[FeeRevenue, Fraction]] = ()) -> list[dict]:
    """One row per stream: requests, tokens, usage charges and fees per currency (each
    rounded once), their sum, and, when costs are configured, the serving cost (rounded once
    per stream, half-even to the nano) and the margin: revenue less cost, when the stream
    earned in the costs' currency only. Unpriced usage counts as cost with no revenue."""
    streams: dict[str, dict] = defaultdict(lambda: {"requests": 0, "tokens": 0, "usage": defaultdict(Fraction),
                                                    "fees": defaultdict(Fraction), "cost": Fraction(0)})
    for row in rows:
        entry = streams[row.stream]
        entry["requests"] += row.requests
        entry["tokens"] += row.tokens_prompt + row.tokens_completion
        if row.currency is not None:
            entry["usage"][row.currency] += row.charge_nanos
        if costs.configured:
            entry["cost"] += cost_exact(row, costs)
    for fee, part in fees:
        streams[fee.stream]["fees"][fee.currency] += part
    table = []
    for stream, entry in sorted(streams.items()):
        usage, fee_amounts = _rounded(entry["usage"]), _rounded(entry["fees"])
        revenue = _rounded({currency: entry["usage"].get(currency, 0) + entry["fees"].get(currency, 0)
                            for currency in set(entry["usage"]) | set(entry["fees"])})
        row = {"stream": stream, "requests": entry["requests"], "tokens": entry["tokens"],
               "usage": money_list_json(usage), "fees": money_list_json(fee_amounts),
               "revenue": money_list_json(revenue), "cost": None, "margin": None}
        if costs.configured:
            cost = round_half_even(entry["cost"])
            row["cost"] = money_json(cost, costs.currency)
            if set(revenue) <= {costs.currency}:
                row["margin"] = money_json(revenue.get(costs.currency, 0) - cost, costs.currency)
        table.append(row)
    return table


# --- customers ------------------------------------------------------------------------

def _customer_rows(spend: list[CustomerSpend], fees: Iterable[tuple[FeeRevenue, Fraction]]) -> dict[str, dict]:
    customers: dict[str, dict] = {}

    def entry(customer_id: str, name: str) -> dict:
        return customers.setdefault(customer_id, {"customer": name, "customer_id": customer_id, "requests": 0,
                                                  "tokens": 0, "usage": defaultdict(Fraction),
                                                  "fees": defaultdict(Fraction)})

    for row in spend:
        found = entry(row.customer_id, row.customer)
        found["requests"] += row.requests
        found["tokens"] += row.tokens
        if row.currency is not None:
            found["usage"][row.currency] += row.charge_nanos
    for fee, part in fees:
        entry(fee.customer_id, fee.customer)["fees"][fee.currency] += part
    return customers


def top_customers_json(spend: list[CustomerSpend], fees: Iterable[tuple[FeeRevenue, Fraction]], limit: int) -> list[dict]:
    """One row per customer: requests, tokens, usage charges, fees and what it spent in all
    (per currency, each rounded once); the ``limit`` who spent most, most first (several
    currencies: by the first currency in alphabetical order, then the next), then by
    requests and name."""
    rows = []
    for found in _customer_rows(spend, fees).values():
        exact = {currency: found["usage"].get(currency, 0) + found["fees"].get(currency, 0)
                 for currency in set(found["usage"]) | set(found["fees"])}
        rows.append({"customer": found["customer"], "customer_id": found["customer_id"],
                     "requests": found["requests"], "tokens": found["tokens"],
                     "usage": money_list_json(_rounded(found["usage"])), "fees": money_list_json(_rounded(found["fees"])),
                     "spent": money_list_json(_rounded(exact)), "_exact": exact})
    currencies = sorted({currency for row in rows for currency in row["_exact"]})
    rows.sort(key=lambda row: (*(-row["_exact"].get(currency, 0) for currency in currencies), -row["requests"],
                               row["customer"]))
    return [{key: value for key, value in row.items() if key != "_exact"} for row in rows[:limit]]


def accounts_json(accounts: list[CustomerAccount]) -> dict:
    """One row per customer (its prepaid credit and its receivable, per currency), and the
    totals per account kind and currency."""
    by_customer: dict[str, dict] = {}
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for account in accounts:
        row = by_customer.setdefault(account.customer_id, {
            "customer": account.customer, "customer_id": account.customer_id, "billing_mode": account.billing_mode,
            "credit": {}, "receivable": {}, "credit_limit": None})
        row["credit" if account.kind == "customer_credit" else "receivable"][account.currency] = account.balance_nanos
        if account.credit_limit_nanos is not None:
            row["credit_limit"] = money_json(account.credit_limit_nanos, account.currency)
        totals[(account.kind, account.currency)] += account.balance_nanos
    rows = sorted(by_customer.values(), key=lambda row: row["customer"])
    return {
        "accounts": [{**row, "credit": money_list_json(row["credit"]), "receivable": money_list_json(row["receivable"])}
                     for row in rows],
        "outstanding": [{"kind": kind, "balance": money_json(nanos, currency)}
                        for (kind, currency), nanos in sorted(totals.items())],
    }


# --- statements -----------------------------------------------------------------------

def terms_text(terms: dict, currency: str) -> str:
    """An agreement's terms in a few words: "15% of net, minimum 100.00 USD"."""
    if terms.get("tiers"):
        words = ["tiered " + " / ".join(f"{tier[1] / 100:g}%" for tier in terms["tiers"])]
    elif terms.get("royalty_nanos_per_mtok") is not None:
        words = [f"{format_display(parse_json_int(terms['royalty_nanos_per_mtok']), currency, exact=True)} per Mtok"]
    else:
        words = [f"{(terms.get('share_bps') or 0) / 100:g}% of net"]
    words += [f"{stream} {bps / 100:g}%" for stream, bps in sorted((terms.get("stream_share_bps") or {}).items())]
    for name in ("minimum", "cap"):
        if terms.get(f"{name}_nanos") is not None:
            words.append(f"{name} {format_display(parse_json_int(terms[f'{name}_nanos']), currency, exact=True)}")
    return ", ".join(words)


def statement_title(value: dict) -> str:
    """A statement named for people: its licensor, period and models."""
    models = ", ".join(value.get("terms", {}).get("models", ()))
    return f"{value['licensor']}, {value['period']}" + (f" ({models})" if models else "")


def statement_json_summary(value: dict, verification: VerificationState) -> dict:
    """One row of a statements table, from the statement's published JSON."""
    currency = value["currency"]
    terms = value.get("terms") or {}
    return {
        "statement": value["statement"], "title": statement_title(value), "period": value["period"],
        "licensor": value["licensor"], "agreement": value["agreement"], "models": list(terms.get("models", ())),
        "terms": terms_text(terms, currency), "currency": currency,
        "share_total": money_json(parse_json_int(value["share_total_nanos"]), currency),
        "payable": minor_money_json(parse_json_int(value["share_total_minor"]), currency),
        "verification": {"state": verification.state, "reason": verification.reason, "text": verification.text},
    }


def licensors_owed(closed: list[StoredStatement], previews: list[dict], not_previewed: Iterable[str] = ()) -> dict:
    """What each licensor is owed: per closed period (its statements) and for every period
    not settled yet (previews, as if it closed now); ``not_previewed``: unsettled periods
    beyond the preview bound, listed so that none is silently left out."""
    by_licensor: dict[str, dict] = {}

    def entry(name: str) -> dict:
        return by_licensor.setdefault(name, {"licensor": name, "closed": [], "open": []})

    for stored in closed:
        value = stored.json()
        entry(value["licensor"])["closed"].append({
            "period": value["period"], "statement": value["statement"], "title": statement_title(value),
            "currency": value["currency"],
            "payable": minor_money_json(parse_json_int(value["share_total_minor"]), value["currency"])})
    for value in previews:
        entry(value["licensor"])["open"].append({
            "period": value["period"], "currency": value["currency"], "records": value["usage"]["records"],
            "title": statement_title(value),
            "payable": minor_money_json(parse_json_int(value["share_total_minor"]), value["currency"])})
    return {"licensors": [by_licensor[name] for name in sorted(by_licensor)], "not_previewed": list(not_previewed)}


def _statement_parts(value: dict) -> list[tuple[str, int]]:
    """The parts a statement's share total is the exact sum of: each model's lines and
    adjustments, the minimum guarantee top-up, the cap reduction (negative)."""
    parts = [(line["model"], parse_json_int(line["share_nanos"])) for line in (*value["lines"], *value["adjustment_lines"])]
    for name, label in (("minimum", "minimum guarantee top-up"), ("cap", "cap reduction")):
        if value.get(name) and parse_json_int(value[name]["share_nanos"]):
            parts.append((label, parse_json_int(value[name]["share_nanos"])))
    return parts


def share_trend(values: list[dict]) -> dict:
    """A licensor's share per period, per currency: stacked datasets that add up to each
    period's statement share total exactly (its models' lines and adjustments, the minimum
    top-up, the cap reduction), the share total, and the payable (rounded to the minor unit
    with the residue carried, as the statements say)."""
    periods = sorted({value["period"] for value in values})
    position = {period: index for index, period in enumerate(periods)}
    parts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * len(periods)))
    totals: dict[str, list[int]] = defaultdict(lambda: [0] * len(periods))
    payable: dict[str, list[int]] = defaultdict(lambda: [0] * len(periods))
    for value in values:
        currency, index = value["currency"], position[value["period"]]
        for label, nanos in _statement_parts(value):
            parts[currency][label][index] += nanos
        totals[currency][index] += parse_json_int(value["share_total_nanos"])
        payable[currency][index] += parse_json_int(value["share_total_minor"]) * nanos_per_minor(currency)
    currencies = []
    for currency in sorted(totals):
        chart = money_chart(currency, {label: [Fraction(n) for n in points] for label, points in parts[currency].items()})
        digits = chart["plot_digits"]
        chart["share_total"] = money_dataset("share total", totals[currency], currency, digits)
        chart["payable"] = money_dataset("payable", payable[currency], currency, digits)
        currencies.append(chart)
    return {"periods": periods, "currencies": currencies}


def checkpoint_json(stored) -> dict | None:
    """The latest signed checkpoint, its time for people beside the RFC 3339 stamp."""
    if stored is None:
        return None
    return {"size": stored.size, "root": base64.b64encode(stored.root).decode("ascii"), "note": stored.note,
            "created": time_text(stored.created_us), "created_rfc3339": rfc3339(stored.created_us)}
