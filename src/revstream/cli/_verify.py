"""`revstream verify` (check a host's signed statement) and `revstream audits list`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..audit import HostError, Report, TileClient, TransparencyClient, verify_statement
from ..store import AuditedStatement, list_audited_statements, record_audit
from ..transparency import FormatError, ProofError, parse_cosigner_key, parse_verifier_key
from ._output import JSON_HELP, fail, print_json, print_table, progress_reporter

TOKEN_ENV = "REVSTREAM_LICENSOR_TOKEN"
EXIT_FAILED, EXIT_NOT_CHECKED = 1, 2


def add_parsers(commands) -> None:
    verify = commands.add_parser(
        "verify", help="verify a host's signed statement against its transparency log",
        description="Exit 0: verified. Exit 1: a check failed (the report names it; the evidence is kept in the "
                    "state directory). Exit 2: nothing could be checked (bad arguments, host unreachable).")
    verify.add_argument("--host", help="the host's base URL, e.g. https://api.example.com (required unless --tiles)")
    verify.add_argument("--vkey", required=True, help="the host's log verifier key (C2SP vkey text, or a file holding it)")
    verify.add_argument("--witness", action="append", default=[], metavar="VKEY",
                        help="a trusted witness's cosigner key (C2SP vkey text), or a file of them, one per line; "
                             "repeatable: the host's checkpoint must carry the witnesses' cosignatures")
    verify.add_argument("--quorum", type=int, help="how many distinct --witness keys must have cosigned the host's "
                                                   "checkpoint (default: all of them)")
    verify.add_argument("--tiles", metavar="URL", help="read the log from this C2SP tlog-tiles endpoint alone "
                                                       "(URL/checkpoint, URL/tile/...) instead of the host's JSON "
                                                       "endpoints: the host, a CDN or a static file server")
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


WITNESS_KEYS_MAX = 100
"""Most witness keys one verification trusts (a signed note carries at most 100 signatures)."""


def witness_keys(values: list[str]) -> tuple[str, ...]:
    """Cosigner keys from --witness values: each a key, or a file of keys (one per line, # comments).
    ValueError names a value that is not one."""
    keys: list[str] = []
    for value in values:
        path = Path(value)
        lines = path.read_text().splitlines() if len(value) < 4096 and path.is_file() else [value]
        for line in (line.split("#", 1)[0].strip() for line in lines):
            if not line:
                continue
            try:
                parse_cosigner_key(line)
            except ProofError as error:
                raise ValueError(f"--witness: {line!r} is not a witness (cosignature/v1) key: {error}") from None
            if line not in keys:
                keys.append(line)
    if len(keys) > WITNESS_KEYS_MAX:
        raise ValueError(f"--witness: at most {WITNESS_KEYS_MAX} witness keys")
    return tuple(keys)


def quorum_of(witnesses: tuple[str, ...], quorum: int | None) -> int:
    """The quorum --quorum asks for (default: every witness), checked against the witnesses."""
    if quorum is None:
        return len(witnesses)
    if not witnesses:
        raise ValueError("--quorum needs the witnesses' keys (--witness)")
    if not 1 <= quorum <= len(witnesses):
        raise ValueError(f"--quorum must be between 1 and the {len(witnesses)} witness keys given")
    return quorum


def run(args, engine, config) -> int:
    if args.command == "audits":
        return _audits_list(args, engine)
    try:
        vkey = _vkey(args.vkey)
    except (FormatError, ProofError, OSError) as error:  # parse_verifier_key raises ProofError
        return fail(f"--vkey is not a verifier key: {error}", EXIT_NOT_CHECKED)
    try:
        witnesses = witness_keys(args.witness)
        quorum = quorum_of(witnesses, args.quorum)
    except (ValueError, OSError) as error:
        return fail(str(error), EXIT_NOT_CHECKED)
    if not args.host and not args.tiles:
        return fail("say where the log is: --host URL (its JSON endpoints) or --tiles URL", EXIT_NOT_CHECKED)
    statement_path = Path(args.statement)
    if not statement_path.is_file():
        return fail(f"no such statement file: {args.statement}", EXIT_NOT_CHECKED)
    note_text = statement_path.read_text(encoding="utf-8", errors="replace")
    state_dir = Path(args.state) if args.state else Path(config.home) / "verifier"
    token = args.token or os.environ.get(TOKEN_ENV)
    try:
        client = TileClient(args.tiles, token) if args.tiles else TransparencyClient(args.host, token)
    except HostError as error:
        return fail(str(error), EXIT_NOT_CHECKED)
    try:
        report = verify_statement(note_text, vkey, client, state_dir, args.full, progress_reporter("entries"),
                                  witnesses=witnesses, quorum=quorum)
    except HostError as error:
        return fail(f"not checked: {error}", EXIT_NOT_CHECKED)
    finally:
        client.close()
    if not args.no_record and report.statement_id and report.origin:
        record_audit(engine, _audited(report, args.host or args.tiles, note_text))
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
