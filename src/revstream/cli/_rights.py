"""`revstream holders ...` and the store's side of `revstream works ...` (issue 16): rights
holders, their tokens, and the works the gateway will not recite.

    revstream holders add NAME                      a rights holder
    revstream holders token NAME                    its bearer token for GET /rights/events (shown once)
    revstream holders list [--json]
    revstream works key                             the host's fingerprint key, to publish to holders
    revstream works add --holder NAME --title T FILE [--mode block|cite] [--limit-words N]
    revstream works list [--all] [--json]
    revstream works remove WORK_ID

`works add` takes a work's text (normalized and hashed here, then forgotten: only hashes
reach the index, only the title reaches the database) or a fingerprint file a holder made
with `revstream works fingerprint --key ...` on its own machine.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..config._recitation import recitation_settings
from ..metering import rfc3339
from ..recitation import MODES, RecitationError, fingerprint_submission
from ..store import (
    add_holder,
    fingerprint_key,
    index_directory,
    list_holders,
    list_works,
    new_holder_token,
    register_work,
    remove_work,
)
from ._output import JSON_HELP, fail, print_json, print_table

STORE_ACTIONS = frozenset({("works", "key"), ("works", "add"), ("works", "list"), ("works", "remove"),
                           ("holders", "add"), ("holders", "token"), ("holders", "list")})
READ_ONLY = frozenset({("works", "list"), ("holders", "list")})


def add_work_actions(actions) -> None:
    """The store's actions of `revstream works` (beside `works fingerprint`)."""
    key = actions.add_parser("key", help="print the host's fingerprint key (publish it to rights holders)")
    key.add_argument("--json", action="store_true", help=JSON_HELP)
    add = actions.add_parser("add", help="register a work (its text or a fingerprint file); the text is not kept",
                             description="Normalizes and hashes the work's non-overlapping word windows into the "
                                         "host's index. Only hashes and the title are stored, never the text.")
    add.add_argument("file", help="the work as UTF-8 text, or a fingerprint file from `works fingerprint`")
    add.add_argument("--holder", required=True, help="the rights holder's name (see `holders add`)")
    add.add_argument("--title", required=True, help="the work's title")
    add.add_argument("--mode", choices=MODES, default="block",
                     help="block: stop a response that recites it; cite: let it flow and attribute it (default block)")
    add.add_argument("--limit-words", type=int,
                     help="the longest span of the work a response may carry (default: [recitation] limit_words)")
    add.add_argument("--json", action="store_true", help=JSON_HELP)
    listing = actions.add_parser("list", help="list registered works")
    listing.add_argument("--all", action="store_true", help="include removed works")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    remove = actions.add_parser("remove", help="remove a work: its hashes leave the index at once")
    remove.add_argument("work_id", help="the work's id (wrk_…), as `works list` shows it")
    remove.add_argument("--json", action="store_true", help=JSON_HELP)


def add_parsers(commands) -> None:
    holders = commands.add_parser("holders", help="rights holders of registered works")
    actions = holders.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a rights holder")
    add.add_argument("name", help="the holder's name (a publisher, an author)")
    add.add_argument("--json", action="store_true", help=JSON_HELP)
    token = actions.add_parser("token", help="make the holder's bearer token for GET /rights/events (replaces "
                                             "any earlier one; shown once)")
    token.add_argument("name", help="the holder's name")
    token.add_argument("--json", action="store_true", help=JSON_HELP)
    listing = actions.add_parser("list", help="list rights holders")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)


def handles(args) -> bool:
    return (args.command, getattr(args, "action", None)) in STORE_ACTIONS


def _holder_json(row) -> dict:
    return {"holder_id": row.holder_id, "name": row.name, "has_token": row.has_token, "created": rfc3339(row.created_us)}


def _work_json(row) -> dict:
    return {"work_id": row.work_id, "number": row.number, "holder_id": row.holder_id, "holder": row.holder,
            "title": row.title, "mode": row.mode, "limit_words": row.limit_words, "windows": row.windows,
            "words": row.words, "created": rfc3339(row.created_us), "removed": rfc3339(row.removed_us)}


def run(args, engine, config) -> int:
    try:
        if args.command == "holders":
            return _holders(args, engine)
        return _works(args, engine, config)
    except RecitationError as error:
        return fail(str(error), 2)


def _holders(args, engine) -> int:
    if args.action == "add":
        row = add_holder(engine, args.name, time.time_ns() // 1000)
        print_json(_holder_json(row)) if args.json else print(f"added rights holder {row.name} ({row.holder_id})")
    elif args.action == "token":
        token, holder_id = new_holder_token(engine, args.name)
        if args.json:
            print_json({"token": token, "holder_id": holder_id})
        else:
            print(f"{token}\n\ntoken for {args.name} ({holder_id}): GET /rights/events with "
                  "'Authorization: Bearer <token>'. Shown once; store it now.")
    else:
        rows = [_holder_json(row) for row in list_holders(engine)]
        print_json(rows) if args.json else print_table(rows, ("holder_id", "name", "has_token", "created"))
    return 0


def _works(args, engine, config) -> int:
    settings = recitation_settings(config)
    if args.action == "key":
        key = fingerprint_key(engine)
        if args.json:
            print_json({"key": key.text(), "key_id": key.key_id, "window_words": key.window_words})
        else:
            print(key.text())
        return 0
    if args.action == "list":
        rows = [_work_json(row) for row in list_works(engine, include_removed=args.all)]
        if args.json:
            print_json(rows)
        else:
            print_table(rows, ("work_id", "holder", "title", "mode", "limit_words", "windows", "removed"))
        return 0
    directory = index_directory(engine, settings.index_dir)
    if args.action == "remove":
        row = remove_work(engine, directory, args.work_id, time.time_ns() // 1000)
        print_json(_work_json(row)) if args.json else print(f"removed {row.work_id} ({row.title})")
        return 0
    from ._works import read_text  # `works fingerprint`'s reading rules (_works imports this module)

    fingerprint = fingerprint_submission(read_text(Path(args.file)), fingerprint_key(engine))
    row = register_work(engine, directory, args.holder, args.title, fingerprint, time.time_ns() // 1000,
                        mode=args.mode, limit_words=args.limit_words)
    if args.json:
        print_json(_work_json(row))
    else:
        print(f"registered {row.work_id}: {row.title!r} by {row.holder}, {row.mode}, {row.windows} windows "
              f"of {fingerprint.window_words} words (the text itself is not kept)")
    return 0

