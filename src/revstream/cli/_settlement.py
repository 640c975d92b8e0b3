"""Revenue-share commands: licensors, model licensors, agreements, settle, statements,
and the bulk import of usage records."""

from __future__ import annotations

import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

from ..dashboard import statement_csv, statement_markdown
from ..metering import rfc3339
from ..money import format_display, nanos_per_minor
from ..settlement import SettlementError, agreement_terms, draft_agreement, parse_period
from ..store import (
    ImportRejected,
    add_agreement,
    add_licensor,
    get_statement,
    import_usage,
    list_agreements,
    list_licensors,
    list_statements,
    set_model_licensor,
    settle,
)
from . import _log as transparency_log
from ._output import JSON_HELP, fail, print_json, print_table, progress_reporter



def add_parsers(commands) -> None:
    licensors = commands.add_parser("licensors", help="licensors: who publish the models").add_subparsers(dest="action", required=True)
    licensor_add = licensors.add_parser("add", help="add a licensor")
    licensor_add.add_argument("name", help="the licensor's name, e.g. \"Llama Labs\"")
    licensor_add.add_argument("--json", action="store_true", help=JSON_HELP)
    licensors.add_parser("list", help="licensors and their models").add_argument("--json", action="store_true", help=JSON_HELP)
    transparency_log.add_licensor_token(licensors)

    models = commands.add_parser("models", help="the licensor of each model").add_subparsers(dest="action", required=True)
    model_set = models.add_parser("set", help="set the licensor of a model")
    model_set.add_argument("--model", required=True, help="the model's public name")
    model_set.add_argument("--licensor", required=True, help="the licensor's name (see `licensors add`)")
    model_set.add_argument("--json", action="store_true", help=JSON_HELP)

    agreements = commands.add_parser("agreements", help="revenue-share agreements").add_subparsers(dest="action", required=True)
    agreement_add = agreements.add_parser("add", help="add an agreement between a licensor and this host")
    agreement_add.add_argument("--licensor", required=True, help="the licensor's name")
    agreement_add.add_argument("--models", required=True, help="comma-separated model names")
    rule = agreement_add.add_mutually_exclusive_group()
    rule.add_argument("--share-bps", type=int, help="share of net revenue in basis points (1500 = 15%%)")
    rule.add_argument("--royalty-per-mtok", help="royalty per million tokens, e.g. 0.05")
    agreement_add.add_argument("--tiers", help='marginal brackets of the period net, "0:1000,100000:1500" (amount:bps)')
    agreement_add.add_argument("--minimum", help="guaranteed minimum per period, e.g. 100.00")
    agreement_add.add_argument("--cap", help="maximum per period")
    agreement_add.add_argument("--from", dest="effective_from", help="YYYY-MM-DD (default: today, UTC)")
    agreement_add.add_argument("--to", dest="effective_to", help="YYYY-MM-DD, inclusive (default: open-ended)")
    agreement_add.add_argument("--currency", default="USD", help="the agreement's ISO 4217 currency (default: USD)")
    agreement_add.add_argument("--stream-share", action="append", default=[], metavar="STREAM:BPS",
                               help="a flat share for one stream, e.g. subscription:1000 (repeatable)")
    agreement_add.add_argument("--json", action="store_true", help=JSON_HELP)
    agreements.add_parser("list", help="every agreement").add_argument("--json", action="store_true", help=JSON_HELP)

    settle_parser = commands.add_parser("settle", help="close a period and write the licensor statements")
    settle_parser.add_argument("--period", required=True, help="YYYY-MM (a calendar month, UTC, that has ended)")
    settle_parser.add_argument("--json", action="store_true", help=JSON_HELP)

    statements = commands.add_parser("statements", help="licensor statements").add_subparsers(dest="action", required=True)
    statements.add_parser("list", help="every statement").add_argument("--json", action="store_true", help=JSON_HELP)
    show = statements.add_parser("show", help="one statement")
    show.add_argument("statement_id", help="the statement's id, as `statements list` shows it")
    show.add_argument("--format", choices=("json", "csv", "md", "note"), default="json",
                      help="json: the stored canonical (RFC 8785) bytes; note: the signed statement `revstream verify` checks")


def add_usage_import(usage) -> None:
    """`revstream usage import FILE.jsonl` under the existing `usage` command."""
    actions = usage.add_subparsers(dest="action", required=False)
    usage_import = actions.add_parser("import", help="import usage records from a JSON Lines file")
    usage_import.add_argument("file", help="a JSON Lines file: one usage record per line")
    usage_import.add_argument("--skip-invalid", action="store_true", help="import the valid lines, skip the others")
    usage_import.add_argument("--json", action="store_true", help=JSON_HELP)


COMMANDS = frozenset({"licensors", "models", "agreements", "settle", "statements"})


def handles(args) -> bool:
    return args.command in COMMANDS or (args.command == "usage" and getattr(args, "action", None) == "import")


def run(args, engine) -> int:
    now_us = time.time_ns() // 1000
    handler = {
        ("licensors", "add"): _licensors_add, ("licensors", "list"): _licensors_list,
        ("models", "set"): _models_set, ("agreements", "add"): _agreements_add,
        ("agreements", "list"): _agreements_list, ("settle", None): _settle,
        ("statements", "list"): _statements_list, ("statements", "show"): _statements_show,
        ("usage", "import"): _usage_import,
    }[(args.command, getattr(args, "action", None))]
    try:
        return handler(args, engine, now_us)
    except ImportRejected as error:
        return fail(str(error), 2)
    except SettlementError as error:
        return fail(str(error), 2)


def _licensors_add(args, engine, now_us) -> int:
    row = add_licensor(engine, args.name, now_us)
    value = {"licensor_id": row.licensor_id, "name": row.name, "created": rfc3339(row.created_us), "models": []}
    print_json(value) if args.json else print(f"licensor {row.name} ({row.licensor_id})")
    return 0


def _licensors_list(args, engine, now_us) -> int:
    rows = [{"licensor_id": r.licensor_id, "name": r.name, "created": rfc3339(r.created_us), "models": list(r.models)}
            for r in list_licensors(engine)]
    if args.json:
        print_json(rows)
    else:
        print_table([{**r, "models": ",".join(r["models"])} for r in rows], ("licensor_id", "name", "models"))
    return 0


def _models_set(args, engine, now_us) -> int:
    licensor_id = set_model_licensor(engine, args.model, args.licensor, now_us)
    value = {"model": args.model, "licensor": args.licensor, "licensor_id": licensor_id}
    print_json(value) if args.json else print(f"model {args.model} belongs to {args.licensor}")
    return 0


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{flag}: expected YYYY-MM-DD, got {text!r}") from None


def _agreements_add(args, engine, now_us) -> int:
    draft = draft_agreement(
        licensor=args.licensor, models=tuple(model.strip() for model in args.models.split(",") if model.strip()),
        currency=args.currency,
        effective_from=_day(args.effective_from, "--from") or datetime.now(timezone.utc).date(),
        effective_to=_day(args.effective_to, "--to"), share_bps=args.share_bps, tiers=args.tiers,
        royalty_per_mtok=args.royalty_per_mtok, minimum=args.minimum, cap=args.cap,
        stream_shares=tuple(args.stream_share),
    )
    row = add_agreement(engine, draft, now_us)
    value = _agreement_json(row)
    print_json(value) if args.json else print(
        f"agreement {value['agreement']} with {value['licensor']} for {', '.join(value['models'])} from {value['effective_from']}")
    return 0


def _agreement_json(row) -> dict:
    return {**agreement_terms(row.agreement), "licensor_id": row.licensor_id, "created": rfc3339(row.created_us)}


def _rule_text(terms: dict) -> str:
    if terms["tiers"]:
        return "tiers " + ", ".join(f"from {format_display(int(t), terms['currency'], exact=True)}: {bps}bps" for t, bps in terms["tiers"])
    if terms["share_bps"] is not None:
        return f"{terms['share_bps']}bps"
    return f"{format_display(int(terms['royalty_nanos_per_mtok']), terms['currency'], exact=True)}/Mtok"


def _agreements_list(args, engine, now_us) -> int:
    rows = [_agreement_json(row) for row in list_agreements(engine)]
    if args.json:
        print_json(rows)
        return 0
    print_table([{**r, "models": ",".join(r["models"]), "rule": _rule_text(r)} for r in rows],
                ("agreement", "licensor", "models", "rule", "effective_from", "effective_to"))
    return 0


def _summary(value: dict) -> dict:
    # int(): beyond 2**53 an amount in a JSON value is a decimal string (issue 11)
    currency = value["currency"]
    return {**value, "share": format_display(int(value["share_total_nanos"]), currency, exact=True),
            "payable": format_display(int(value["share_total_minor"]) * nanos_per_minor(currency), currency),
            "residue": format_display(int(value["residue_nanos"]), currency, exact=True),
            "lines": len(value["lines"]), "adjustments": len(value["adjustment_lines"])}


_SUMMARY_COLUMNS = ("statement", "period", "licensor", "agreement", "lines", "adjustments", "share", "payable", "residue")


def _settle(args, engine, now_us) -> int:
    parse_period(args.period)
    values = [stored.json() for stored in settle(engine, args.period, now_us)]
    if args.json:
        print_json(values)
    else:
        print_table([_summary(v) for v in values], _SUMMARY_COLUMNS)
    return 0


def _statements_list(args, engine, now_us) -> int:
    values = [stored.json() for stored in list_statements(engine)]
    if args.json:
        print_json([{name: v[name] for name in ("statement", "period", "licensor", "agreement", "currency",
                                                 "share_total_nanos", "share_total_minor", "residue_nanos")}
                    for v in values])
    else:
        print_table([_summary(v) for v in values], _SUMMARY_COLUMNS)
    return 0


def _statements_show(args, engine, now_us) -> int:
    stored = get_statement(engine, args.statement_id)
    value = stored.json()
    if args.format == "json":
        sys.stdout.flush()
        sys.stdout.buffer.write(stored.body)
        sys.stdout.buffer.flush()
    elif args.format == "note":
        if stored.signed_note is None:
            return fail(f"statement {stored.statement_id} was closed before `revstream log init`: it is not signed")
        sys.stdout.write(stored.signed_note)
    else:
        sys.stdout.write(statement_csv(value) if args.format == "csv" else statement_markdown(value))
    return 0


def _lines(path: Path):
    def open_lines():
        with path.open("rb") as handle:
            yield from handle
    return open_lines


def _usage_import(args, engine, now_us) -> int:
    path = Path(args.file)
    if not path.is_file():
        return fail(f"no such file: {args.file}", 2)
    report = import_usage(engine, _lines(path), now_us, args.skip_invalid,
                          progress_reporter("records"))
    value = {"lines": report.lines, "imported": report.imported, "duplicates": report.duplicates,
             "invalid": report.invalid, "late": report.late,
             "errors": [{"line": number, "reason": reason} for number, reason in report.errors]}
    if args.json:
        print_json(value)
    else:
        print(f"imported {report.imported} of {report.lines} usage records ({report.duplicates} already stored, "
              f"{report.invalid} invalid skipped, {report.late} late)")
        for number, reason in report.errors:
            print(f"  line {number}: {reason}", file=sys.stderr)
    return 0
