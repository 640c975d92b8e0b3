"""Pins the public face of revstream.licence: a change here is a deliberate API change."""

import revstream.licence as licence


def test_public_api_is_pinned() -> None:
    assert sorted(licence.__all__) == sorted([
        "ATTRIBUTION_SURFACES", "HAZARDS", "HAZARD_CODES", "HLL_ERROR_PPM", "HLL_PRECISION", "INFO", "LEAF_KIND",
        "LEAF_VERSION", "REFUSAL_CODE", "STATEMENT_SECTION", "SURFACE_DASHBOARD", "SURFACE_MODELS_ENDPOINT",
        "TEXT_INSTALLED", "TEXT_MISMATCH", "TEXT_MISSING", "VIOLATION", "WARNING",
        "AcceptableUseCounts", "AcceptableUsePolicy", "BuiltinClassifier", "Classifier", "ClassifierError", "Clause",
        "Decision", "Finding", "Hazard", "InstallFacts", "LeafError", "Licence", "LicenceError", "LicenceLeaf",
        "LicenceMatch", "LicenceSettings", "LicenceText", "LlamaGuardClassifier", "LlamaGuardSettings", "MauAlert",
        "MauBatch", "MauBuffer", "MauCounter", "MauSnapshot", "ModelDeclaration", "ModelLicence", "Registry",
        "RegistryError", "ServedModel", "SettingsError", "SketchError", "TextNotInstalled", "Verdict",
        "alert_crossings", "attribution_state", "check_install", "classifier_for", "decide", "declared_models",
        "end_user_hash", "end_user_id", "EXPORT_BYTES_MAX", "AffiliateMonth", "export_document", "mau_key_id", "read_export", "has_violation", "licence_contribution", "licence_entry",
        "licence_leaf", "licence_statement_line", "llama_guard_prompt", "load_registry", "match_model",
        "model_licences", "normalize", "notice_lines", "parse_licence_leaf",
        "parse_licence_settings", "parse_llama_guard_output", "parse_registry", "read_licence_text", "refusal_error",
        "status_report", "tally_decisions", "threshold_bps", "threshold_in_force", "users_upper_bound",
    ])
    for name in licence.__all__:
        assert hasattr(licence, name), name


def test_the_pure_package_imports_no_store_or_web_framework() -> None:
    source = "\n".join(path.read_text() for path in __import__("pathlib").Path(licence.__file__).parent.glob("*.py"))
    for forbidden in ("revstream.store", "from ..store", "sqlalchemy", "starlette"):
        assert forbidden not in source, forbidden
