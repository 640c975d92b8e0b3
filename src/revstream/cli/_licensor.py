"""The licensor console (issue 17), on a licensor's own install:

* `revstream licensor hosts add NAME --url URL --vkey VKEY --token-env VAR [--witness VKEY ...]
  [--quorum N] [--tiles URL]` registers a host; `licensor hosts list [--json]` lists them;
* `revstream licensor sync [--period YYYY-MM] [--host NAME] [--recheck] [--json]` fetches and
  verifies every host's new statements (see `_licensor_sync`);
* `revstream licensor report --period YYYY-MM [--json]` reports a period per host and in total
  (see `revstream.audit.console_report`): amounts per currency, never summed across currencies.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from ..audit import (
    ConsoleHost,
    ConsoleReport,
    CurrencyTotal,
    console_report,
    host_json,
    report_json,
)
from ..money import format_display
from ..periods import Period, rfc3339
from ..store import (
    add_licensor_host,
    get_licensor_host,
    last_syncs,
    list_licensor_hosts,
    list_outcomes,
)
from ..transparency import FormatError, ProofError
from ._licensor_sync import sync_host
from ._output import JSON_HELP, fail, print_json, print_table
from ._verify import _vkey, quorum_of, witness_keys

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HOST_NAME_CHARS_MAX = 100
"""Longest host name (the store's column)."""


def add_parsers(commands) -> None:
    licensor = commands.add_parser(
        "licensor", help="the licensor console: the hosts you license to, their statements verified in one place"
    ).add_subparsers(dest="action", required=True)
    hosts = licensor.add_parser("hosts", help="the hosts this console follows").add_subparsers(
        dest="hosts_action", required=True)
    add = hosts.add_parser("add", help="register a host")
    add.add_argument("name", help="a name for the host, e.g. \"Cloud A\"")
    add.add_argument("--url", required=True, help="the host's base URL, e.g. https://api.cloud-a.example")
    add.add_argument("--vkey", required=True, help="the host's log verifier key (`revstream log vkey` on the host), "
                                                   "or a file holding it")
    add.add_argument("--token-env", required=True, metavar="VAR",
                     help="the environment variable that holds your licensor token for this host (never stored)")
    add.add_argument("--witness", action="append", default=[], metavar="VKEY",
                     help="a witness you trust to cosign this host's checkpoints (a cosigner vkey, or a file of "
                          "them); repeatable")
    add.add_argument("--quorum", type=int, help="distinct --witness keys whose cosignatures a checkpoint needs "
                                                "(default: all)")
    add.add_argument("--tiles", metavar="URL", help="read this host's log from a C2SP tlog-tiles endpoint "
                                                    "(a CDN, a static mirror) instead of its JSON endpoints")
    add.add_argument("--json", action="store_true", help=JSON_HELP)
    listing = hosts.add_parser("list", help="every registered host")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    sync = licensor.add_parser("sync", help="fetch every host's new statements and verify each")
    sync.add_argument("--period", help="only statements of this month, YYYY-MM")
    sync.add_argument("--host", dest="host_name", metavar="NAME", help="only this host")
    sync.add_argument("--recheck", action="store_true", help="verify again the statements that failed before")
    sync.add_argument("--state", help="the console's state directory (default: HOME/licensor)")
    sync.add_argument("--json", action="store_true", help=JSON_HELP)
    report = licensor.add_parser("report", help="a period across hosts: gross, share, minimum and cap, what is "
                                                "verified, what failed and why, what is missing")
    report.add_argument("--period", required=True, help="the month, YYYY-MM")
    report.add_argument("--json", action="store_true", help=JSON_HELP)


def handles(args) -> bool:
    return args.command == "licensor"


def run(args, engine, config) -> int:
    if args.action == "hosts":
        return _add(args, engine) if args.hosts_action == "add" else _list(args, engine)
    if args.action == "sync":
        return _sync(args, engine, config)
    return _report(args, engine)


def _host_of(args) -> ConsoleHost:
    name = args.name.strip()
    if not name or len(name) > HOST_NAME_CHARS_MAX:
        raise ValueError(f"the host's name must have 1 to {HOST_NAME_CHARS_MAX} characters")
    for flag, url in (("--url", args.url), ("--tiles", args.tiles)):
        parts = urlsplit(url) if url else None
        if url and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError(f"{flag} must be an http(s) URL, got {url!r}")
    if not _ENV_NAME.fullmatch(args.token_env):
        raise ValueError(f"--token-env must name an environment variable, got {args.token_env!r}")
    try:
        vkey = _vkey(args.vkey)
    except (FormatError, ProofError, OSError) as error:
        raise ValueError(f"--vkey is not a verifier key: {error}") from None
    witnesses = witness_keys(args.witness)
    return ConsoleHost(name, args.url.rstrip("/"), vkey, args.token_env, witnesses, quorum_of(witnesses, args.quorum),
                       args.tiles.rstrip("/") if args.tiles else None, time.time_ns() // 1000)


def _add(args, engine) -> int:
    host = add_licensor_host(engine, _host_of(args))
    if args.json:
        print_json(host_json(host))
    else:
        witnessed = f", {host.quorum} of {len(host.witnesses)} witnesses" if host.witnesses else ", no witnesses"
        print(f"host {host.name}: {host.url} (token from ${host.token_env}{witnessed})")
    return 0


def _list(args, engine) -> int:
    hosts = [host_json(host) for host in list_licensor_hosts(engine)]
    if args.json:
        print_json(hosts)
    else:
        print_table([{**h, "witnesses": f"{h['quorum']} of {len(h['witnesses'])}" if h["witnesses"] else "none"}
                     for h in hosts], ("name", "url", "token_env", "witnesses", "tiles_url"))
    return 0


def _sync(args, engine, config) -> int:
    if args.period:
        Period.parse(args.period)
    hosts = [get_licensor_host(engine, args.host_name)] if args.host_name else list_licensor_hosts(engine)
    if not hosts:
        return fail("no hosts registered: `revstream licensor hosts add NAME --url ... --vkey ... --token-env ...`", 2)
    root = Path(args.state) if args.state else Path(config.home) / "licensor"
    records = [sync_host(engine, host, root, args.period, recheck=args.recheck) for host in hosts]
    rows = [{"host": r.host, "listed": r.listed, "verified": r.verified, "failed": r.failed, "unchecked": r.unchecked,
             "error": r.error} for r in records]
    print_json(rows) if args.json else print_table(rows, ("host", "listed", "verified", "failed", "unchecked", "error"))
    return 1 if any(r.failed for r in records) else 0


def _report(args, engine) -> int:
    Period.parse(args.period)
    report = console_report(args.period, list_licensor_hosts(engine), list_outcomes(engine), last_syncs(engine))
    if args.json:
        print_json(report_json(report))
    else:
        _print_report(report)
    return 0


def _money(nanos: int | None, currency: str | None) -> str:
    return "—" if nanos is None or currency is None or len(currency) != 3 else format_display(nanos, currency)


def _total_rows(totals: tuple[CurrencyTotal, ...]) -> list[dict]:
    return [{"currency": t.currency, "verified": t.statements_verified, "failed": t.statements_failed,
             "unchecked": t.statements_unchecked, "missing": t.statements_missing,
             "gross": _money(t.gross_total_nanos, t.currency),
             "share": _money(t.share_total_nanos, t.currency),
             "minimum_top_up": _money(t.minimum_top_up_nanos, t.currency),
             "cap_reduction": _money(t.cap_reduction_nanos, t.currency),
             "unverified_claims": _money(t.claimed_unverified_share_nanos, t.currency)} for t in totals]


def _print_report(report: ConsoleReport) -> None:
    print(f"period {report.period}")
    for entry in report.hosts:
        sync = entry.last_sync
        synced = "never synced" if sync is None else f"last sync {rfc3339(sync.finished_us)}" + (
            f", stopped: {sync.error}" if sync.error else "")
        print(f"\n== {entry.host.name} ({entry.host.url}; {synced})")
        rows = [{"statement": o.statement_id, "currency": o.figures.currency,
                 "gross": _money(o.figures.gross_total_nanos, o.figures.currency),
                 "share": _money(o.figures.share_total_nanos, o.figures.currency),
                 "minimum_top_up": _money(o.figures.minimum_top_up_nanos, o.figures.currency),
                 "cap_reduction": _money(o.figures.cap_reduction_nanos, o.figures.currency),
                 "state": o.state if o.reason is None else f"{o.state}: {o.reason}"} for o in entry.statements]
        print_table(rows, ("statement", "currency", "gross", "share", "minimum_top_up", "cap_reduction", "state"))
        for missing in entry.missing:
            print(f"MISSING  {missing.reason}")
    print("\n== total per currency (amounts of verified statements)")
    print_table(_total_rows(report.totals), ("currency", "verified", "failed", "unchecked", "missing", "gross",
                                             "share", "minimum_top_up", "cap_reduction", "unverified_claims"))
    if report.missing:
        print(f"\n{len(report.missing)} statements missing")
