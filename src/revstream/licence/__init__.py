"""Licence compliance: a licence's terms as data, the install checked against them, monthly
active users counted from keyed hashes, and acceptable use classified and decided by policy.

Pure (no store, no web framework): the registry (terms and clause citations) ships in this
package; the licence texts do not (they come with the models: `read_licence_text` reads them
from where the host keeps them and checks their SHA-256). The one piece of I/O is
`LlamaGuardClassifier`, which calls an upstream. `licence_contribution` turns a close's
`licence` leaves into the statement's `licence` section (registered in `revstream.features`).
Errors: see `_errors` (`LicenceError` and its subclasses).
"""

from ._affiliates import EXPORT_BYTES_MAX, AffiliateMonth, export_document, mau_key_id, read_export
from ._alerts import MauAlert, alert_crossings
from ._buffer import MauBatch, MauBuffer
from ._builtin import BuiltinClassifier, normalize
from ._check import (
    INFO,
    SURFACE_DASHBOARD,
    SURFACE_MODELS_ENDPOINT,
    TEXT_INSTALLED,
    TEXT_MISMATCH,
    TEXT_MISSING,
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
from ._errors import (
    ClassifierError,
    LeafError,
    LicenceError,
    RegistryError,
    SettingsError,
    SketchError,
    TextNotInstalled,
)
from ._hazards import HAZARD_CODES, HAZARDS, Hazard
from ._hll import HLL_ERROR_PPM, HLL_PRECISION
from ._leaf import (
    LEAF_KIND,
    LEAF_VERSION,
    STATEMENT_SECTION,
    AcceptableUseCounts,
    LicenceLeaf,
    licence_entry,
    licence_leaf,
    licence_statement_line,
    parse_licence_leaf,
    tally_decisions,
    threshold_bps,
    users_upper_bound,
)
from ._llama_guard import LlamaGuardClassifier, llama_guard_prompt, parse_llama_guard_output
from ._mau import MauCounter, MauSnapshot, end_user_hash, end_user_id
from ._policy import REFUSAL_CODE, AcceptableUsePolicy, Decision, Verdict, decide, refusal_error
from ._registry import Registry, load_registry, parse_registry, read_licence_text
from ._report import ATTRIBUTION_SURFACES, attribution_state, status_report
from ._served import ModelLicence, declared_models, model_licences, threshold_in_force
from ._settings import LicenceSettings, LlamaGuardSettings, ModelDeclaration, parse_licence_settings
from ._statement import licence_contribution
from ._terms import Clause, Licence, LicenceMatch, LicenceText

__all__ = [
    "EXPORT_BYTES_MAX", "AffiliateMonth", "export_document", "mau_key_id", "read_export",  # affiliates grouped
    "ATTRIBUTION_SURFACES", "HAZARDS", "HAZARD_CODES", "HLL_ERROR_PPM", "HLL_PRECISION", "INFO", "LEAF_KIND",
    "LEAF_VERSION", "REFUSAL_CODE", "STATEMENT_SECTION", "SURFACE_DASHBOARD", "SURFACE_MODELS_ENDPOINT",
    "TEXT_INSTALLED", "TEXT_MISMATCH", "TEXT_MISSING", "VIOLATION", "WARNING",
    "AcceptableUseCounts", "AcceptableUsePolicy", "BuiltinClassifier", "Classifier", "ClassifierError", "Clause",
    "Decision", "Finding", "Hazard", "InstallFacts", "LeafError", "Licence", "LicenceError", "LicenceLeaf",
    "LicenceMatch", "LicenceSettings", "LicenceText", "LlamaGuardClassifier", "LlamaGuardSettings", "MauAlert",
    "MauBatch", "MauBuffer", "MauCounter", "MauSnapshot", "ModelDeclaration", "ModelLicence", "Registry",
    "RegistryError", "ServedModel", "SettingsError", "SketchError", "TextNotInstalled", "Verdict",
    "alert_crossings", "attribution_state", "check_install", "classifier_for", "decide", "declared_models",
    "end_user_hash", "end_user_id", "has_violation", "licence_contribution", "licence_entry", "licence_leaf",
    "licence_statement_line", "llama_guard_prompt", "load_registry", "match_model", "model_licences", "normalize",
    "notice_lines", "parse_licence_leaf", "parse_licence_settings", "parse_llama_guard_output", "parse_registry",
    "read_licence_text", "refusal_error", "status_report", "tally_decisions", "threshold_bps", "threshold_in_force",
    "users_upper_bound",
]
