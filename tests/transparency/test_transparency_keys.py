"""The host's secrets live in key files, never in the shared database (issue 12 item 5):
the log's signing key and the pseudonym secret are 0600 files in a 0700 key directory; an
older store's secrets are moved out of the database the first time they are read; a
compromised key is replaced with `revstream log rotate-key`, old statements still verify."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
from pathlib import Path

from conftest import revstream
from revstream.settlement import statement_body_of_note_text
from revstream.store import make_engine, upgrade
from revstream.transparency import parse_checkpoint, verify_note

DATA = Path(__file__).resolve().parent.parent / "audit" / "data"
LEGACY_META = ("log_signer_key", "log_pseudonym_secret")


def _meta(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as connection:
        return dict(connection.execute("SELECT key, value FROM meta").fetchall())


def _private(path: Path, mode: int) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == mode


def test_the_log_key_and_the_pseudonym_secret_are_key_files(tmp_path) -> None:
    home = tmp_path / "home"
    vkey = revstream("log", "init", "--origin", "keys.example/log", home=home).stdout.strip()
    keys = home / "keys"
    assert _private(keys, 0o700) and _private(keys / "log-signer.key", 0o600)
    assert (keys / "log-signer.key").read_text().startswith("PRIVATE+KEY+keys.example/log+")
    meta = _meta(home / "revstream.db")
    assert not set(LEGACY_META) & set(meta) and meta["log_verifier_key"] == vkey
    assert not any(b"PRIVATE+KEY" in path.read_bytes() for path in home.rglob("revstream.db*"))


def test_an_older_stores_secrets_move_out_of_its_database(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(DATA / "v1_store.db", home / "revstream.db")
    old = _meta(home / "revstream.db")
    assert set(LEGACY_META) <= set(old)
    check = revstream("log", "check", "--json", home=home)  # reads the pseudonym secret
    assert json.loads(check.stdout)["ok"] is True
    revstream("log", "rotate-key", home=home)  # reads (and replaces) the signing key
    assert not set(LEGACY_META) & set(_meta(home / "revstream.db"))
    assert (home / "keys" / "pseudonym.secret").read_text().strip() == old["log_pseudonym_secret"]


def test_rotate_key_hands_over_and_old_statements_still_verify(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(DATA / "v1_store.db", home / "revstream.db")
    old_vkey = (DATA / "v1_store.vkey").read_text().strip()
    rotated = json.loads(revstream("log", "rotate-key", "--json", home=home).stdout)
    assert rotated["old_vkey"] == old_vkey and rotated["vkey"] != old_vkey
    assert revstream("log", "vkey", home=home).stdout.strip() == rotated["vkey"]
    checkpoint = revstream("log", "checkpoint", home=home).stdout
    # The handover checkpoint verifies with either key; later ones only with the new.
    for key in (old_vkey, rotated["vkey"]):
        assert parse_checkpoint(verify_note(checkpoint, [key])).size == rotated["handover_size"]
    note = (DATA / "v1_statement_2026-01.note").read_text()
    assert statement_body_of_note_text(verify_note(note, [old_vkey]))
    engine = make_engine(f"sqlite:///{home / 'revstream.db'}", home / "keys")
    upgrade(engine)
    engine.dispose()
