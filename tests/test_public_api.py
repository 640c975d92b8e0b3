"""Each package's public face is a short, pinned list (as httpx pins its own)."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "revstream.config": {
        "AgreementConfig", "Config", "ConfigError", "CostsConfig", "EMBEDDED_MODEL_NAME", "HostConfig", "LicensorConfig", "LimitsConfig", "ModelConfig",
        "PriceConfig", "ServerConfig",
        "StoreConfig", "TransparencyConfig", "WitnessEndpointConfig", "default_config", "load_config",
        "adopt_config", "check_adoptable", "home_file_path", "legacy_home_notice", "prepare_home", "prepare_sqlite_file", "resolve_home",
        "write_private_file",
    },
    "revstream.keys": {
        "ADMIN_TOKEN_PREFIX", "KEY_PREFIX", "LICENSOR_TOKEN_PREFIX", "hash_secret", "key_hint", "new_admin_token",
        "new_api_key", "new_id", "new_licensor_token", "secrets_equal",
    },
    "revstream.metering": {
        "FINAL_STATUSES", "STATUS_ABORTED", "STATUS_ERROR", "STATUS_INTERRUPTED", "STATUS_OK", "STATUS_PENDING",
        "FinalUsage", "PendingUsage", "UsageRecord", "UsageStatus", "balance_json", "parse_time_us", "rfc3339", "usage_json",
    },
    "revstream.gateway": {"ApiError", "AppState", "app_from_environment", "create_app"},
    "revstream.dashboard": {
        "STATEMENT_COLUMNS", "DashboardError", "dashboard_routes", "statement_csv", "statement_markdown", "statement_rows",
    },
    "revstream.audit": {
        "AuditError", "Check", "HostError", "Report", "TransparencyClient", "verify_statement",
        # issue 17: witnesses, tiles, the licensor console
        "FAILED", "UNCHECKED", "VERIFIED", "ConsoleHost", "ConsoleReport", "CurrencyTotal", "HostPeriod", "Missing",
        "StatementFigures", "StatementOutcome", "SyncRecord", "TileClient", "WitnessPending", "console_report",
        "host_json", "outcome_json", "periods_of", "report_json", "statement_figures",
    },
    "revstream.cli": {"main"},
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_public_names_are_pinned(module_name):
    module = importlib.import_module(module_name)
    assert set(module.__all__) == PUBLIC[module_name]
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name} is exported but missing"


@pytest.mark.parametrize("module_name", ["revstream.backends", "revstream.store"])
def test_exports_resolve(module_name):
    module = importlib.import_module(module_name)
    assert module.__all__ and all(hasattr(module, name) for name in module.__all__)
