"""Transparency-log commands: `log init|vkey|checkpoint|check|rotate-key` and `licensors token`."""

from __future__ import annotations

import base64
import sys
import time

from ..store import (
    NotFound,
    check_log,
    create_licensor_token,
    init_log_key,
    latest_checkpoint,
    log_size,
    log_verifier_key,
    rotate_log_key,
)
from ._output import JSON_HELP, print_json


def add_parsers(commands) -> None:
    log = commands.add_parser("log", help="the transparency log").add_subparsers(dest="action", required=True)
    init = log.add_parser("init", help="create the log's signing key (once) and print its verifier key")
    init.add_argument("--origin", help="the log's name in its checkpoints (default: [transparency] origin)")
    init.add_argument("--json", action="store_true", help=JSON_HELP)
    log.add_parser("vkey", help="print the verifier key").add_argument("--json", action="store_true", help=JSON_HELP)
    log.add_parser("checkpoint", help="print the latest signed checkpoint").add_argument("--json", action="store_true", help=JSON_HELP)
    log.add_parser("check", help="recompute every leaf from its usage record and the root from the stored "
                                 "hashes; exit 1 if anything differs").add_argument("--json", action="store_true", help=JSON_HELP)
    rotate = log.add_parser("rotate-key", help="replace a compromised or retired signing key; prints the new "
                                               "verifier key to give every licensor")
    rotate.add_argument("--json", action="store_true", help=JSON_HELP)


def add_licensor_token(licensor_actions) -> None:
    """`revstream licensors token NAME` under the existing `licensors` command."""
    token = licensor_actions.add_parser("token", help="create a token that reads the transparency log (printed once)")
    token.add_argument("name", help="the licensor's name")
    token.add_argument("--json", action="store_true", help=JSON_HELP)


def handles(args) -> bool:
    return args.command == "log" or (args.command == "licensors" and args.action == "token")


def run(args, engine, config) -> int:
    if args.command == "licensors":
        token, token_id = create_licensor_token(engine, args.name, time.time_ns() // 1000)
        if args.json:
            print_json({"token": token, "token_id": token_id, "licensor": args.name})
        else:
            print(f"{token}\n\ntoken id {token_id} for licensor {args.name}: it reads /transparency/*. "
                  "This token is shown once; store it now.")
        return 0
    if args.action == "init":
        origin = args.origin or config.transparency.origin
        vkey = init_log_key(engine, origin, time.time_ns() // 1000)
        print_json({"origin": origin, "vkey": vkey}) if args.json else print(vkey)
        return 0
    if args.action == "vkey":
        vkey = log_verifier_key(engine)
        if vkey is None:
            raise NotFound("the log has no key yet: run `revstream log init`")
        print_json({"vkey": vkey}) if args.json else print(vkey)
        return 0
    if args.action == "check":
        return _check(args, engine)
    if args.action == "rotate-key":
        old, new, size = rotate_log_key(engine, time.time_ns() // 1000)
        if args.json:
            print_json({"old_vkey": old, "vkey": new, "handover_size": size})
        else:
            print(new)
            print(f"the log's new verifier key; the checkpoint of size {size} is signed with the new key (and the "
                  f"old one, while it was still here). Give every licensor the new key; statements signed "
                  f"before keep verifying with the old one:\n  {old}", file=sys.stderr)
        return 0
    latest = latest_checkpoint(engine)
    if latest is None:
        raise NotFound(f"no signed checkpoint yet (log size {log_size(engine)}; a key from `revstream log init`?)")
    if args.json:
        print_json({"size": latest.size, "created_us": latest.created_us, "note": latest.note})
    else:
        print(latest.note, end="")
    return 0


def _check(args, engine) -> int:
    found = check_log(engine)
    value = {"ok": found.ok, "size": found.size, "root": base64.b64encode(found.root).decode("ascii"),
             "mismatched": list(found.mismatched), "missing": list(found.missing)}
    if args.json:
        print_json(value)
    elif found.ok:
        print(f"ok: {found.size} leaves, each one its stored hash and its row's projection; root {value['root']}")
    else:
        print(f"LOG DAMAGED: {len(found.mismatched)} leaves differ from their hash or their row "
              f"{value['mismatched'][:20]}, {len(found.missing)} leaves or rows missing {value['missing'][:20]}",
              file=sys.stderr)
    return 0 if found.ok else 1
