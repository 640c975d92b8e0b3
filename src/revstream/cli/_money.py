"""Money commands: prices, credit, budgets, balances and the ledger check."""

from __future__ import annotations

import time
from datetime import date, datetime, timezone

from ..billing import BUDGET_PERIODS
from ..metering import balance_json
from ..money import format_display, format_nanos_exact, parse_amount, validate_currency
from ..pricing import ModelPrice, parse_price
from ..store import (
    add_credit,
    check_ledger,
    customer_balance,
    list_budgets,
    list_prices,
    set_budget,
    set_credit_limit,
    set_price,
)
from ._output import JSON_HELP, print_json, print_table, progress_reporter
from ._ads import credit_add as ads_credit_add  # ads (issue 13)


def add_parsers(commands) -> None:
    prices = commands.add_parser("prices", help="model prices per million tokens").add_subparsers(dest="action", required=True)
    price_set = prices.add_parser("set", help="set a model's price from a date on")
    price_set.add_argument("--model", required=True, help="the model's public name")
    price_set.add_argument("--input", required=True, help="price per million prompt tokens, e.g. 0.20")
    price_set.add_argument("--output", required=True, help="price per million completion tokens, e.g. 0.60")
    price_set.add_argument("--currency", default="USD", help="ISO 4217 currency code (default: USD)")
    price_set.add_argument("--from", dest="effective_from", help="YYYY-MM-DD or an ISO time, UTC (default: now)")
    price_set.add_argument("--json", action="store_true", help=JSON_HELP)
    prices.add_parser("list", help="every price, past and future").add_argument("--json", action="store_true", help=JSON_HELP)

    credit = commands.add_parser("credit", help="prepaid credit and postpaid limits").add_subparsers(dest="action", required=True)
    credit_add = credit.add_parser("add", help="add prepaid credit (of a customer, or of an advertiser)")
    credit_limit = credit.add_parser("limit", help="make a customer postpaid with a credit limit")
    credit_limit.add_argument("--customer", required=True, help="the customer's name (created if new)")
    # ads (issue 13): an advertiser's prepaid ad credit
    payer = credit_add.add_mutually_exclusive_group(required=True)
    payer.add_argument("--customer", help="the customer's name (created if new)")
    payer.add_argument("--advertiser", help="an advertiser's name (see `revstream advertisers add`)")
    for parser in (credit_add, credit_limit):
        parser.add_argument("--amount", required=True, help="decimal amount, e.g. 10.00")
        parser.add_argument("--currency", default="USD", help="ISO 4217 currency code (default: USD)")
        parser.add_argument("--json", action="store_true", help=JSON_HELP)

    budgets = commands.add_parser("budgets", help="spending budgets").add_subparsers(dest="action", required=True)
    budget_set = budgets.add_parser("set", help="set a budget per customer or per key")
    budget_set.add_argument("--customer", required=True, help="the customer the budget limits")
    budget_set.add_argument("--key", dest="key_id", help="a key id: the budget applies to that key only")
    budget_set.add_argument("--period", required=True, choices=BUDGET_PERIODS,
                            help="the window the amount applies to: a UTC day, a UTC month, or for ever")
    budget_set.add_argument("--amount", required=True, help="most the customer (or key) may spend in the window, e.g. 1.00")
    budget_set.add_argument("--currency", default="USD", help="ISO 4217 currency code (default: USD)")
    budget_set.add_argument("--json", action="store_true", help=JSON_HELP)
    budgets.add_parser("list", help="budgets and their current window").add_argument("--json", action="store_true", help=JSON_HELP)

    balance = commands.add_parser("balance", help="a customer's available and reserved money")
    balance.add_argument("--customer", required=True, help="the customer's name")
    balance.add_argument("--json", action="store_true", help=JSON_HELP)

    ledger = commands.add_parser("ledger", help="the double-entry ledger").add_subparsers(dest="action", required=True)
    ledger.add_parser("check", help="every entry balances; every balance equals its postings").add_argument("--json", action="store_true", help=JSON_HELP)


def _moment(text: str | None) -> datetime:
    if text is None:
        return datetime.now(timezone.utc)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"--from: expected YYYY-MM-DD or an ISO 8601 time, got {text!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def price_json(price: ModelPrice) -> dict:
    return {
        "model": price.model, "currency": price.currency,
        "input_per_mtok": format_nanos_exact(price.input_nanos_per_mtok),
        "output_per_mtok": format_nanos_exact(price.output_nanos_per_mtok),
        "input_nanos_per_mtok": price.input_nanos_per_mtok, "output_nanos_per_mtok": price.output_nanos_per_mtok,
        "effective_from": price.effective_from_utc.isoformat().replace("+00:00", "Z"),
    }


def run(args, engine) -> int:
    now_us = time.time_ns() // 1000
    handler = {
        ("prices", "set"): _prices_set, ("prices", "list"): _prices_list,
        ("credit", "add"): _credit_add, ("credit", "limit"): _credit_limit,
        ("budgets", "set"): _budgets_set, ("budgets", "list"): _budgets_list,
        ("balance", None): _balance, ("ledger", "check"): _ledger_check,
    }[(args.command, getattr(args, "action", None))]
    return handler(args, engine, now_us)


def _emit(args, value, text: str) -> None:
    print_json(value) if args.json else print(text)


def _prices_set(args, engine, now_us) -> int:
    price = ModelPrice(args.model, validate_currency(args.currency), parse_price(args.input), parse_price(args.output), _moment(args.effective_from))
    set_price(engine, price, now_us)
    _emit(args, price_json(price), f"{args.model}: {_price_text(price)} from {price_json(price)['effective_from']}")
    return 0


def _price_text(price: ModelPrice) -> str:
    return (f"{format_display(price.input_nanos_per_mtok, price.currency, exact=True)} in / "
            f"{format_display(price.output_nanos_per_mtok, price.currency, exact=True)} out per 1M tokens")


def _prices_list(args, engine, now_us) -> int:
    prices = list_prices(engine).prices
    if args.json:
        print_json([price_json(p) for p in prices])
        return 0
    rows = [{**price_json(p), "input_per_mtok": format_display(p.input_nanos_per_mtok, p.currency, exact=True),
             "output_per_mtok": format_display(p.output_nanos_per_mtok, p.currency, exact=True)} for p in prices]
    print_table(rows, ("model", "input_per_mtok", "output_per_mtok", "effective_from"))
    return 0


def _credit_add(args, engine, now_us) -> int:
    if args.advertiser is not None:  # ads (issue 13)
        return ads_credit_add(args, engine, now_us)
    currency = validate_currency(args.currency)
    entry_id = add_credit(engine, args.customer, parse_amount(args.amount, currency), currency, now_us)
    balance = balance_json(customer_balance(engine, args.customer))
    _emit(args, {"entry_id": entry_id, **balance}, f"added {format_display(parse_amount(args.amount, currency), currency)}; "
          f"{args.customer} has {format_display(int(balance['available_nanos']), currency, exact=True)} available")
    return 0


def _credit_limit(args, engine, now_us) -> int:
    currency = validate_currency(args.currency)
    set_credit_limit(engine, args.customer, parse_amount(args.amount, currency), currency, now_us)
    balance = balance_json(customer_balance(engine, args.customer))
    _emit(args, balance, f"{args.customer} is postpaid with a limit of {format_display(parse_amount(args.amount, currency), currency)}; "
          f"{format_display(int(balance['available_nanos']), currency, exact=True)} available")
    return 0


def _budgets_set(args, engine, now_us) -> int:
    currency = validate_currency(args.currency)
    budget_id = set_budget(engine, args.customer, args.key_id, args.period, parse_amount(args.amount, currency), currency, now_us)
    scope = f"key {args.key_id}" if args.key_id else f"customer {args.customer}"
    _emit(args, {"budget_id": budget_id, "customer": args.customer, "key_id": args.key_id, "period": args.period,
                 "limit_nanos": parse_amount(args.amount, currency), "currency": currency},
          f"{args.period} budget of {format_display(parse_amount(args.amount, currency), currency)} for {scope} ({budget_id})")
    return 0


def _budgets_list(args, engine, now_us) -> int:
    rows = list_budgets(engine, now_us)
    if args.json:
        print_json(rows)
        return 0
    for row in rows:  # spending is charged to the nano: shown exactly, not rounded to 0.00
        row["limit"] = format_display(int(row["limit_nanos"]), row["currency"], exact=True)
        row["spent"] = format_display(int(row["spent_nanos"]), row["currency"], exact=True)
        row["reserved"] = format_display(int(row["reserved_nanos"]), row["currency"], exact=True)
    print_table(rows, ("budget_id", "customer", "key_id", "period", "limit", "spent", "reserved"))
    return 0


def _balance(args, engine, now_us) -> int:
    balance = balance_json(customer_balance(engine, args.customer))
    currency = balance["currency"]  # int() below: a JSON amount beyond 2**53 is a decimal string (issue 11)
    text = (f"{balance['customer']} ({balance['billing_mode']}): {format_display(int(balance['available_nanos']), currency, exact=True)} "
            f"available, {format_display(int(balance['reserved_nanos']), currency, exact=True)} reserved, "
            f"{format_display(int(balance['spent_nanos']), currency, exact=True)} spent" if currency
            else f"{balance['customer']}: no credit yet")
    _emit(args, balance, text)
    return 0


def _ledger_check(args, engine, now_us) -> int:
    check = check_ledger(engine, progress_reporter("records re-priced"))
    value = {"ok": check.ok, "entries": check.entries, "postings": check.postings,
             "unbalanced_entries": list(check.unbalanced_entries),
             "balance_mismatches": [dict(zip(("owner", "kind", "currency", "stored_nanos", "derived_nanos"), m)) for m in check.balance_mismatches],
             "charge_mismatches": [dict(zip(("entry_id", "booked_nanos", "charged_nanos"), m)) for m in check.charge_mismatches],
             "records_repriced": check.repriced_records, "repricing_mismatch_count": check.repricing_mismatch_count,
             "repricing_mismatches": [dict(zip(("request_id", "charged_nanos", "expected_nanos"), m))
                                      for m in check.repricing_mismatches]}
    summary = (f"ledger {'OK' if check.ok else 'BROKEN'}: {check.entries} entries, {check.postings} postings, "
               f"{check.repriced_records} usage records re-priced")
    _emit(args, value, "\n".join([summary, *(f"  - {reason}" for reason in check.reasons())]))
    return 0 if check.ok else 3
