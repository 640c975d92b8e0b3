"""Witness commands: `witness init|vkey|serve` (a C2SP tlog-witness; needs no store or gateway config)."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from ..witness import (
    ConfigError,
    StateDirectory,
    StateError,
    create_witness_app,
    init_witness_key,
    parse_witness_config,
)
from ._output import JSON_HELP, fail, print_json

DEFAULT_PORT = 7380
"""The port litewitness and the witness network use by convention."""


def add_parsers(commands) -> None:
    witness = commands.add_parser("witness", help="a C2SP witness that cosigns hosts' checkpoints").add_subparsers(
        dest="action", required=True)
    init = witness.add_parser("init", help="create the witness key in DIR (once) and print its verifier key")
    init.add_argument("--state", required=True, metavar="DIR", help="the witness's state directory")
    init.add_argument("--name", help="the witness's key name, a schema-less URL such as witness.example/w1 "
                                     "(default: revstream-witness/<random>)")
    init.add_argument("--json", action="store_true", help=JSON_HELP)
    vkey = witness.add_parser("vkey", help="print the witness's verifier key (cosignature/v1, type 0x04)")
    vkey.add_argument("--state", required=True, metavar="DIR", help="the witness's state directory")
    vkey.add_argument("--json", action="store_true", help=JSON_HELP)
    serve = witness.add_parser("serve", help="serve POST /add-checkpoint (c2sp.org/tlog-witness)")
    serve.add_argument("--config", dest="witness_config", required=True, metavar="FILE",
                       help="TOML file listing the followed logs: [[log]] origin = ..., vkeys = [...]")
    serve.add_argument("--state", required=True, metavar="DIR", help="the directory `witness init` created")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")


def handles(args) -> bool:
    return args.command == "witness"


def run(args) -> int:
    try:
        if args.action == "init":
            name = args.name or f"revstream-witness/{secrets.token_hex(4)}"
            vkey = init_witness_key(Path(args.state), name)
            print_json({"name": name, "vkey": vkey}) if args.json else print(vkey)
            return 0
        if args.action == "vkey":
            _, vkey = StateDirectory(Path(args.state)).read_key()
            print_json({"vkey": vkey}) if args.json else print(vkey)
            return 0
        return _serve(args)
    except ConfigError as error:
        return fail(f"witness configuration: {error}", 2)
    except StateError as error:
        return fail(f"witness state: {error}", 1)
    except KeyboardInterrupt:
        return 130


def _serve(args) -> int:
    import uvicorn  # the server stack loads only for `serve`, as in the gateway's command

    try:
        config = parse_witness_config(Path(args.witness_config).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read {args.witness_config}: {error}") from None
    with StateDirectory(Path(args.state)) as directory:
        app = create_witness_app(config, directory)
        print(f"revstream witness {app.state.witness_vkey}\nfollows {len(config.logs)} logs; "
              f"listening on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0
