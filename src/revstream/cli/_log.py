"""Transparency-log commands: `log init|vkey|checkpoint|check|rotate-key|export-tiles` and `licensors token`."""

from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path

from ..store import (
    LogIntegrityError,
    NotFound,
    StoredCheckpoint,
    check_log,
    create_licensor_token,
    init_log_key,
    latest_checkpoint,
    log_size,
    log_verifier_key,
    read_tiles,
    rotate_log_key,
    stored_root,
)
from ..transparency import TransparencyError, new_tiles, parse_checkpoint, tile_path, verify_note
from ._output import JSON_HELP, print_json, progress_reporter

EXPORT_CHECKPOINT_NAME = "checkpoint"


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
    export = log.add_parser("export-tiles", help="write the log as C2SP tlog-tiles to DIR for a static file server or "
                                                 "a CDN: only the tiles new since the last export, the checkpoint last")
    export.add_argument("directory", metavar="DIR", help="the directory served as the log's prefix (DIR/checkpoint, "
                                                         "DIR/tile/...); created if missing")
    export.add_argument("--json", action="store_true", help=JSON_HELP)


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
    if args.action == "export-tiles":
        return _export_tiles(args, engine, config)
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


# --- export-tiles ----------------------------------------------------------------------

def _export_tiles(args, engine, config) -> int:
    """Write the tiles the log gained since DIR's checkpoint, then (atomically, last) the
    checkpoint the host publishes (with its witnesses' cosignatures when it has them): a
    reader of DIR never sees a checkpoint whose tiles are missing."""
    from ..gateway._witnessing import published_checkpoint  # the gateway loads only for the command that needs it

    directory = Path(args.directory)
    published = published_checkpoint(engine, config.transparency)
    if published is None:
        raise NotFound(f"no signed checkpoint yet (log size {log_size(engine)}): nothing to export")
    latest = published.checkpoint
    previous = _exported_size(directory, engine, latest)
    tiles = list(new_tiles(previous, latest.size))
    report = progress_reporter("tiles")
    counts = {"tiles": 0, "entry_bundles": 0, "bytes": 0}
    for done, (tile, data) in enumerate(read_tiles(engine, tiles, latest.size), 1):
        _write_atomic(directory / tile_path(tile), data)
        counts["entry_bundles" if tile.is_entry_bundle else "tiles"] += 1
        counts["bytes"] += len(data)
        report(done, len(tiles))
    os.sync()  # every tile on disk before the checkpoint that calls for it
    _write_atomic(directory / EXPORT_CHECKPOINT_NAME, published.note.encode("utf-8"))
    value = {"directory": str(directory), "previous_size": previous, "size": latest.size, **counts,
             "checkpoint": published.note}
    if args.json:
        print_json(value)
    else:
        print(f"exported the log at size {latest.size} to {directory}: {counts['tiles']} tiles and "
              f"{counts['entry_bundles']} entry bundles new since size {previous} ({counts['bytes']} bytes), "
              "then the checkpoint")
    return 0


def _exported_size(directory: Path, engine, latest: StoredCheckpoint) -> int:
    """The size of the checkpoint DIR already publishes (0 if none), after checking it is this
    log's, no larger than the latest, and that the store still holds the same tree at its size."""
    path = directory / EXPORT_CHECKPOINT_NAME
    if not path.exists():
        return 0
    try:
        exported = parse_checkpoint(verify_note(path.read_text(encoding="utf-8"), [log_verifier_key(engine)]))
    except (TransparencyError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a checkpoint signed by this log's key ({error}): export to another "
                         "directory") from None
    if exported.size > latest.size:
        raise LogIntegrityError(f"{path} is at size {exported.size}, beyond this log's latest checkpoint "
                                f"({latest.size}): a rolled-back store? refusing to export")
    if stored_root(engine, exported.size) != exported.root:
        raise LogIntegrityError(f"the stored tree at size {exported.size} differs from the root {path} publishes: "
                                "refusing to export")
    return exported.size


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` by rename, so a reader sees the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
