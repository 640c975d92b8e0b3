"""Shared helpers for the licence tests: the shipped registry and the labelled prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from revstream.licence import load_registry

DATA = Path(__file__).resolve().parent / "data"


def labelled(name: str) -> list[tuple[str, frozenset[str]]]:
    rows = [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(row["prompt"], frozenset(row["labels"])) for row in rows]


@pytest.fixture(scope="session")
def registry():
    return load_registry()
