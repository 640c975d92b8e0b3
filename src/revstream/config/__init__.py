"""Configuration: one immutable `Config` value, loaded from TOML or built from defaults.

Errors: `ConfigError` for anything a person must fix in the file, with the key named.
"""

from ._load import load_config, default_config
from ._model import (
    AgreementConfig,
    LicensorConfig,
    Config,
    ConfigError,
    CostsConfig,
    ModelConfig,
    PriceConfig,
    ServerConfig,
    StoreConfig,
    TransparencyConfig,
    LimitsConfig,
    EMBEDDED_MODEL_NAME,
)

__all__ = [
    "AgreementConfig",
    "Config",
    "ConfigError",
    "CostsConfig",
    "EMBEDDED_MODEL_NAME",
    "LicensorConfig",
    "LimitsConfig",
    "ModelConfig",
    "PriceConfig",
    "ServerConfig",
    "StoreConfig",
    "TransparencyConfig",
    "default_config",
    "load_config",
]
