"""The README's example commands run against a real server, so the docs cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!-- readme-test: (\w+) -->\n```\w*\n(.*?)```", re.S)

pytestmark = pytest.mark.model


def blocks() -> list[tuple[str, str]]:
    found = BLOCK.findall(README.read_text())
    if len(found) < 3:
        raise AssertionError("the README lost its tested examples")
    return found


@pytest.mark.parametrize("kind, code", blocks())
def test_readme_example_runs(kind, code, embedded_server, embedded_key):
    code = code.replace("http://127.0.0.1:8000", embedded_server.base_url)
    code = code.replace(".venv/bin/revstream", f"{sys.executable} -m revstream")
    env = {**os.environ, "REVSTREAM_KEY": embedded_key, "REVSTREAM_HOME": str(embedded_server.home)}
    command = ["bash", "-euo", "pipefail", "-c", code] if kind == "bash" else [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "an example that prints nothing shows nothing"
    assert '"error"' not in result.stdout, result.stdout
