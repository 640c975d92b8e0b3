"""Every option and argument of every command says what it does in --help."""

from __future__ import annotations

import argparse
import subprocess
import sys

from revstream import __version__
from revstream.cli._main import _parser


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("revstream",)):
    """Yield (command path, action) for every action of every (sub)command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, (*path, name))
        else:
            yield path, action


def test_every_option_of_every_command_has_help():
    missing = [
        f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
        for path, action in walk(_parser())
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []


def test_the_walk_sees_every_command():
    paths = {" ".join(path) for path, _ in walk(_parser())}
    for expected in ("revstream serve", "revstream invoices show", "revstream admin token rotate", "revstream usage import"):
        assert expected in paths


def test_serve_help_describes_its_options():
    text = subprocess.run([sys.executable, "-m", "revstream", "serve", "--help"], capture_output=True, text=True,
                          check=True).stdout
    for description in ("address to listen on", "TCP port", "worker processes", "this home's config"):
        assert description in " ".join(text.split()), description


def test_version():
    result = subprocess.run([sys.executable, "-m", "revstream", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"revstream {__version__}"
