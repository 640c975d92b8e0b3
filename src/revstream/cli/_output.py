"""Printing: JSON for machines (`--json`), aligned tables for people."""

from __future__ import annotations

import re
import sys
from typing import Any, Sequence

import orjson

from ..money import json_safe

JSON_HELP = "print JSON for programs (amounts in exact integer nanos) instead of text"


def print_json(value: Any) -> None:
    """Print `value` as indented JSON; integers beyond a double's exact range become
    decimal strings (`revstream.money.json_safe`), so every parser reads them exactly."""
    sys.stdout.write(orjson.dumps(json_safe(value), option=orjson.OPT_INDENT_2).decode() + "\n")


def print_table(rows: Sequence[dict], columns: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@")


def database_url_for_people(url: str) -> str:
    """A database URL without its password (postgresql+psycopg://user:***@host/db)."""
    return _PASSWORD.sub(r"\1***@", url)


def store_description(config) -> str:
    """Which store a command uses and where it was decided: the URL, the home, the config file."""
    where = f"home {config.home}" + (f", config {config.source}" if config.source is not None else "")
    return f"{database_url_for_people(config.store.database_url)} ({where})"


def fail(message: str, code: int = 1) -> int:
    print(f"revstream: error: {message}", file=sys.stderr)
    return code


PROGRESS_BAR_CHARS = 30
PROGRESS_LINES = 10
"""Without a terminal, a progress line is printed at each tenth of the work."""


def progress_reporter(unit: str):
    """A ``(done, total)`` callback drawing progress on stderr: a bar redrawn in place on a
    terminal, else one line per tenth, so logs of long runs show they are moving."""
    tty = sys.stderr.isatty()
    printed = [-1]

    def report(done: int, total: int) -> None:
        if tty:
            filled = PROGRESS_BAR_CHARS * done // total if total else PROGRESS_BAR_CHARS
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (PROGRESS_BAR_CHARS - filled)}] {done}/{total} {unit}")
            if done >= total:
                sys.stderr.write("\n")
        else:
            step = PROGRESS_LINES * done // total if total else PROGRESS_LINES
            if step == printed[0]:
                return
            printed[0] = step
            sys.stderr.write(f"{done}/{total} {unit}\n")
        sys.stderr.flush()

    return report
