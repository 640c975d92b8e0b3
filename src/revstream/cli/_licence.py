"""`revstream licence check`: the served models against their licences' terms.

Reads the configured models and the `[licence]` section, hashes each local weights file
(SHA-256, streamed), reads the Notice file, and prints the findings of
`revstream.licence.check_install`. Exit 0: no violation (warnings may remain). Exit 1: at
least one violation. Exit 2: the configuration or registry is wrong.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

from ..backends import BackendUnavailable, embedded_gguf_path
from ..config import Config
from ..config._licence import licence_settings
from ..licence import (
    Finding,
    InstallFacts,
    LicenceError,
    LicenceSettings,
    ServedModel,
    check_install,
    has_violation,
    load_registry,
)
from ._output import JSON_HELP, fail, print_json, print_table

EXIT_VIOLATION, EXIT_NOT_CHECKED = 1, 2
HASH_CHUNK_BYTES = 1 << 20
NOTICE_BYTES_MAX = 1 << 20
# Where this install shows "Built with Llama" itself. The gateway's /v1/models entry and the
# dashboard do not yet (issue 15 wires them); until they do, a host names its own page in
# `[licence] attribution_url`.
ATTRIBUTION_SURFACES: frozenset[str] = frozenset()


def add_parsers(commands) -> None:
    licence = commands.add_parser("licence", help="licence compliance").add_subparsers(dest="action", required=True)
    check = licence.add_parser(
        "check", help="check the served models against their licences",
        description="Exit 0: no violation. Exit 1: a violation (the report names the clause). "
                    "Exit 2: the configuration or the licence registry is wrong.")
    check.add_argument("--no-hash", action="store_true", help="do not hash the weights files (faster; no SHA-256 match)")
    check.add_argument("--json", action="store_true", help=JSON_HELP)


def handles(args) -> bool:
    return args.command == "licence"


def install_findings(config: Config, hash_weights: bool = True) -> tuple[Finding, ...]:
    """The findings for this install (what `serve` should log as warnings at start, too)."""
    settings = licence_settings(config)
    registry = load_registry().extended(settings.licences, settings.weights)
    return check_install(registry, served_models(config, settings, hash_weights), install_facts(settings))


def run(args, config: Config) -> int:
    try:
        findings = install_findings(config, hash_weights=not args.no_hash)
    except LicenceError as error:
        return fail(f"licence: {error}", EXIT_NOT_CHECKED)
    except OSError as error:
        return fail(f"licence: {error}", EXIT_NOT_CHECKED)
    if args.json:
        print_json({"ok": not has_violation(findings), "findings": [finding.json() for finding in findings]})
    else:
        rows = [{**finding.json(), "clause": finding.clause.cite() if finding.clause else ""} for finding in findings]
        print_table(rows, ("severity", "code", "model", "licence", "message"))
        for row in rows:
            if row["severity"] != "info" and row["clause"]:
                print(f"  {row['code']}: {row['clause']}")
    return EXIT_VIOLATION if has_violation(findings) else 0


def served_models(config: Config, settings: LicenceSettings, hash_weights: bool = True) -> tuple[ServedModel, ...]:
    models = []
    for model in config.models:
        declared = settings.declaration(model.names)
        path = _weights_path(model)
        models.append(ServedModel(
            name=model.name, aliases=model.aliases, upstream_name=model.upstream_model,
            weights_path=str(path) if path else None,
            weights_sha256=file_sha256(path) if hash_weights and path and path.is_file() else None,
            declared_sha256=declared.weights_sha256 if declared else None,
            declared_licence=declared.licence_id if declared else None,
            multimodal=bool(declared and declared.multimodal), derivative=bool(declared and declared.derivative),
        ))
    return tuple(models)


def install_facts(settings: LicenceSettings) -> InstallFacts:
    notice: str | None = None
    if settings.notice_path.is_file():
        with settings.notice_path.open("rb") as handle:
            notice = handle.read(NOTICE_BYTES_MAX).decode("utf-8", errors="replace")
    return InstallFacts(day=datetime.now(timezone.utc).date(), notice_path=str(settings.notice_path),
                        notice_text=notice, attribution_surfaces=ATTRIBUTION_SURFACES,
                        attribution_url=settings.attribution_url, domicile=settings.domicile)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _weights_path(model) -> Path | None:
    if model.backend != "llamacpp" or model.path is None:
        return None
    if str(model.path) != "embedded":
        return model.path
    try:
        return embedded_gguf_path()
    except BackendUnavailable:
        return None
