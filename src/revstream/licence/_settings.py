"""The `[licence]` configuration section, parsed into one immutable `LicenceSettings`.

    [licence]
    domicile = "DE"                    # ISO 3166-1 alpha-2: the host's principal place of business
    notice_path = "NOTICE"             # the install's Notice file (relative to the data directory)
    attribution_url = "https://..."    # where the host shows "Built with Llama" besides revstream's pages
    affiliates = ["acme-us", "acme-eu"]  # installs whose monthly active users count with this one's
    mau_alert_percent = [50, 80, 100]  # alerts at these percentages of the threshold in force
    mau_exact_users_max = 100000       # exact distinct count up to here, HyperLogLog above
    mau_alert_webhook = "https://..."  # optional: POSTed once per crossing, with the alert as JSON
    mau_flush_interval_s = 1.0         # how often each worker merges its new users into the store
    texts_dir = "/usr/share/llama"     # where the licence texts are (default: the package's texts/)
    classifier = "builtin"             # or "llama-guard" (needs [licence.llama_guard]), or inline:
                                       # classifier = {base_url = "...", model = "llama-guard-3-1b"};
                                       # "none": no acceptable-use screen (users are still counted)
    classifier_unavailable = "allow"   # or "refuse" (503) when the classifier cannot answer
    classify_outputs = false

    [licence.acceptable_use]           # per hazard category: log, flag or refuse
    default = "log"
    S4 = "refuse"

    [licence.llama_guard]
    base_url = "http://127.0.0.1:8080/v1"
    model = "llama-guard-3-1b"
    api_key_env = "GUARD_KEY"
    timeout_s = 5.0
    mode = "completions"               # or "chat" (the upstream applies Llama Guard's template)

    [[licence.models]]                 # what the host declares about a served model
    model = "llama-acme-8b"            # the served name (as in [[models]])
    licence = "llama3.1"
    derivative = true
    multimodal = false
    weights_sha256 = "..."

    [[licence.licences]]               # a licensor's own licence, in the registry's form

Pure: the caller hands in the parsed TOML table and the data directory.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ._errors import RegistryError, SettingsError
from ._policy import ACTIONS, AcceptableUsePolicy
from ._hazards import HAZARD_CODES
from ._registry import parse_licence
from ._terms import Licence, WeightsEntry

MAU_EXACT_USERS_MAX_DEFAULT = 100_000
MAU_ALERT_PERCENT_DEFAULT = (50, 80, 100)
MAU_FLUSH_INTERVAL_S_DEFAULT = 1.0
CLASSIFIERS = ("builtin", "llama-guard", "none")
ON_UNAVAILABLE = ("allow", "refuse")
GUARD_MODES = ("completions", "chat")
_COUNTRY = re.compile(r"[A-Z]{2}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_KEYS = {"domicile", "notice_path", "attribution_url", "affiliates", "mau_alert_percent", "mau_exact_users_max",
         "mau_alert_webhook", "mau_flush_interval_s", "texts_dir", "classifier", "classifier_unavailable",
         "classify_outputs", "acceptable_use", "llama_guard", "models", "licences"}
_GUARD_KEYS = {"base_url", "model", "api_key_env", "timeout_s", "mode"}


@dataclass(frozen=True, slots=True)
class ModelDeclaration:
    model: str
    licence_id: str | None = None
    derivative: bool = False
    multimodal: bool = False
    weights_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class LlamaGuardSettings:
    base_url: str
    model: str
    api_key_env: str | None = None
    timeout_s: float = 5.0
    mode: str = "completions"


@dataclass(frozen=True, slots=True)
class LicenceSettings:
    notice_path: Path
    domicile: str | None = None
    attribution_url: str | None = None
    affiliates: tuple[str, ...] = ()
    mau_alert_percent: tuple[int, ...] = MAU_ALERT_PERCENT_DEFAULT
    mau_exact_users_max: int = MAU_EXACT_USERS_MAX_DEFAULT
    classifier: str = "builtin"
    classify_outputs: bool = False
    acceptable_use: AcceptableUsePolicy = AcceptableUsePolicy()
    llama_guard: LlamaGuardSettings | None = None
    models: tuple[ModelDeclaration, ...] = ()
    licences: tuple[Licence, ...] = ()
    weights: tuple[WeightsEntry, ...] = ()
    # Where the licence texts are read from (None: the package's own texts/ folder).
    texts_dir: Path | None = None
    mau_alert_webhook: str | None = None
    mau_flush_interval_s: float = MAU_FLUSH_INTERVAL_S_DEFAULT
    # What a request gets when the classifier cannot answer: "allow" (counted, logged) or
    # "refuse" (503 classifier_unavailable).
    classifier_unavailable: str = "allow"

    def declaration(self, names: tuple[str, ...]) -> ModelDeclaration | None:
        return next((d for d in self.models if d.model in names), None)


def parse_licence_settings(raw: Any, home: Path) -> LicenceSettings:
    """The `[licence]` table (or {} when absent) as settings; `home` anchors relative paths."""
    if not isinstance(raw, Mapping):
        raise SettingsError("licence: expected a table")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise SettingsError(f"licence.{unknown[0]}: unknown key (known: {', '.join(sorted(_KEYS))})")
    notice = Path(_string(raw, "notice_path") or "NOTICE").expanduser()
    domicile = _string(raw, "domicile")
    if domicile is not None and not _COUNTRY.fullmatch(domicile):
        raise SettingsError(f"licence.domicile: an ISO 3166-1 alpha-2 country code in capitals, e.g. \"DE\" (got {domicile!r})")
    classifier, guard = _classifier(raw)
    try:
        licences = tuple(parse_licence(entry, f"licence.licences[{n}]") for n, entry in enumerate(_list(raw, "licences")))
    except RegistryError as error:
        raise SettingsError(str(error)) from error
    models = tuple(_model(entry, f"licence.models[{n}]") for n, entry in enumerate(_list(raw, "models")))
    texts_dir = _string(raw, "texts_dir")
    texts = Path(texts_dir).expanduser() if texts_dir else None
    unavailable = raw.get("classifier_unavailable", "allow")
    if unavailable not in ON_UNAVAILABLE:
        raise SettingsError(f"licence.classifier_unavailable: one of {', '.join(ON_UNAVAILABLE)}")
    return LicenceSettings(
        notice_path=notice if notice.is_absolute() else home / notice,
        domicile=domicile,
        attribution_url=_string(raw, "attribution_url"),
        affiliates=_strings(raw, "affiliates"),
        mau_alert_percent=_percentages(raw.get("mau_alert_percent", list(MAU_ALERT_PERCENT_DEFAULT))),
        mau_exact_users_max=_positive_int(raw, "mau_exact_users_max", MAU_EXACT_USERS_MAX_DEFAULT),
        classifier=classifier,
        classify_outputs=_bool(raw, "classify_outputs"),
        acceptable_use=_policy(raw.get("acceptable_use", {})),
        llama_guard=guard,
        models=models,
        licences=licences,
        weights=tuple(WeightsEntry(d.weights_sha256, d.licence_id, d.model)
                                for d in models if d.weights_sha256 and d.licence_id),
        texts_dir=None if texts is None else texts if texts.is_absolute() else home / texts,
        mau_alert_webhook=_url(raw, "mau_alert_webhook"),
        mau_flush_interval_s=_seconds(raw, "mau_flush_interval_s", MAU_FLUSH_INTERVAL_S_DEFAULT),
        classifier_unavailable=unavailable,
    )


def _classifier(raw: Mapping[str, Any]) -> tuple[str, LlamaGuardSettings | None]:
    """`classifier = "builtin"`, `"llama-guard"` with [licence.llama_guard], or an inline
    table of the Llama Guard upstream's keys."""
    value = raw.get("classifier", "builtin")
    if isinstance(value, Mapping):
        if "llama_guard" in raw:
            raise SettingsError("licence.classifier: an inline upstream or [licence.llama_guard], not both")
        return "llama-guard", _llama_guard(value, "licence.classifier")
    if value not in CLASSIFIERS:
        raise SettingsError(f"licence.classifier: one of {', '.join(CLASSIFIERS)}, or a table of a Llama Guard "
                            "upstream's base_url and model")
    guard = _llama_guard(raw.get("llama_guard"))
    if value == "llama-guard" and guard is None:
        raise SettingsError("licence.llama_guard: required when licence.classifier is \"llama-guard\"")
    return value, guard


def _url(raw: Mapping[str, Any], key: str) -> str | None:
    value = _string(raw, key)
    if value is not None and not value.startswith(("http://", "https://")):
        raise SettingsError(f"licence.{key}: an http:// or https:// URL")
    return value


def _seconds(raw: Mapping[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise SettingsError(f"licence.{key}: a positive number of seconds")
    return float(value)


def _model(raw: Any, where: str) -> ModelDeclaration:
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{where}: expected a table")
    known = {"model", "licence", "derivative", "multimodal", "weights_sha256"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingsError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
    model = _string(raw, "model", where)
    if model is None:
        raise SettingsError(f"{where}.model: required (the served model's name)")
    digest = _string(raw, "weights_sha256", where)
    if digest is not None and not _SHA256.fullmatch(digest.lower()):
        raise SettingsError(f"{where}.weights_sha256: 64 hexadecimal digits")
    return ModelDeclaration(model, _string(raw, "licence", where), _bool(raw, "derivative", where),
                            _bool(raw, "multimodal", where), digest.lower() if digest else None)


def _policy(raw: Any) -> AcceptableUsePolicy:
    if not isinstance(raw, Mapping):
        raise SettingsError("licence.acceptable_use: expected a table of category = \"log\" | \"flag\" | \"refuse\"")
    for key, value in raw.items():
        if key != "default" and key not in HAZARD_CODES:
            raise SettingsError(f"licence.acceptable_use.{key}: not a hazard category (default, S1..S14)")
        if value not in ACTIONS:
            raise SettingsError(f"licence.acceptable_use.{key}: one of {', '.join(ACTIONS)} (got {value!r})")
    return AcceptableUsePolicy(raw.get("default", "log"),
                               tuple(sorted((k, v) for k, v in raw.items() if k != "default")))


def _llama_guard(raw: Any, where: str = "licence.llama_guard") -> LlamaGuardSettings | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{where}: expected a table")
    unknown = sorted(set(raw) - _GUARD_KEYS)
    if unknown:
        raise SettingsError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(_GUARD_KEYS))})")
    base_url, model = _string(raw, "base_url", where), _string(raw, "model", where)
    if not base_url or not model:
        raise SettingsError(f"{where}: base_url and model are required")
    timeout = raw.get("timeout_s", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise SettingsError(f"{where}.timeout_s: a positive number of seconds")
    mode = raw.get("mode", "completions")
    if mode not in GUARD_MODES:
        raise SettingsError(f"{where}.mode: one of {', '.join(GUARD_MODES)}")
    return LlamaGuardSettings(base_url, model, _string(raw, "api_key_env", where), float(timeout), mode)


def _percentages(value: Any) -> tuple[int, ...]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1000 for v in value)):
        raise SettingsError("licence.mau_alert_percent: an array of whole percentages, e.g. [50, 80, 100]")
    return tuple(sorted(set(value)))


def _positive_int(raw: Mapping[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SettingsError(f"licence.{key}: a positive integer")
    return value


def _string(raw: Mapping[str, Any], key: str, where: str = "licence") -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise SettingsError(f"{where}.{key}: expected a non-empty string")
    return value


def _strings(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SettingsError(f"licence.{key}: expected an array of strings")
    return tuple(value)


def _bool(raw: Mapping[str, Any], key: str, where: str = "licence") -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise SettingsError(f"{where}.{key}: expected true or false")
    return value


def _list(raw: Mapping[str, Any], key: str) -> list:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise SettingsError(f"licence.{key}: expected an array of tables ([[licence.{key}]])")
    return value
