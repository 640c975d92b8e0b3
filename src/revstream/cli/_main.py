"""Argument parsing and dispatch for every `revstream` command."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from .. import __version__
from ..config import ConfigError, legacy_home_notice, load_config, prepare_home, prepare_sqlite_file
from ..metering import parse_time_us, rfc3339, usage_json
from ..billing import BillingError
from ..money import MoneyError
from ..pricing import PricingError
from ..store import (
    Conflict,
    NotFound,
    StoreError,
    create_key,
    find_customer_id,
    list_keys,
    list_usage,
    make_engine,
    revoke_key,
    set_key_limits,
    upgrade,
)
from . import _admin as admin
from . import _licence as licence
from . import _licensor as licensor_console  # issue 17: the licensor console
from . import _audit_work as audit_work
from . import _log as transparency_log
from . import _money as money
from . import _plans as plans
from . import _settlement as settlement
from . import _verify as verifier
from . import _witness as witness
from . import _works as works
from . import _messaging as messaging  # messaging (issue 14)
from ._output import JSON_HELP, fail, print_json, print_table, store_description


READ_ONLY = frozenset({
    ("keys", "list"), ("usage", None), ("prices", "list"), ("budgets", "list"), ("balance", None), ("ledger", "check"),
    ("licensors", "list"), ("agreements", "list"), ("statements", "list"), ("statements", "show"), ("log", "vkey"),
    ("log", "checkpoint"), ("log", "check"), ("audits", "list"), ("plans", "list"), ("subscriptions", "list"),
    ("tax", "list"), ("invoices", "list"), ("invoices", "show"), ("licence", "status"), ("licence", "export-mau"),
    ("licensor", "report"),
}) | messaging.READ_ONLY  # messaging (issue 14)
"""Commands that only read; every other command names the store it writes to on stderr."""

PRIVATE_UMASK = 0o077
"""Whatever revstream creates (database, its -wal/-shm files, metrics, state) is its owner's alone."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="revstream", description="Run and audit the business around open-weight models.")
    parser.add_argument("--version", action="version", version=f"revstream {__version__}", help="print the version and exit")
    parser.add_argument("--home", metavar="DIR", help="the data directory (default: $REVSTREAM_HOME, else "
                        "$XDG_DATA_HOME/revstream, else ~/.local/share/revstream)")
    parser.add_argument("--config", metavar="FILE", help="TOML config file for this command (default: HOME/revstream.toml "
                        "if present, which `serve --config FILE` links to FILE; else the embedded default)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the OpenAI-compatible gateway")
    serve.add_argument("--config", dest="serve_config", metavar="FILE", help="the config file to serve; it becomes "
                       "this home's config (HOME/revstream.toml links to it) so every command uses the same store")
    serve.add_argument("--host", help="address to listen on (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default: server.port, 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default: server.workers, 1)")

    keys = commands.add_parser("keys", help="customer API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create a key (printed once)")
    create.add_argument("--customer", required=True, help="the customer's name (created if new)")
    create.add_argument("--rpm", type=int, help="requests per minute (default: unlimited)")
    create.add_argument("--tpm", type=int, help="tokens per minute (default: unlimited)")
    create.add_argument("--json", action="store_true", help=JSON_HELP)
    limits = keys.add_parser("limits", help="set or lift a key's rate limits")
    limits.add_argument("key_id", help="the key's id (key_…), as `keys list` shows it")
    limits.add_argument("--rpm", type=int, help="requests per minute (omit to lift)")
    limits.add_argument("--tpm", type=int, help="tokens per minute (omit to lift)")
    limits.add_argument("--json", action="store_true", help=JSON_HELP)
    listing = keys.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--customer", help="only this customer's keys")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", help="the key's id (key_…)")
    revoke.add_argument("--json", action="store_true", help=JSON_HELP)

    db = commands.add_parser("db", help="the store").add_subparsers(dest="action", required=True)
    db_upgrade = db.add_parser("upgrade", help="apply pending migrations")
    db_upgrade.add_argument("--json", action="store_true", help=JSON_HELP)

    money.add_parsers(commands)
    settlement.add_parsers(commands)
    plans.add_parsers(commands)
    transparency_log.add_parsers(commands)
    verifier.add_parsers(commands)
    licensor_console.add_parsers(commands)  # issue 17
    admin.add_parsers(commands)
    witness.add_parsers(commands)
    licence.add_parsers(commands)
    works.add_parsers(commands)
    audit_work.add_parsers(commands)
    messaging.add_parsers(commands)  # messaging (issue 14)

    usage = commands.add_parser("usage", help="usage records")
    usage.add_argument("--customer", help="only this customer's records")
    usage.add_argument("--since", help="ISO 8601 date or time (UTC if no zone)")
    usage.add_argument("--json", action="store_true", help=JSON_HELP)
    settlement.add_usage_import(usage)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.umask(PRIVATE_UMASK)
    if witness.handles(args):  # a witness needs no gateway config or store
        return witness.run(args)
    try:
        config = load_config(getattr(args, "serve_config", None) or args.config, home=args.home)
        if args.command == "serve":
            from ._serve import check_model_files, serve  # uvicorn and the model stack load only for serve

            check_model_files(config)  # before anything is created for a server that cannot run
            _prepare(args, config)
            return serve(config, args.host, args.port, args.workers, args.serve_config or args.config)
        if licence.handles(args) and not licence.needs_store(args):
            return licence.run(args, config)  # `licence check` reads files only, never the store
        if works.handles(args) or audit_work.handles(args):  # no store: a holder's or an author's own machine
            return (works if works.handles(args) else audit_work).run(args, config)
        _prepare(args, config)
        return _dispatch(args, config)
    except ConfigError as error:
        return fail(f"configuration: {error}", 2)
    except (NotFound, Conflict) as error:
        return fail(str(error), 1)
    except (MoneyError, PricingError, BillingError) as error:
        return fail(str(error), 2)
    except StoreError as error:
        return fail(f"store: {error}", 1)
    except ValueError as error:
        return fail(str(error), 2)
    except KeyboardInterrupt:
        return 130


def _prepare(args, config) -> None:
    """Create or tighten the home and the SQLite file, then say where a write goes."""
    notices = [*prepare_home(config.home), *prepare_sqlite_file(config.store.database_url)]
    legacy = legacy_home_notice(config.home, Path.cwd())
    for notice in (*notices, *([legacy] if legacy else [])):
        print(f"revstream: warning: {notice}", file=sys.stderr)
    if args.command != "serve" and (args.command, getattr(args, "action", None)) not in READ_ONLY:  # serve says it itself
        print(f"revstream: writing to {store_description(config)}", file=sys.stderr)


def _dispatch(args, config) -> int:
    engine = make_engine(config.store.database_url, config.keys_dir)
    try:
        revision = upgrade(engine)
        if args.command == "db":
            print_json({"revision": revision}) if args.json else print(f"store at revision {revision}")
            return 0
        if admin.handles(args):
            return admin.run(args, engine)
        if verifier.handles(args):
            return verifier.run(args, engine, config)
        if licensor_console.handles(args):  # issue 17
            return licensor_console.run(args, engine, config)
        if transparency_log.handles(args):
            return transparency_log.run(args, engine, config)
        if plans.handles(args):
            return plans.run(args, engine, config)
        if settlement.handles(args):
            return settlement.run(args, engine)
        if licence.handles(args):  # `licence status` (issue 15)
            return licence.run(args, config, engine)
        if messaging.handles(args):  # messaging (issue 14)
            return messaging.run(args, engine)
        if args.command == "keys":
            return _keys(args, engine)
        if args.command == "usage":
            return _usage(args, engine)
        return money.run(args, engine)
    finally:
        engine.dispose()


def _key_row(row) -> dict:
    return {"key_id": row.key_id, "customer": row.customer, "hint": row.key_hint,
            "created": rfc3339(row.created_us), "revoked": rfc3339(row.revoked_us),
            "rpm": row.requests_per_minute, "tpm": row.tokens_per_minute}


def _positive(value: int | None, flag: str) -> int | None:
    if value is not None and value <= 0:
        raise ValueError(f"{flag} must be a positive number")
    return value


def _keys(args, engine) -> int:
    now_us = time.time_ns() // 1000
    if args.action == "create":
        key, row = create_key(engine, args.customer, now_us, _positive(args.rpm, "--rpm"), _positive(args.tpm, "--tpm"))
        if args.json:
            print_json({"key": key, **_key_row(row)})
        else:
            print(f"{key}\n\nkey id {row.key_id} for customer {row.customer}. This key is shown once; store it now.")
        return 0
    if args.action == "limits":
        row = set_key_limits(engine, args.key_id, _positive(args.rpm, "--rpm"), _positive(args.tpm, "--tpm"))
        print_json(_key_row(row)) if args.json else print(f"{row.key_id}: rpm {row.requests_per_minute or 'unlimited'}, tpm {row.tokens_per_minute or 'unlimited'}")
        return 0
    if args.action == "list":
        rows = [_key_row(row) for row in list_keys(engine, args.customer)]
        print_json(rows) if args.json else print_table(rows, ("key_id", "customer", "hint", "created", "revoked"))
        return 0
    row = revoke_key(engine, args.key_id, now_us)
    print_json(_key_row(row)) if args.json else print(f"revoked {row.key_id} ({row.customer})")
    return 0


def _usage(args, engine) -> int:
    customer_id = find_customer_id(engine, args.customer) if args.customer else None
    records = [usage_json(r) for r in list_usage(engine, customer_id, parse_time_us(args.since) if args.since else None)]
    if args.json:
        print_json(records)
    else:
        print_table(records, ("request_id", "time", "model", "status", "tokens_prompt", "tokens_completion"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
