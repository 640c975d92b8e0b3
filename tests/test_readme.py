"""The README's example commands run against a real server, so the docs cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import start_server
from revstream.config import load_config

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!-- readme-test: (\w+) -->\n```\w*\n(.*?)```", re.S)

pytestmark = pytest.mark.model


def blocks() -> list[tuple[str, str]]:
    found = BLOCK.findall(README.read_text())
    if len(found) < 3:
        raise AssertionError("the README lost its tested examples")
    return found


@pytest.fixture(scope="module")
def readme_server(tmp_path_factory):
    """A server of its own: the examples set prices and credit, as a newcomer would."""
    server = start_server(tmp_path_factory.mktemp("readme"))
    yield server
    server.stop()


@pytest.mark.parametrize("kind, code", blocks())
def test_readme_example_runs(kind, code, readme_server):
    key = re.search(r"demo API key: (rs-\S+)", readme_server.log()).group(1)
    code = code.replace("http://127.0.0.1:8000", readme_server.base_url)
    env = {**os.environ, "REVSTREAM_KEY": key, "REVSTREAM_HOME": str(readme_server.home)}
    command = ["bash", "-euo", "pipefail", "-c", code] if kind == "bash" else [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=README.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "an example that prints nothing shows nothing"
    assert '"error"' not in result.stdout, result.stdout


def test_the_configuration_reference_is_a_valid_config(tmp_path):
    [toml] = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)
    path = tmp_path / "reference.toml"
    path.write_text(toml)
    config = load_config(path, environ={})
    assert [m.backend for m in config.models] == ["llamacpp", "openai"]
    assert config.prices and config.licensors and config.agreements
    assert config.store.redis_url and config.server.workers == 4
