"""`revstream works fingerprint`: runs on a holder's machine, with no store, and makes the
file the host's index accepts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from revstream.cli import main
from revstream.recitation import (
    FingerprintKey,
    IndexDirectory,
    fingerprint_submission,
    fingerprint_text,
    format_fingerprint,
    parse_fingerprint,
)

KEY = FingerprintKey(bytes(range(100, 132)), 16)
TEXT = " ".join(f"Line {i}: the harbour lights came on one by one, and the gulls went quiet." for i in range(20))


def test_fingerprint_command_writes_the_file_the_host_accepts(tmp_path) -> None:
    work = tmp_path / "work.txt"
    work.write_text(TEXT, encoding="utf-8")
    home = tmp_path / "holder-home"
    result = subprocess.run(
        [sys.executable, "-m", "revstream", "works", "fingerprint", str(work), "--key", KEY.text(),
         "--output", str(tmp_path / "work.fp"), "--json"],
        capture_output=True, text=True, env={**os.environ, "REVSTREAM_HOME": str(home)}, timeout=120, check=True)
    summary = json.loads(result.stdout)
    body = (tmp_path / "work.fp").read_text(encoding="utf-8")
    assert parse_fingerprint(body) == fingerprint_text(TEXT, KEY)
    assert summary["windows"] == len(parse_fingerprint(body).hashes) and summary["key_id"] == KEY.key_id
    assert not home.exists()  # no store was opened or created on the holder's machine
    host = IndexDirectory.create(tmp_path / "host-index", KEY)
    host.add_work(1, fingerprint_submission(body, KEY))
    assert host.manifest().segments[0].windows == summary["windows"]


def test_fingerprint_to_stdout_with_the_key_from_a_file_or_the_environment(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("REVSTREAM_HOME", str(tmp_path / "home"))
    work = tmp_path / "work.txt"
    work.write_text(TEXT, encoding="utf-8")
    key_file = tmp_path / "host.key"
    key_file.write_text(KEY.text() + "\n", encoding="utf-8")
    assert main(["works", "fingerprint", str(work), "--key", str(key_file)]) == 0
    assert capsys.readouterr().out == format_fingerprint(fingerprint_text(TEXT, KEY))
    monkeypatch.setenv("REVSTREAM_FINGERPRINT_KEY", KEY.text())
    assert main(["works", "fingerprint", str(work)]) == 0
    assert capsys.readouterr().out == format_fingerprint(fingerprint_text(TEXT, KEY))


@pytest.mark.parametrize("content, key, message", [
    (TEXT, "rfk1:16:nope", "base64url|fingerprint key"),
    (TEXT, None, "no fingerprint key"),
    ("far too short", KEY.text(), "at least 16 words"),
    (b"\xff\xfe not utf-8", KEY.text(), "not UTF-8"),
])
def test_fingerprint_command_errors_are_clear(tmp_path, capsys, monkeypatch, content, key, message) -> None:
    monkeypatch.setenv("REVSTREAM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REVSTREAM_FINGERPRINT_KEY", raising=False)
    work = tmp_path / "work.txt"
    work.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["works", "fingerprint", str(work), *(["--key", key] if key else [])]) == 2
    assert __import__("re").search(message, capsys.readouterr().err)
    assert main(["works", "fingerprint", str(tmp_path / "missing.txt"), "--key", KEY.text()]) == 2
