"""Licence compliance: a licence's terms as data, the install checked against them, monthly
active users counted from keyed hashes, and acceptable use classified and decided by policy.

Pure (no store, no web framework): the registry and its texts ship in this package; the one
piece of I/O is `LlamaGuardClassifier`, which calls an upstream. Errors: see `_errors`
(`LicenceError` and its subclasses).
"""

from ._alerts import MauAlert, alert_crossings
from ._builtin import BuiltinClassifier, normalize
from ._check import (
    INFO,
    SURFACE_DASHBOARD,
    SURFACE_MODELS_ENDPOINT,
    VIOLATION,
    WARNING,
    Finding,
    InstallFacts,
    ServedModel,
    check_install,
    has_violation,
    match_model,
    notice_lines,
)
from ._classify import Classifier, classifier_for
from ._errors import ClassifierError, LeafError, LicenceError, RegistryError, SettingsError, SketchError
from ._hazards import HAZARD_CODES, HAZARDS, Hazard
from ._hll import HLL_ERROR_PPM, HLL_PRECISION
from ._leaf import (
    LEAF_KIND,
    LEAF_VERSION,
    AcceptableUseCounts,
    LicenceLeaf,
    licence_leaf,
    licence_statement_line,
    parse_licence_leaf,
    tally_decisions,
)
from ._llama_guard import LlamaGuardClassifier, llama_guard_prompt, parse_llama_guard_output
from ._mau import MauCounter, MauSnapshot, end_user_hash, end_user_id
from ._policy import REFUSAL_CODE, AcceptableUsePolicy, Decision, Verdict, decide, refusal_error
from ._registry import Registry, load_registry, parse_registry, read_licence_text
from ._settings import LicenceSettings, LlamaGuardSettings, ModelDeclaration, parse_licence_settings
from ._terms import Clause, Licence, LicenceMatch, LicenceText

__all__ = [
    "HAZARDS", "HAZARD_CODES", "HLL_ERROR_PPM", "HLL_PRECISION", "INFO", "LEAF_KIND", "LEAF_VERSION",
    "REFUSAL_CODE", "SURFACE_DASHBOARD", "SURFACE_MODELS_ENDPOINT", "VIOLATION", "WARNING",
    "AcceptableUseCounts", "AcceptableUsePolicy", "BuiltinClassifier", "Classifier", "ClassifierError", "Clause",
    "Decision", "Finding", "Hazard", "InstallFacts", "LeafError", "Licence", "LicenceError", "LicenceLeaf",
    "LicenceMatch", "LicenceSettings", "LicenceText", "LlamaGuardClassifier", "LlamaGuardSettings", "MauAlert",
    "MauCounter", "MauSnapshot", "ModelDeclaration", "Registry", "RegistryError", "ServedModel", "SettingsError",
    "SketchError", "Verdict",
    "alert_crossings", "check_install", "classifier_for", "decide", "end_user_hash", "end_user_id",
    "has_violation", "licence_leaf", "licence_statement_line", "llama_guard_prompt", "load_registry",
    "match_model", "normalize", "notice_lines", "parse_licence_leaf", "parse_licence_settings",
    "parse_llama_guard_output", "parse_registry", "read_licence_text", "refusal_error", "tally_decisions",
]
