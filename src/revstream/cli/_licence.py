"""`revstream licence check` and `revstream licence status`.

`check`: the served models against their licences' terms. Reads the configured models and the
`[licence]` section, hashes each local weights file (SHA-256, streamed), reads the Notice file
and the licence texts (from `[licence] texts_dir`; a text not installed is a warning, never a
crash), and prints the findings of `revstream.licence.check_install`. Exit 0: no violation
(warnings may remain). Exit 1: at least one violation. Exit 2: the configuration or registry is
wrong. `serve` logs the same findings (without hashing) as warnings at start.

`status`: where the host stands: monthly active users by month against the threshold (from the
store, every worker and replica merged), acceptable-use counts by category, the attribution.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ..backends import BackendUnavailable, embedded_gguf_path
from ..config import Config, write_private_file
from ..config._licence import licence_settings
from ..licence import (
    ATTRIBUTION_SURFACES as SHOWN_ON,
    INFO,
    TEXT_INSTALLED,
    TEXT_MISMATCH,
    TEXT_MISSING,
    Finding,
    InstallFacts,
    LicenceError,
    EXPORT_BYTES_MAX,
    LicenceSettings,
    MauCounter,
    Registry,
    RegistryError,
    ServedModel,
    SketchError,
    TextNotInstalled,
    check_install,
    declared_models,
    export_document,
    has_violation,
    load_registry,
    mau_key_id,
    model_licences,
    read_export,
    read_licence_text,
    status_report,
    threshold_in_force,
)
from ..store import MonthClosed, import_affiliate_month, licence_secret, licence_status, mau_month_state
from ._output import JSON_HELP, fail, print_json, print_table

EXIT_VIOLATION, EXIT_NOT_CHECKED = 1, 2
HASH_CHUNK_BYTES = 1 << 20
NOTICE_BYTES_MAX = 1 << 20
# Where this install shows a licence's attribution ("Built with Llama") itself: every
# `/v1/models` entry of a model whose licence asks for one, and the dashboard's footer.
ATTRIBUTION_SURFACES: frozenset[str] = frozenset(SHOWN_ON)


def add_parsers(commands) -> None:
    licence = commands.add_parser("licence", help="licence compliance").add_subparsers(dest="action", required=True)
    check = licence.add_parser(
        "check", help="check the served models against their licences",
        description="Exit 0: no violation. Exit 1: a violation (the report names the clause). "
                    "Exit 2: the configuration or the licence registry is wrong.")
    check.add_argument("--no-hash", action="store_true", help="do not hash the weights files (faster; no SHA-256 match)")
    check.add_argument("--json", action="store_true", help=JSON_HELP)
    status = licence.add_parser(
        "status", help="monthly active users against the threshold, acceptable use, attribution",
        description="Monthly active users by calendar month (UTC) against the licence threshold, merged from "
                    "every worker and replica; acceptable-use counts by hazard category; where the attribution "
                    "is shown. A closed month also shows the figures its `licence` log leaf froze.")
    status.add_argument("--json", action="store_true", help=JSON_HELP)
    export = licence.add_parser(
        "export-mau", help="write a month's monthly active users for an affiliate to import",
        description="Writes this install's count of one month (keyed hashes of end users, or their sketch; never an "
                    "end user's id) as a file the install that reports for the group imports with `licence "
                    "import-mau`. Users common to both installs count once only if both hash with the same key: "
                    "copy the key file mau.secret to every affiliate.")
    export.add_argument("--month", required=True, help="the calendar month, YYYY-MM (UTC)")
    export.add_argument("--as", dest="affiliate", required=True, metavar="NAME",
                        help="this install's name, as the importer lists it in [licence] affiliates")
    export.add_argument("--output", "-o", metavar="FILE", help="write the file here (default: standard output)")
    imported = licence.add_parser(
        "import-mau", help="merge an affiliate's exported month into this install's monthly active users",
        description="Merges the month of FILE (from `licence export-mau` on an affiliate's install) into this "
                    "install's month: a union, so importing the same or a newer file again never counts anyone "
                    "twice. The affiliate must be listed in [licence] affiliates, and the month must not be closed "
                    "yet (its licence leaf is frozen at the period's close). Exit 1: refused; 2: a bad file.")
    imported.add_argument("file", help="the exported month (JSON)")
    imported.add_argument("--json", action="store_true", help=JSON_HELP)


def handles(args) -> bool:
    return args.command == "licence"


def needs_store(args) -> bool:
    """`licence status`, `export-mau` and `import-mau` use the store; `licence check` reads files only."""
    return args.command == "licence" and args.action in ("status", "export-mau", "import-mau")


def install_findings(config: Config, hash_weights: bool = True) -> tuple[Finding, ...]:
    """The findings for this install (`serve` logs them as warnings at start, without hashing)."""
    settings = licence_settings(config)
    registry = load_registry().extended(settings.licences, settings.weights)
    return check_install(registry, served_models(config, settings, hash_weights), install_facts(settings, registry))


def start_warnings(config: Config) -> list[str]:
    """What `serve` prints at start: every finding that is not information, one line each."""
    try:
        findings = install_findings(config, hash_weights=False)
    except (LicenceError, OSError) as error:
        return [f"the licence check could not run: {error}"]
    return [f"{f.severity}: {f.code}: {f.message}" + (f" ({f.clause.cite()})" if f.clause else "")
            for f in findings if f.severity != INFO]


def run(args, config: Config, engine=None) -> int:
    if args.action == "status":
        return _status(args, config, engine)
    if args.action == "export-mau":
        return _export_mau(args, engine)
    if args.action == "import-mau":
        return _import_mau(args, config, engine)
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


def install_facts(settings: LicenceSettings, registry: Registry | None = None) -> InstallFacts:
    notice: str | None = None
    if settings.notice_path.is_file():
        with settings.notice_path.open("rb") as handle:
            notice = handle.read(NOTICE_BYTES_MAX).decode("utf-8", errors="replace")
    return InstallFacts(day=datetime.now(timezone.utc).date(), notice_path=str(settings.notice_path),
                        notice_text=notice, attribution_surfaces=ATTRIBUTION_SURFACES,
                        attribution_url=settings.attribution_url, domicile=settings.domicile,
                        texts=text_states(registry, settings.texts_dir) if registry is not None else ())


def text_states(registry: Registry, texts_dir: Path | None) -> tuple[tuple[str, str, str], ...]:
    """Whether each licence text of the registry is installed (and is the recorded text)."""
    where = str(texts_dir) if texts_dir is not None else "the package's texts/ folder"
    states = []
    for text in registry.texts:
        try:
            read_licence_text(text, texts_dir)
            state = TEXT_INSTALLED
        except TextNotInstalled:
            state = TEXT_MISSING
        except RegistryError:
            state = TEXT_MISMATCH
        states.append((text.id, state, where))
    return tuple(states)


def status_value(config: Config, months) -> dict:
    """The status report of this install for the months read from the store."""
    settings = licence_settings(config)
    registry = load_registry().extended(settings.licences, settings.weights)
    models = model_licences(registry, declared_models(config.models, settings))
    threshold = threshold_in_force(registry, (m.licence_id for m in models.values()), datetime.now(timezone.utc).date())
    return status_report(months, threshold, models, settings.attribution_url)


def _status(args, config: Config, engine) -> int:
    try:
        report = status_value(config, licence_status(engine))
    except LicenceError as error:
        return fail(f"licence: {error}", EXIT_NOT_CHECKED)
    if args.json:
        print_json(report)
        return 0
    threshold = report["threshold"]
    print("threshold: " + (f"{threshold['users']:,} monthly active users ({threshold['licence']})" if threshold
                           else "none (no served model's licence has one)"))
    rows = [{"month": m["month"], "users": f"{m['users']:,}", "method": m["method"],
             "error": f"±{m['error_ppm'] / 10_000:.4f}%" if m["error_ppm"] else "exact",
             "threshold": "" if m["threshold_bps"] is None else f"{m['threshold_bps'] / 100:.2f}%",
             "alerts": ",".join(f"{p}%" for p in m["alerts_percent"]),
             "classified": m["acceptable_use"]["classified"], "flagged": m["acceptable_use"]["flagged"],
             "refused": m["acceptable_use"]["refused"],
             "closed": "" if m["closed"] is None else f"leaf {m['closed']['log_index']}"} for m in report["months"]]
    print_table(rows, ("month", "users", "method", "error", "threshold", "alerts", "classified", "flagged",
                       "refused", "closed"))
    for month in report["months"]:
        categories = month["acceptable_use"]["by_category"]
        found = [f"{c['category']} {c['name']}: {c['count']}" for c in categories if c["count"]]
        if found:
            print(f"{month['month']} acceptable use: " + "; ".join(found))
    for attribution in report["attribution"]:
        print(f"attribution “{attribution['text']}” ({attribution['licence']}: {', '.join(attribution['models'])}) "
              f"shown on {', '.join(attribution['shown_on'])}")
    return 0


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


def _export_mau(args, engine) -> int:
    try:
        document = export_document(args.affiliate, mau_key_id(licence_secret(engine)),
                                   mau_month_state(engine, MauCounter(args.month).month))
    except SketchError as error:
        return fail(f"licence export-mau: {error}", EXIT_NOT_CHECKED)
    text = json.dumps(document, sort_keys=True) + "\n"
    if args.output:
        write_private_file(Path(args.output), text.encode("utf-8"))
        print(f"{document['month']}: {document['users']:,} users ({document['method']}) written to {args.output}",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _import_mau(args, config: Config, engine) -> int:
    settings = licence_settings(config)
    try:
        with open(args.file, "rb") as handle:
            data = handle.read(EXPORT_BYTES_MAX + 1)
        imported = read_export(data, settings.mau_exact_users_max)
    except OSError as error:
        return fail(f"licence import-mau: {error}", EXIT_NOT_CHECKED)
    except SketchError as error:
        return fail(f"licence import-mau: {args.file}: {error}", EXIT_NOT_CHECKED)
    if imported.affiliate not in settings.affiliates:
        return fail(f"licence import-mau: {imported.affiliate!r} is not an affiliate of this install: list it in "
                    f"[licence] affiliates (now: {', '.join(settings.affiliates) or 'none'})", EXIT_VIOLATION)
    try:
        merged, record = import_affiliate_month(engine, imported, mau_key_id(licence_secret(engine)),
                                                settings.mau_exact_users_max, time.time_ns() // 1000)
    except MonthClosed as error:
        return fail(f"licence import-mau: {error}", EXIT_VIOLATION)
    result = {"month": record.month, "affiliate": record.affiliate, "affiliate_users": record.users,
              "same_key": record.same_key, "group_users": merged.users, "group_method": merged.method}
    if args.json:
        print_json(result)
        return 0
    print(f"{record.month}: {record.affiliate} brought {record.users:,} users; the group counts {merged.users:,} "
          f"({merged.method})")
    if not record.same_key:
        print("warning: the affiliate hashes end users with another key: users of both installs are counted "
              "twice (an overcount, never under). Copy the key file mau.secret to every affiliate.", file=sys.stderr)
    return 0
