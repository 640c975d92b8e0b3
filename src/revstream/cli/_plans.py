"""Plan commands: plans, subscriptions, customer countries, tax rates and invoices."""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import orjson

from ..periods import us_of_datetime
from ..config import Config, ConfigError
from ..metering import rfc3339
from ..money import format_display, parse_amount
from ..plans import PlanError, draft_plan, invoice_number_text
from ..store import Conflict, find_customer_id
from ..store._invoices import StoredInvoice, customers_to_invoice, get_invoice, issue_invoice, list_invoices
from ..store._plans import (
    SubscriptionRow,
    add_plan,
    cancel_subscription,
    list_plans,
    list_subscriptions,
    list_tax_rates,
    plan_json,
    set_country,
    set_tax_rate,
    subscribe,
)
from ._money import _moment
from ._output import JSON_HELP, fail, print_json, print_table

COMMANDS = ("plans", "subscribe", "subscriptions", "customers", "tax", "invoice", "invoices")


def add_parsers(commands) -> None:
    plans = commands.add_parser("plans", help="plans customers buy").add_subparsers(dest="action", required=True)
    plan_add = plans.add_parser("add", help="add a plan (a plan never changes once added)")
    plan_add.add_argument("name", help="the plan's name, e.g. pro")
    plan_add.add_argument("--kind", required=True, choices=("payg", "subscription", "free", "commit"),
                          help="pay as you go, a monthly fee with included tokens, a free daily quota, or a committed minimum")
    plan_add.add_argument("--currency", default="USD", help="ISO 4217 currency code (default: USD)")
    plan_add.add_argument("--fee", help="subscription: fee per month, e.g. 20.00")
    plan_add.add_argument("--tokens-included", type=int, default=0, help="subscription: tokens included per month")
    plan_add.add_argument("--overage", help="subscription: price per million tokens past the included ones (default: hard stop)")
    plan_add.add_argument("--tokens-per-day", type=int, default=0, help="free: daily token quota")
    plan_add.add_argument("--models", help="comma-separated models the plan covers (default: every model)")
    plan_add.add_argument("--minimum", help="commit: minimum spend per month")
    plan_add.add_argument("--discount-bps", type=int, default=0, help="commit: discount on model prices (1000 = 10%%)")
    plan_add.add_argument("--rpm", type=int, help="requests per minute of the plan (subscription, free)")
    plan_add.add_argument("--tpm", type=int, help="tokens per minute of the plan (subscription, free)")
    plan_add.add_argument("--json", action="store_true", help=JSON_HELP)
    plans.add_parser("list", help="every plan").add_argument("--json", action="store_true", help=JSON_HELP)

    sub = commands.add_parser("subscribe", help="put a customer on a plan (a change of plan is prorated by the second)")
    sub.add_argument("--customer", required=True, help="the customer's name (created if new)")
    sub.add_argument("--plan", required=True, help="the plan's name (see `plans list`)")
    sub.add_argument("--from", dest="effective_from", help="YYYY-MM-DD or an ISO time, UTC (default: now)")
    sub.add_argument("--country", help="the customer's country for tax, ISO 3166 alpha-2 (e.g. DE)")
    sub.add_argument("--json", action="store_true", help=JSON_HELP)
    subs = commands.add_parser("subscriptions", help="customers' subscriptions").add_subparsers(dest="action", required=True)
    subs_list = subs.add_parser("list", help="every subscription, past and current")
    subs_list.add_argument("--customer", help="only this customer's subscriptions")
    subs_list.add_argument("--json", action="store_true", help=JSON_HELP)
    cancel = subs.add_parser("cancel", help="end a customer's subscription")
    cancel.add_argument("--customer", required=True, help="the customer whose subscription ends")
    when = cancel.add_mutually_exclusive_group(required=True)
    when.add_argument("--at-period-end", action="store_true", help="at the end of the current month")
    when.add_argument("--now", action="store_true", help="now (the fee is prorated to this second)")
    cancel.add_argument("--json", action="store_true", help=JSON_HELP)

    customers = commands.add_parser("customers", help="customer settings").add_subparsers(dest="action", required=True)
    customer_set = customers.add_parser("set", help="set a customer's country (for tax)")
    customer_set.add_argument("customer", help="the customer's name")
    customer_set.add_argument("--country", required=True, help="ISO 3166 alpha-2, e.g. DE; '' to clear")
    customer_set.add_argument("--json", action="store_true", help=JSON_HELP)

    tax = commands.add_parser("tax", help="tax rates per customer country").add_subparsers(dest="action", required=True)
    tax_set = tax.add_parser("set", help="set a country's tax rate in basis points (1900 = 19%%)")
    tax_set.add_argument("country", help="ISO 3166 alpha-2 country code, e.g. DE")
    tax_set.add_argument("rate_bps", type=int, help="the rate in basis points (1900 = 19%%)")
    tax_set.add_argument("--json", action="store_true", help=JSON_HELP)
    tax.add_parser("list", help="every tax rate").add_argument("--json", action="store_true", help=JSON_HELP)

    invoice = commands.add_parser("invoice", help="issue the invoices of a month (again: the same invoices)")
    invoice.add_argument("--period", required=True, help="YYYY-MM, a month that has ended")
    invoice.add_argument("--customer", help="only this customer (default: every customer with something to bill)")
    invoice.add_argument("--json", action="store_true", help=JSON_HELP)
    invoices = commands.add_parser("invoices", help="issued invoices").add_subparsers(dest="action", required=True)
    invoices_list = invoices.add_parser("list", help="every invoice")
    invoices_list.add_argument("--customer", help="only this customer's invoices")
    invoices_list.add_argument("--json", action="store_true", help=JSON_HELP)
    show = invoices.add_parser("show", help="one invoice: json (the stored bytes), html or pdf")
    show.add_argument("number", type=int, help="the invoice number (1 for INV-000001)")
    show.add_argument("--format", choices=("json", "html", "pdf"), default="json",
                      help="json: the stored canonical bytes (default); html; pdf (needs --output on a terminal)")
    show.add_argument("--output", help="write to this file instead of stdout")


def handles(args) -> bool:
    return args.command in COMMANDS


def run(args, engine, config: Config | None = None) -> int:
    now_us = time.time_ns() // 1000
    issuer = config.host.issuer() if config is not None else None  # [host]: who invoices name as issuer
    handler = {
        ("plans", "add"): _plans_add, ("plans", "list"): _plans_list, ("subscribe", None): _subscribe,
        ("subscriptions", "list"): _subscriptions_list, ("subscriptions", "cancel"): _cancel,
        ("customers", "set"): _customers_set, ("tax", "set"): _tax_set, ("tax", "list"): _tax_list,
        ("invoice", None): functools.partial(_invoice, issuer=issuer), ("invoices", "list"): _invoices_list, ("invoices", "show"): _invoices_show,
    }[(args.command, getattr(args, "action", None))]
    try:
        return handler(args, engine, now_us)
    except PlanError as error:
        return fail(str(error), 2)


def _emit(args, value, text: str) -> None:
    print_json(value) if args.json else print(text)


def _plans_add(args, engine, now_us) -> int:
    plan = draft_plan(
        name=args.name, kind=args.kind, currency=args.currency, fee=args.fee, tokens_included=args.tokens_included,
        overage_per_mtok=args.overage, tokens_per_day=args.tokens_per_day,
        models=tuple(m.strip() for m in args.models.split(",") if m.strip()) if args.models else (),
        minimum=args.minimum, discount_bps=args.discount_bps, requests_per_minute=args.rpm, tokens_per_minute=args.tpm,
    )
    stored, added = add_plan(engine, plan, now_us)
    _emit(args, {**plan_json(stored), "added": added},
          f"{'added' if added else 'already there:'} {stored.kind} plan {stored.name} ({stored.plan_id}) in {stored.currency}")
    return 0


def _plan_row(value: dict) -> dict:
    currency = value["currency"]
    return {**value, "fee": format_display(int(value["fee_nanos"]), currency),
            "overage_per_mtok": format_display(int(value["overage_nanos_per_mtok"]), currency, exact=True)
            if value["overage_nanos_per_mtok"] is not None else "stop", "models": ",".join(value["models"]) or "all"}


def _plans_list(args, engine, now_us) -> int:
    rows = [plan_json(plan) for plan in list_plans(engine)]
    print_json(rows) if args.json else print_table([_plan_row(r) for r in rows], (
        "plan", "kind", "fee", "tokens_included", "overage_per_mtok", "tokens_per_day", "discount_bps", "models"))
    return 0


def _subscription_json(row: SubscriptionRow) -> dict:
    return {"subscription": row.subscription_id, "customer": row.customer, "plan": row.plan.name,
            "kind": row.plan.kind, "started": rfc3339(row.started_us), "ends": rfc3339(row.ended_us)}


def _subscribe(args, engine, now_us) -> int:
    if args.country is not None:
        set_country(engine, args.customer, args.country, now_us)
    from_us = us_of_datetime(_moment(args.effective_from))
    row = subscribe(engine, args.customer, args.plan, from_us, now_us)
    value = _subscription_json(row)
    _emit(args, value, f"{row.customer} is on {row.plan.name} from {value['started']}")
    return 0


def _subscriptions_list(args, engine, now_us) -> int:
    rows = [_subscription_json(row) for row in list_subscriptions(engine, args.customer)]
    print_json(rows) if args.json else print_table(rows, ("subscription", "customer", "plan", "kind", "started", "ends"))
    return 0


def _cancel(args, engine, now_us) -> int:
    row = cancel_subscription(engine, args.customer, args.at_period_end, now_us)
    value = _subscription_json(row)
    _emit(args, value, f"{row.customer}'s {row.plan.name} plan ends at {value['ends']}")
    return 0


def _customers_set(args, engine, now_us) -> int:
    set_country(engine, args.customer, args.country or None, now_us)
    value = {"customer": args.customer, "country": args.country.upper() or None}
    _emit(args, value, f"{args.customer}: country {value['country'] or 'not set'}")
    return 0


def _tax_set(args, engine, now_us) -> int:
    set_tax_rate(engine, args.country, args.rate_bps, now_us)
    _emit(args, {"country": args.country.upper(), "rate_bps": args.rate_bps},
          f"tax rate of {args.country.upper()}: {args.rate_bps} bps")
    return 0


def _tax_list(args, engine, now_us) -> int:
    rows = [{"country": c, "rate_bps": r} for c, r in list_tax_rates(engine).items()]
    print_json(rows) if args.json else print_table(rows, ("country", "rate_bps"))
    return 0


def _summary(stored: StoredInvoice) -> dict:
    body = orjson.loads(stored.body)
    return {"invoice": stored.number, "number": invoice_number_text(stored.number), "customer": stored.customer,
            "period": stored.period, "currency": stored.currency, "total": body["total"],
            "amount_due": body["amount_due"], "lines": len(body["lines"])}


_INVOICE_COLUMNS = ("number", "customer", "period", "total", "amount_due")


def _summary_text(row: dict) -> dict:
    """An invoice summary for people: its minor-unit amounts with thousands separators."""
    currency = row["currency"]
    return {**row, "total": format_display(parse_amount(row["total"], currency), currency),
            "amount_due": format_display(parse_amount(row["amount_due"], currency), currency)}


def _invoice(args, engine, now_us, issuer: dict | None = None) -> int:
    names = [args.customer] if args.customer else customers_to_invoice(engine, args.period, now_us)
    if issuer is None and names:
        print("revstream: these invoices name no issuer: add a [host] section (legal_name, address, tax_id, "
              "contact) to the config", file=sys.stderr)
    issued = []
    for name in names:
        stored = issue_invoice(engine, name, args.period, now_us, issuer=issuer)
        if stored is None:
            print(f"revstream: nothing to bill {name} for {args.period}: no invoice issued", file=sys.stderr)
        else:
            issued.append(stored)
    if args.json:
        print_json([orjson.loads(stored.body) for stored in issued])
    else:
        print_table([_summary_text(_summary(stored)) for stored in issued], _INVOICE_COLUMNS)
    return 0


def _invoices_list(args, engine, now_us) -> int:
    customer_id = find_customer_id(engine, args.customer) if args.customer else None
    rows = [_summary(stored) for stored in list_invoices(engine, customer_id)]
    print_json(rows) if args.json else print_table([_summary_text(row) for row in rows], _INVOICE_COLUMNS)
    return 0


def render(stored: StoredInvoice, fmt: str) -> bytes:
    """The invoice in `fmt`: json is the stored canonical bytes, byte for byte."""
    if fmt == "json":
        return stored.body
    from ..invoicing import render_html, render_pdf  # fpdf and its fonts load only to render

    body = orjson.loads(stored.body)
    return render_pdf(body) if fmt == "pdf" else render_html(body).encode()


def _invoices_show(args, engine, now_us) -> int:
    if args.format == "pdf" and not args.output and sys.stdout.isatty():
        return fail("a PDF is binary and would garble this terminal: write it to a file with --output FILE "
                    "(or redirect the output: > invoice.pdf)", 2)
    data = render(get_invoice(engine, args.number), args.format)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"wrote invoice {args.number} ({args.format}, {len(data)} bytes) to {args.output}")
    else:
        sys.stdout.buffer.write(data if args.format != "json" else data + b"\n")
    return 0


def apply_declared_plans(engine, config: Config, now_us: int) -> None:
    """Add the config file's plans (an identical plan is not added twice; other terms under
    a taken name are an error) and its tax rates for countries that have none yet."""
    for position, declared in enumerate(config.plans):
        try:
            plan = draft_plan(
                name=declared.name, kind=declared.kind, currency=declared.currency, fee=declared.fee,
                tokens_included=declared.tokens_included, overage_per_mtok=declared.overage,
                tokens_per_day=declared.tokens_per_day, models=declared.models, minimum=declared.minimum,
                discount_bps=declared.discount_bps, requests_per_minute=declared.rpm, tokens_per_minute=declared.tpm,
            )
            add_plan(engine, plan, now_us)
        except (PlanError, Conflict) as error:
            raise ConfigError(f"plans[{position}] ({declared.name}): {error}") from error
    known = list_tax_rates(engine)
    for position, declared in enumerate(config.tax_rates):
        if declared.country.upper() in known:
            continue
        try:
            set_tax_rate(engine, declared.country, declared.rate_bps, now_us)
        except PlanError as error:
            raise ConfigError(f"tax_rates[{position}]: {error}") from error
