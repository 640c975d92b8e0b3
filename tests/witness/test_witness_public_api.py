"""revstream.witness's public face, its error hierarchy, and a pure core free of web and storage imports."""

from __future__ import annotations

import ast
from pathlib import Path

import revstream.witness as witness

EXPECTED_ALL = {
    "ADD_CHECKPOINT_BODY_BYTES_MAX", "CONSISTENCY_PROOF_LINES_MAX", "COSIGNATURE_REQUEST_TIMEOUT_S",
    "COSIGNATURE_RESPONSE_BYTES_MAX", "LOG_VKEYS_MAX", "WITNESS_LOGS_MAX",
    "AddCheckpoint", "BadRequest", "ClientError", "ConfigError", "Conflict", "Cosigned", "Forbidden",
    "LogConfig", "LogState", "Refusal", "StateDirectory", "StateError", "UnknownLog", "Unprocessable",
    "WitnessClient", "WitnessConfig", "WitnessError", "WitnessRefused", "WitnessState", "WitnessUnreachable",
    "add_checkpoint", "create_witness_app", "format_add_checkpoint", "init_witness_key", "parse_add_checkpoint",
    "parse_witness_config", "request_cosignature", "state_from_json", "state_to_json", "witness_config",
}
PURE_MODULES = ("_core.py", "_config.py", "_state.py", "_errors.py")


def test_all_is_pinned() -> None:
    assert set(witness.__all__) == EXPECTED_ALL and len(witness.__all__) == len(EXPECTED_ALL)
    for name in witness.__all__:
        assert hasattr(witness, name), name


def test_error_hierarchy_and_statuses() -> None:
    for error in (witness.Refusal, witness.ConfigError, witness.StateError, witness.ClientError):
        assert issubclass(error, witness.WitnessError)
    for error, status in ((witness.BadRequest, 400), (witness.Forbidden, 403), (witness.UnknownLog, 404),
                          (witness.Conflict, 409), (witness.Unprocessable, 422)):
        assert issubclass(error, witness.Refusal) and error.status == status
    assert issubclass(witness.ConfigError, ValueError)
    assert issubclass(witness.WitnessRefused, witness.ClientError)
    assert issubclass(witness.WitnessUnreachable, witness.ClientError)


def test_the_core_imports_no_web_framework_storage_or_clock() -> None:
    package = Path(witness.__file__).parent
    for name in PURE_MODULES:
        tree = ast.parse((package / name).read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        for banned in ("starlette", "sqlalchemy", "store", "time", "os", "http", "anyio", "uvicorn"):
            assert not any(module == banned or module.startswith(banned + ".") or module.endswith("." + banned)
                           for module in imported), (name, banned, imported)
