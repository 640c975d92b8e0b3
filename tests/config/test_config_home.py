"""The home: one rule for where it is and which config is in force; private modes; atomic
private files. Environments are passed as dicts; os.environ is never read or changed here."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from revstream.config import (
    ConfigError,
    adopt_config,
    home_file_path,
    legacy_home_notice,
    load_config,
    prepare_home,
    prepare_sqlite_file,
    resolve_home,
    write_private_file,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# Where the home is ------------------------------------------------------------------------


def test_the_home_is_the_option_then_the_environment_then_the_per_user_default(tmp_path):
    environ = {"REVSTREAM_HOME": str(tmp_path / "env"), "XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "u")}

    assert resolve_home(tmp_path / "option", environ) == tmp_path.resolve() / "option"
    assert resolve_home(None, environ) == tmp_path.resolve() / "env"
    del environ["REVSTREAM_HOME"]
    assert resolve_home(None, environ) == tmp_path.resolve() / "xdg" / "revstream"
    del environ["XDG_DATA_HOME"]
    assert resolve_home(None, environ) == tmp_path.resolve() / "u" / ".local" / "share" / "revstream"


def test_a_relative_xdg_data_home_is_ignored_as_the_spec_says(tmp_path):
    environ = {"XDG_DATA_HOME": "relative/data", "HOME": str(tmp_path)}

    assert resolve_home(None, environ) == tmp_path.resolve() / ".local" / "share" / "revstream"


def test_the_working_directory_never_decides_the_home(tmp_path, monkeypatch):
    environ = {"HOME": str(tmp_path / "user")}
    homes = set()
    for directory in ("a", "b"):
        (tmp_path / directory).mkdir()
        monkeypatch.chdir(tmp_path / directory)
        homes.add(load_config(None, environ).home)

    assert len(homes) == 1


# Which config is in force -------------------------------------------------------------------


def test_the_homes_revstream_toml_is_the_config_in_force_without_config(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "revstream.toml").write_text('[server]\nport = 9123\n')

    config = load_config(None, {}, home=home)

    assert config.server.port == 9123 and config.source == (home / "revstream.toml").resolve()


def test_an_explicit_config_wins_over_the_homes(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "revstream.toml").write_text('[server]\nport = 9123\n')
    other = tmp_path / "other.toml"
    other.write_text('[server]\nport = 9456\n')

    assert load_config(other, {}, home=home).server.port == 9456


def test_serve_config_is_linked_into_the_home_so_every_command_finds_it(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    served = tmp_path / "etc" / "pg.toml"
    served.parent.mkdir()
    served.write_text('[store]\ndatabase_url = "postgresql+psycopg://db.internal/revstream"\n')

    assert adopt_config(home, served) is True
    assert adopt_config(home, served) is False  # already the home's

    config = load_config(None, {}, home=home)
    assert config.store.database_url == "postgresql+psycopg://db.internal/revstream"
    assert config.source == served.resolve()
    assert os.readlink(home / "revstream.toml") == str(served.resolve())


def test_serving_another_file_moves_the_link(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    first, second = tmp_path / "first.toml", tmp_path / "second.toml"
    first.write_text("[server]\nport = 1111\n")
    second.write_text("[server]\nport = 2222\n")
    adopt_config(home, first)

    assert adopt_config(home, second) is True
    assert load_config(None, {}, home=home).server.port == 2222


def test_a_regular_config_file_in_the_home_is_never_replaced(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "revstream.toml").write_text("[server]\nport = 1111\n")
    other = tmp_path / "other.toml"
    other.write_text("[server]\nport = 2222\n")

    assert adopt_config(home, home / "revstream.toml") is False  # the file is already the home's
    with pytest.raises(ConfigError, match="another config than this server"):
        adopt_config(home, other)
    assert (home / "revstream.toml").read_text() == "[server]\nport = 1111\n"


def test_a_dangling_link_is_an_error_not_the_embedded_default(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    gone = tmp_path / "gone.toml"
    gone.write_text("")
    adopt_config(home, gone)
    gone.unlink()

    with pytest.raises(ConfigError, match="does not exist"):
        load_config(None, {}, home=home)


# Private modes --------------------------------------------------------------------------------


def test_a_new_home_is_created_0700(tmp_path):
    home = tmp_path / "deep" / "home"
    old = os.umask(0o022)
    try:
        assert prepare_home(home) == ()
    finally:
        os.umask(old)

    assert mode(home) == 0o700


def test_an_open_home_and_its_files_are_tightened_with_a_warning(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    database = home / "revstream.db"
    database.write_bytes(b"")
    os.chmod(database, 0o644)
    link = home / "revstream.toml"
    outside = tmp_path / "shared.toml"
    outside.write_text("")
    os.chmod(outside, 0o644)
    link.symlink_to(outside)

    warnings = prepare_home(home)

    assert mode(home) == 0o700 and mode(database) == 0o600
    assert mode(outside) == 0o644, "a link's target outside the home is not the home's to change"
    assert any("0755" in warning for warning in warnings) and any("revstream.db" in warning for warning in warnings)
    assert prepare_home(home) == (), "a private home raises no warning"


def test_a_home_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")

    with pytest.raises(ConfigError, match="not a directory"):
        prepare_home(tmp_path / "file")


def test_the_sqlite_database_is_created_0600_whatever_the_umask(tmp_path):
    database = tmp_path / "home" / "revstream.db"
    old = os.umask(0o022)
    try:
        assert prepare_sqlite_file(f"sqlite:///{database}") == ()
    finally:
        os.umask(old)

    assert mode(database) == 0o600


def test_an_open_database_and_its_wal_are_tightened(tmp_path):
    database = tmp_path / "revstream.db"
    for path in (database, tmp_path / "revstream.db-wal"):
        path.write_bytes(b"")
        os.chmod(path, 0o664)

    warnings = prepare_sqlite_file(f"sqlite:///{database}")

    assert mode(database) == 0o600 and mode(tmp_path / "revstream.db-wal") == 0o600
    assert len(warnings) == 2


def test_other_databases_are_left_alone(tmp_path):
    assert prepare_sqlite_file("postgresql+psycopg://db.internal/revstream") == ()
    assert prepare_sqlite_file("sqlite:///:memory:") == ()


# Private files --------------------------------------------------------------------------------


def test_write_private_file_is_0600_and_replaces_atomically(tmp_path):
    path = home_file_path(tmp_path, "log.key")
    old = os.umask(0o000)
    try:
        write_private_file(path, b"first")
        write_private_file(path, b"second")
    finally:
        os.umask(old)

    assert path.read_bytes() == b"second" and mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["log.key"], "no staged file is left behind"


def test_write_private_file_leaves_the_old_file_when_it_fails(tmp_path):
    path = tmp_path / "log.key"
    write_private_file(path, b"kept")

    with pytest.raises(TypeError):
        write_private_file(path, "not bytes")  # type: ignore[arg-type]

    assert path.read_bytes() == b"kept" and [p.name for p in tmp_path.iterdir()] == ["log.key"]


@pytest.mark.parametrize("name", ["", ".", "..", "keys/log.key", "../log.key"])
def test_home_file_path_takes_a_plain_name(tmp_path, name):
    with pytest.raises(ConfigError):
        home_file_path(tmp_path, name)


# The home of older versions ----------------------------------------------------------------------


def test_an_old_working_directory_home_is_pointed_out(tmp_path):
    (tmp_path / ".revstream").mkdir()
    (tmp_path / ".revstream" / "revstream.db").write_bytes(b"")
    home = tmp_path / "user-home"

    notice = legacy_home_notice(home, tmp_path)

    assert notice and "REVSTREAM_HOME=" in notice and str(home) in notice
    assert legacy_home_notice((tmp_path / ".revstream").resolve(), tmp_path) is None
    assert legacy_home_notice(home, tmp_path / "elsewhere") is None
