"""`revstream works ...`: rights holders' works. Here `works fingerprint`, which a holder
runs on its own machine: it needs no store and sends nothing anywhere.

`works key|add|list|remove` and `holders ...` need the store: see `_rights`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..recitation import (
    FingerprintKey,
    RecitationError,
    fingerprint_text,
    format_fingerprint,
    parse_fingerprint_key,
)
from ._output import fail, print_json
from ._rights import add_work_actions

KEY_ENV = "REVSTREAM_FINGERPRINT_KEY"
KEY_TEXT_CHARS_MAX = 200
TEXT_BYTES_MAX = 256 * 1024 * 1024
"""Largest work read (a long book is a few MB)."""


def add_parsers(commands) -> None:
    works = commands.add_parser("works", help="rights holders' works that the gateway will not recite")
    actions = works.add_subparsers(dest="action", required=True)
    fingerprint = actions.add_parser(
        "fingerprint", help="compute a work's fingerprint file on your own machine (the text never leaves it)",
        description="Normalizes FILE.txt and hashes its non-overlapping word windows with the host's published "
                    "fingerprint key. Submit the output to the host instead of the text: it holds hashes only.")
    fingerprint.add_argument("file", help="the work, UTF-8 text")
    fingerprint.add_argument("--key", help=f"the host's fingerprint key (rfk1:..., or a file holding it; default: ${KEY_ENV})")
    fingerprint.add_argument("--output", "-o", help="write the fingerprint here (default: standard output)")
    fingerprint.add_argument("--json", action="store_true", help="print a summary as JSON (with --output)")
    add_work_actions(actions)  # issue 16: the host's side (store)


def handles(args) -> bool:
    return args.command == "works" and args.action == "fingerprint"


def read_key(value: str | None) -> FingerprintKey:
    """A fingerprint key from its text, a file holding it, or the environment."""
    text = value or os.environ.get(KEY_ENV)
    if not text:
        raise RecitationError(f"no fingerprint key: pass --key (the host publishes it) or set ${KEY_ENV}")
    path = Path(text)
    if len(text) <= 4096 and not text.startswith("rfk") and path.is_file():
        text = path.read_text(encoding="utf-8")[:KEY_TEXT_CHARS_MAX]
    return parse_fingerprint_key(text)


def read_text(path: Path) -> str:
    if not path.is_file():
        raise RecitationError(f"no such file: {path}")
    if path.stat().st_size > TEXT_BYTES_MAX:
        raise RecitationError(f"{path} is larger than {TEXT_BYTES_MAX} bytes")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise RecitationError(f"{path} is not UTF-8 text: {error}") from None


def run(args, config) -> int:
    try:
        key = read_key(args.key)
        fingerprint = fingerprint_text(read_text(Path(args.file)), key)
    except RecitationError as error:
        return fail(str(error), 2)
    body = format_fingerprint(fingerprint)
    if not args.output:
        sys.stdout.write(body)
        return 0
    output = Path(args.output)
    temporary = output.with_name(output.name + ".tmp")
    temporary.write_text(body, encoding="utf-8")
    os.replace(temporary, output)
    summary = {"output": str(output), "key_id": fingerprint.key_id, "window_words": fingerprint.window_words,
               "words": fingerprint.words, "windows": len(fingerprint.hashes)}
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {output}: {len(fingerprint.hashes)} windows of {fingerprint.window_words} words from "
              f"{fingerprint.words} words, for key {fingerprint.key_id}. It holds hashes only; send it to the host.",
              file=sys.stderr)
    return 0
