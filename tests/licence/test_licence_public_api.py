"""Pins the public face of revstream.licence: a change here is a deliberate API change."""

import revstream.licence as licence


def test_public_api_is_pinned() -> None:
    assert sorted(licence.__all__) == sorted([
        "HAZARDS", "HAZARD_CODES", "HLL_ERROR_PPM", "HLL_PRECISION", "INFO", "LEAF_KIND", "LEAF_VERSION",
        "REFUSAL_CODE", "SURFACE_DASHBOARD", "SURFACE_MODELS_ENDPOINT", "VIOLATION", "WARNING",
        "AcceptableUseCounts", "AcceptableUsePolicy", "BuiltinClassifier", "Classifier", "ClassifierError", "Clause",
        "Decision", "Finding", "Hazard", "InstallFacts", "LeafError", "Licence", "LicenceError", "LicenceLeaf",
        "LicenceMatch", "LicenceSettings", "LicenceText", "LlamaGuardClassifier", "LlamaGuardSettings", "MauAlert",
        "MauCounter", "MauSnapshot", "ModelDeclaration", "Registry", "RegistryError", "ServedModel",
        "SettingsError", "SketchError", "Verdict",
        "alert_crossings", "check_install", "classifier_for", "decide", "end_user_hash", "end_user_id",
        "has_violation", "licence_leaf", "licence_statement_line", "llama_guard_prompt", "load_registry",
        "match_model", "normalize", "notice_lines", "parse_licence_leaf", "parse_licence_settings",
        "parse_llama_guard_output", "parse_registry", "read_licence_text", "refusal_error", "tally_decisions",
    ])
    for name in licence.__all__:
        assert hasattr(licence, name), name


def test_the_pure_package_imports_no_store_or_web_framework() -> None:
    source = "\n".join(path.read_text() for path in __import__("pathlib").Path(licence.__file__).parent.glob("*.py"))
    for forbidden in ("revstream.store", "from ..store", "sqlalchemy", "starlette"):
        assert forbidden not in source, forbidden
