"""Configuration: one immutable `Config` value, loaded from TOML or built from defaults,
and the data directory it lives in (the home: one rule for every command, private files).

Errors: `ConfigError` for anything a person must fix in the file or the home, with the key
or the path named.
"""

from ._home import (
    adopt_config,
    check_adoptable,
    home_file_path,
    legacy_home_notice,
    prepare_home,
    prepare_sqlite_file,
    resolve_home,
    write_private_file,
)
from ._load import load_config, default_config
from ._model import (
    AgreementConfig,
    LicensorConfig,
    Config,
    ConfigError,
    CostsConfig,
    HostConfig,
    ModelConfig,
    PriceConfig,
    ServerConfig,
    StoreConfig,
    TransparencyConfig,
    LimitsConfig,
    WitnessEndpointConfig,
    EMBEDDED_MODEL_NAME,
)

__all__ = [
    "AgreementConfig",
    "Config",
    "ConfigError",
    "CostsConfig",
    "EMBEDDED_MODEL_NAME",
    "HostConfig",
    "LicensorConfig",
    "LimitsConfig",
    "ModelConfig",
    "PriceConfig",
    "ServerConfig",
    "StoreConfig",
    "TransparencyConfig",
    "WitnessEndpointConfig",
    "adopt_config",
    "check_adoptable",
    "default_config",
    "home_file_path",
    "legacy_home_notice",
    "load_config",
    "prepare_home",
    "prepare_sqlite_file",
    "resolve_home",
    "write_private_file",
]
