"""The `[licence]` section of the configuration (see `revstream.licence.parse_licence_settings`
for its keys): parsed by `load_config` into `Config.licence`."""

from __future__ import annotations

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
    """The install's licence settings: `config.licence`, or the defaults for a `Config` built
    without a file (tests build them directly)."""
    return config.licence if config.licence is not None else licence_section({}, config.home)
