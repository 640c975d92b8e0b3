"""The data directory ("home"): where it is, which config file is in force, private files.

One rule for every command, `serve` included, so a key created by the CLI lands in the
store the server reads:

    home   = --home DIR, else $REVSTREAM_HOME, else $XDG_DATA_HOME/revstream,
             else ~/.local/share/revstream (never the working directory)
    config = --config FILE, else HOME/revstream.toml if it exists, else the embedded default

`revstream serve --config FILE` makes FILE the home's config: HOME/revstream.toml becomes a
symbolic link to FILE's absolute path (`adopt_config`), so every later command on that
home, from any directory, uses the server's config and so the server's store.

Everything in the home is private to its owner: the home is 0700 (tightened, with a
warning, when an existing one is looser) and every file revstream writes there is 0600.
`write_private_file` writes one atomically. Errors are `ConfigError` (see `_model`).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Mapping

from ._model import ConfigError

HOME_ENV = "REVSTREAM_HOME"
HOME_DIR_NAME = "revstream"
CONFIG_FILE_NAME = "revstream.toml"
DATABASE_FILE_NAME = "revstream.db"
HOME_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")
LEGACY_HOME_NAME = ".revstream"  # where revstream kept its data before: the working directory


def resolve_home(explicit: str | Path | None, environ: Mapping[str, str]) -> Path:
    """The home's absolute path: `explicit` (--home), $REVSTREAM_HOME, or the per-user
    default from the XDG base directory rules. Reads nothing from the disk."""
    raw = explicit or environ.get(HOME_ENV)
    if raw:
        return Path(raw).expanduser().resolve()
    data_home = environ.get("XDG_DATA_HOME", "")
    if data_home and Path(data_home).is_absolute():  # the XDG spec ignores a relative value
        return Path(data_home).resolve() / HOME_DIR_NAME
    user_home = environ.get("HOME") or str(Path.home())
    return Path(user_home).resolve() / ".local" / "share" / HOME_DIR_NAME


def default_database_url(home: Path) -> str:
    return f"sqlite:///{home / DATABASE_FILE_NAME}"


def home_config_path(home: Path) -> Path:
    """Where the home's config lives (a file, or a link to the file `serve` was given)."""
    return home / CONFIG_FILE_NAME


def find_config(home: Path, explicit: str | Path | None) -> Path | None:
    """The config file in force: `explicit`, else the home's, else None (the embedded default).
    A dangling link in the home is an error, never a silent fall back to the default."""
    if explicit is not None:
        return Path(explicit)
    path = home_config_path(home)
    if path.is_symlink() and not path.exists():
        raise ConfigError(f"{path} links to {os.readlink(path)}, which does not exist: restore that file, or run "
                          f"`revstream --home {home} serve --config FILE` to make another file this home's config")
    return path if path.exists() else None


def check_adoptable(home: Path, source: Path) -> bool:
    """Whether `adopt_config` would change the home (True) or find `source` already there
    (False). A regular file there that is not `source` is refused (ConfigError): the CLI
    would otherwise read another config than the server. Changes nothing."""
    target = source.resolve()
    link = home_config_path(home)
    if link.exists() and link.resolve() == target:
        return False
    if link.exists() and not link.is_symlink():
        raise ConfigError(f"{link} is this home's config, and it is not {target}: commands run on this home would "
                          f"use another config than this server. Remove or edit {link}, or choose another --home")
    return True


def adopt_config(home: Path, source: Path) -> bool:
    """Make `source` the home's config (for `serve --config`): link HOME/revstream.toml to it.

    True if the link was made or changed; refused as `check_adoptable` says."""
    if not check_adoptable(home, source):
        return False
    target = source.resolve()
    link = home_config_path(home)
    staged = link.with_name(f".{CONFIG_FILE_NAME}.{os.getpid()}.link")
    staged.unlink(missing_ok=True)
    os.symlink(target, staged)
    os.replace(staged, link)  # atomic: a reader sees the old link or the new one
    return True


def prepare_home(home: Path) -> tuple[str, ...]:
    """Create the home 0700, or tighten an existing one and the files in it (0600).

    Returns a warning for each thing that was readable by other users."""
    warnings = []
    try:
        if not home.exists():
            home.mkdir(parents=True, mode=HOME_DIR_MODE)
            os.chmod(home, HOME_DIR_MODE)  # mkdir's mode is filtered by the umask
            return ()
        if not home.is_dir():
            raise ConfigError(f"the home {home} is not a directory")
        mode = stat.S_IMODE(home.stat().st_mode)
        if mode & 0o077:
            os.chmod(home, HOME_DIR_MODE)
            warnings.append(f"the home {home} was open to other users (mode {mode:04o}); it is now {HOME_DIR_MODE:04o}")
        loose = []
        for entry in home.iterdir():
            info = entry.lstat()
            if stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077:
                os.chmod(entry, PRIVATE_FILE_MODE)
                loose.append(entry.name)
        if loose:
            warnings.append(f"files in {home} were readable by other users; now {PRIVATE_FILE_MODE:04o}: {', '.join(sorted(loose))}")
    except OSError as error:
        raise ConfigError(f"the home {home} cannot be prepared: {error}") from error
    return tuple(warnings)


def sqlite_database_path(database_url: str) -> Path | None:
    """The file of a SQLite URL (``sqlite:///relative`` or ``sqlite:////absolute``), else None."""
    scheme, separator, rest = database_url.partition(":///")
    if not separator or scheme.split("+")[0] != "sqlite":
        return None
    path = rest.split("?")[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def prepare_sqlite_file(database_url: str) -> tuple[str, ...]:
    """Create a SQLite database file 0600 before SQLite does (it would follow the umask);
    SQLite gives its -wal and -shm files the database file's mode. An existing file that is
    readable by others is tightened, with a warning."""
    path = sqlite_database_path(database_url)
    if path is None:
        return ()
    warnings = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE))
            return ()
        except FileExistsError:
            pass
        for candidate in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANION_SUFFIXES)):
            if candidate.is_file() and stat.S_IMODE(candidate.stat().st_mode) & 0o077:
                os.chmod(candidate, PRIVATE_FILE_MODE)
                warnings.append(f"{candidate} was readable by other users; it is now {PRIVATE_FILE_MODE:04o}")
    except OSError as error:
        raise ConfigError(f"the database file {path} cannot be prepared: {error}") from error
    return tuple(warnings)


def legacy_home_notice(home: Path, working_directory: Path) -> str | None:
    """A notice when the working directory holds a data directory of an older revstream
    (`./.revstream`) that is not the home in force: its data is not used any more."""
    legacy = working_directory / LEGACY_HOME_NAME
    if (legacy / DATABASE_FILE_NAME).is_file() and legacy.resolve() != home:
        return (f"{legacy} holds data of an older revstream, which kept its home in the working directory; the home "
                f"is now {home}. To keep using the old one: export {HOME_ENV}={legacy.resolve()}")
    return None


def home_file_path(home: Path, name: str) -> Path:
    """The path of the file `name` directly inside the home (a plain name: no directory part)."""
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise ConfigError(f"{name!r} is not a plain file name")
    return home / name


def write_private_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically with mode 0600: a reader sees the old file or the
    new one, never a part, and no other user can read it at any moment."""
    path = Path(path)
    descriptor, staged = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # 0600
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(staged, PRIVATE_FILE_MODE)
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)
