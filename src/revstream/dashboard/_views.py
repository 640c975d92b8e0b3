"""What the dashboard shows, as JSON values: pure functions over the store's rows.

Money leaves the server formatted: every amount is ``money_json`` (integer nanos, the
integer count of minor units a chart plots, and the text rounded half-even to the
currency's minor unit by ``revstream.money``), so the browser never computes money.
Days are integers (days since 1970-01-01, UTC); weeks start on Monday; months are
calendar months.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from datetime import date, timedelta
from fractions import Fraction
from typing import Callable, Final, Iterable

from ..config import CostsConfig
from ..money import format_amount, minor_unit_digits, nanos_per_minor, round_half_even, split_minor
from ..pricing import TOKENS_PER_MTOK
from ..store import CustomerAccount, CustomerSpend, DayUsage, StoredStatement, VerificationState

BUCKETS: Final = ("day", "week", "month")
# How many buckets a chart shows when the request names no start.
BUCKETS_DEFAULT: Final = {"day": 30, "week": 12, "month": 12}
BUCKETS_MAX: Final = 400
MILLISECONDS_PER_HOUR: Final = 3_600_000
_EPOCH: Final = date(1970, 1, 1)


class ViewError(ValueError):
    """A request for a view that cannot be drawn (an unknown bucket, too many buckets);
    ``param`` names the query parameter at fault."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


# --- money and time -------------------------------------------------------------------

def money_json(nanos: int, currency: str) -> dict:
    """An amount as the page shows it: exact nanos, minor units to plot, text to read."""
    return {"nanos": nanos, "currency": currency, "minor": split_minor(nanos, currency)[0],
            "text": format_amount(nanos, currency)}


def minor_money_json(minor: int, currency: str) -> dict:
    """An amount already rounded to the minor unit (a statement's payable)."""
    return money_json(minor * nanos_per_minor(currency), currency)


def day_of(moment: date) -> int:
    return (moment - _EPOCH).days


def date_of(day: int) -> date:
    return _EPOCH + timedelta(days=day)


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


# --- usage series ---------------------------------------------------------------------

def _index(starts: list[int], day: int) -> int:
    return bisect.bisect_right(starts, day) - 1


def _count_datasets(rows: Iterable[DayUsage], starts: list[int], key: Callable, value: Callable) -> dict:
    series: dict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
    for row in rows:
        series[key(row)][_index(starts, row.day)] += value(row)
    datasets = [{"label": label, "data": data} for label, data in sorted(series.items())]
    return {"total": sum(sum(d["data"]) for d in datasets), "datasets": datasets}


def _money_dataset(label: str, points: list[int], currency: str) -> dict:
    """A chart dataset of amounts: minor units to plot, texts for the tooltips, the total."""
    amounts = [money_json(nanos, currency) for nanos in points]
    return {"label": label, "data": [a["minor"] for a in amounts], "texts": [a["text"] for a in amounts],
            "total": money_json(sum(points), currency)}


def _money_datasets(rows: Iterable[DayUsage], starts: list[int], key: Callable) -> list[dict]:
    """Per currency: one dataset per key, each point an amount (plotted in minor units)."""
    series: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * len(starts)))
    for row in rows:
        if row.currency is not None:
            series[row.currency][key(row)][_index(starts, row.day)] += row.charge_nanos
    out = []
    for currency, by_key in sorted(series.items()):
        datasets = [_money_dataset(label, points, currency) for label, points in sorted(by_key.items())]
        out.append({"currency": currency, "minor_digits": minor_unit_digits(currency),
                    "total": money_json(sum(sum(points) for points in by_key.values()), currency), "datasets": datasets})
    return out


def usage_series(rows: list[DayUsage], bucket: str, starts: list[int], by_stream: bool) -> dict:
    """Revenue, requests and tokens per bucket, by model (and by stream for the host)."""
    inside = [row for row in rows if starts and row.day >= starts[0]]
    value = {
        "bucket": bucket, "labels": [bucket_label(start, bucket) for start in starts],
        "revenue_by_model": _money_datasets(inside, starts, lambda r: r.model),
        "requests_by_model": _count_datasets(inside, starts, lambda r: r.model, lambda r: r.requests),
        "tokens_by_model": _count_datasets(inside, starts, lambda r: r.model,
                                           lambda r: r.tokens_prompt + r.tokens_completion),
    }
    if by_stream:
        value["revenue_by_stream"] = _money_datasets(inside, starts, lambda r: r.stream)
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


def streams_table(rows: list[DayUsage], costs: CostsConfig) -> list[dict]:
    """Per stream and currency: requests, tokens, revenue, and, when costs are configured,
    the serving cost and the margin (cost rounded once per stream, half-even to the nano).
    Unpriced usage counts in the costs' currency: it cost something and earned nothing."""
    groups: dict[tuple[str, str | None], list[DayUsage]] = defaultdict(list)
    for row in rows:
        currency = row.currency or (costs.currency if costs.configured else None)
        groups[(row.stream, currency)].append(row)
    table = []
    for (stream, currency), members in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        revenue = sum(row.charge_nanos for row in members)
        entry = {"stream": stream, "currency": currency, "requests": sum(row.requests for row in members),
                 "tokens": sum(row.tokens_prompt + row.tokens_completion for row in members),
                 "revenue": money_json(revenue, currency) if currency else None, "cost": None, "margin": None}
        if costs.configured and currency == costs.currency:
            cost = round_half_even(sum((cost_exact(row, costs) for row in members), Fraction(0)))
            entry["cost"] = money_json(cost, currency)
            entry["margin"] = money_json(revenue - cost, currency)
        table.append(entry)
    return table


# --- customers ------------------------------------------------------------------------

def customers_json(spend: list[CustomerSpend], accounts: list[CustomerAccount]) -> dict:
    top = [{"customer": s.customer, "customer_id": s.customer_id, "requests": s.requests, "tokens": s.tokens,
            "spent": money_json(s.charge_nanos, s.currency) if s.currency else None} for s in spend]
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for account in accounts:
        totals[(account.kind, account.currency)] += account.balance_nanos
    return {
        "top": top,
        "accounts": [{"customer": a.customer, "customer_id": a.customer_id, "billing_mode": a.billing_mode,
                      "kind": a.kind, "balance": money_json(a.balance_nanos, a.currency),
                      "credit_limit": None if a.credit_limit_nanos is None else money_json(a.credit_limit_nanos, a.currency)}
                     for a in accounts],
        "outstanding": [{"kind": kind, "balance": money_json(nanos, currency)}
                        for (kind, currency), nanos in sorted(totals.items())],
    }


# --- statements -----------------------------------------------------------------------

def statement_json_summary(value: dict, verification: VerificationState) -> dict:
    """One row of a statements table, from the statement's published JSON."""
    currency = value["currency"]
    return {
        "statement": value["statement"], "period": value["period"], "licensor": value["licensor"],
        "agreement": value["agreement"], "currency": currency,
        "share_total": money_json(value["share_total_nanos"], currency),
        "payable": minor_money_json(value["share_total_minor"], currency),
        "verification": {"state": verification.state, "reason": verification.reason, "text": verification.text},
    }


def licensors_owed(closed: list[StoredStatement], open_values: list[dict]) -> list[dict]:
    """What each licensor is owed: per closed period (its statements) and for the open
    periods so far (previews, as if they closed now)."""
    by_licensor: dict[str, dict] = {}

    def entry(name: str) -> dict:
        return by_licensor.setdefault(name, {"licensor": name, "closed": [], "open": []})

    for stored in closed:
        value = stored.json()
        entry(value["licensor"])["closed"].append({
            "period": value["period"], "statement": value["statement"], "currency": value["currency"],
            "payable": minor_money_json(value["share_total_minor"], value["currency"])})
    for value in open_values:
        entry(value["licensor"])["open"].append({
            "period": value["period"], "currency": value["currency"], "records": value["usage"]["records"],
            "payable": minor_money_json(value["share_total_minor"], value["currency"])})
    return [by_licensor[name] for name in sorted(by_licensor)]


def share_trend(values: list[dict]) -> dict:
    """A licensor's share per model and period (lines and the adjustments its statements
    carry), and the payable per period, per currency."""
    periods = sorted({value["period"] for value in values})
    position = {period: index for index, period in enumerate(periods)}
    shares: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * len(periods)))
    payable: dict[str, list[int]] = defaultdict(lambda: [0] * len(periods))
    for value in values:
        currency, index = value["currency"], position[value["period"]]
        for line in (*value["lines"], *value["adjustment_lines"]):
            shares[currency][line["model"]][index] += line["share_nanos"]
        payable[currency][index] += value["share_total_minor"]
    currencies = []
    for currency in sorted(set(shares) | set(payable)):
        datasets = [_money_dataset(model, points, currency) for model, points in sorted(shares[currency].items())]
        per_minor = nanos_per_minor(currency)
        currencies.append({"currency": currency, "minor_digits": minor_unit_digits(currency), "datasets": datasets,
                           "payable": _money_dataset("payable", [m * per_minor for m in payable[currency]], currency)})
    return {"periods": periods, "currencies": currencies}
