"""The `[licence]` section of the configuration (see `revstream.licence.parse_licence_settings`
for its keys).

To wire it into `load_config` (issue 15): add "licence" to `TOP_LEVEL_KEYS`, a field
`licence: LicenceSettings | None = None` to `Config`, and
`licence=licence_section(raw.get("licence", {}), home)` to the `Config(...)` call. Until then
`licence_settings` reads the table from the configuration file itself.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ..licence import LicenceSettings, SettingsError, parse_licence_settings
from ._model import Config, ConfigError


def licence_section(raw: Any, home: Path) -> LicenceSettings:
    """The parsed `[licence]` table; a mistake is a `ConfigError` naming the key."""
    try:
        return parse_licence_settings(raw, home)
    except SettingsError as error:
        raise ConfigError(str(error)) from error


def licence_settings(config: Config) -> LicenceSettings:
    """The install's licence settings: `config.licence` once `load_config` carries it, else the
    `[licence]` table of the file the configuration came from (defaults without one)."""
    carried = getattr(config, "licence", None)
    if carried is not None:
        return carried
    raw: Any = {}
    if config.source is not None:
        try:
            raw = tomllib.loads(config.source.read_text(encoding="utf-8")).get("licence", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"{config.source}: cannot read [licence]: {error}") from error
    return licence_section(raw, config.home)
