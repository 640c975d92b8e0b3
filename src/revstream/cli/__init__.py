"""The `revstream` command line. Every command that reports can print `--json`."""

from ._main import main

__all__ = ["main"]
