"""`revstream verify` (check a host's signed statement) and `revstream audits list`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..audit import HostError, Report, TransparencyClient, verify_statement
from ..store import AuditedStatement, list_audited_statements, record_audit
from ..transparency import FormatError, parse_verifier_key
from ._output import JSON_HELP, fail, print_json, print_table, progress_reporter

TOKEN_ENV = "REVSTREAM_LICENSOR_TOKEN"
EXIT_FAILED, EXIT_NOT_CHECKED = 1, 2


def add_parsers(commands) -> None:
    verify = commands.add_parser(
        "verify", help="verify a host's signed statement against its transparency log",
        description="Exit 0: verified. Exit 1: a check failed (the report names it; the evidence is kept in the "
                    "state directory). Exit 2: nothing could be checked (bad arguments, host unreachable).")
    verify.add_argument("--host", required=True, help="the host's base URL, e.g. https://api.example.com")
    verify.add_argument("--vkey", required=True, help="the host's log verifier key (C2SP vkey text, or a file holding it)")
    verify.add_argument("--statement", required=True, help="the statement file (`revstream statements show ID "
                                                            "--format note` on the host, or GET /transparency/statements/ID)")
    verify.add_argument("--state", help="the verifier's state directory (default: HOME/verifier, see --home)")
    verify.add_argument("--token", help=f"a licensor token for the host's log (default: ${TOKEN_ENV})")
    verify.add_argument("--full", action="store_true",
                        help="read the log from entry 0, not from the statement's first entry")
    verify.add_argument("--no-record", action="store_true", help="do not record the outcome in this install's store")
    verify.add_argument("--json", action="store_true", help=JSON_HELP)
    audits = commands.add_parser("audits", help="statements this install verified").add_subparsers(
        dest="action", required=True)
    listing = audits.add_parser("list", help="every statement checked with `revstream verify`, and its outcome")
    listing.add_argument("--licensor", help="only this licensor's statements")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)


def handles(args) -> bool:
    return args.command in ("verify", "audits")


def _vkey(text: str) -> str:
    path = Path(text)
    value = path.read_text().strip() if len(text) < 4096 and path.is_file() else text.strip()
    parse_verifier_key(value)
    return value


def run(args, engine, config) -> int:
    if args.command == "audits":
        return _audits_list(args, engine)
    try:
        vkey = _vkey(args.vkey)
    except FormatError as error:
        return fail(f"--vkey is not a verifier key: {error}", EXIT_NOT_CHECKED)
    statement_path = Path(args.statement)
    if not statement_path.is_file():
        return fail(f"no such statement file: {args.statement}", EXIT_NOT_CHECKED)
    note_text = statement_path.read_text(encoding="utf-8", errors="replace")
    state_dir = Path(args.state) if args.state else Path(config.home) / "verifier"
    client = TransparencyClient(args.host, args.token or os.environ.get(TOKEN_ENV))
    try:
        report = verify_statement(note_text, vkey, client, state_dir, args.full, progress_reporter("entries"))
    except HostError as error:
        return fail(f"not checked: {error}", EXIT_NOT_CHECKED)
    finally:
        client.close()
    if not args.no_record and report.statement_id and report.origin:
        record_audit(engine, _audited(report, args.host, note_text))
    print_json(report.json()) if args.json else _print_report(report)
    return 0 if report.ok else EXIT_FAILED


def _audited(report: Report, host: str, note_text: str) -> AuditedStatement:
    return AuditedStatement(report.origin, report.statement_id, host, report.licensor or "", report.agreement or "",
                            report.period or "", report.currency or "", report.share_total_minor or 0, note_text,
                            "verified" if report.ok else "failed", report.reason, time.time_ns() // 1000)


def _print_report(report: Report) -> None:
    for check in report.checks:
        print(f"{'ok    ' if check.ok else 'FAILED'}  {check.name}: {check.detail}")
    if report.ok:
        print(f"\nverified: statement {report.statement_id} ({report.period}, {report.licensor}) from {report.origin}")
    else:
        print(f"\nNOT VERIFIED: statement {report.statement_id or '?'}: {report.reason}\n"
              f"evidence kept in {report.evidence}", file=sys.stderr)


def _audits_list(args, engine) -> int:
    rows = [{"origin": a.origin, "statement": a.statement_id, "host": a.host, "licensor": a.licensor,
             "agreement": a.agreement_id, "period": a.period, "currency": a.currency,
             "share_total_minor": a.share_total_minor, "state": a.state, "reason": a.reason,
             "checked_us": a.checked_us} for a in list_audited_statements(engine, args.licensor)]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ("period", "statement", "origin", "licensor", "state", "reason"))
    return 0
