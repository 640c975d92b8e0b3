"""The licence registry: parsed from `registry.toml` (shipped in this package) or from tables of
the same form in the configuration (a licensor's own licence), and matched to served models.

`parse_registry` and `parse_licence` are pure; `load_registry` and `read_licence_text` read the
package's own data files.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from ._errors import RegistryError, TextNotInstalled
from ._hazards import HAZARD_CODES
from ._terms import (
    REGIONS,
    AcceptableUse,
    Attribution,
    AupCategory,
    Clause,
    Licence,
    LicenceMatch,
    LicenceText,
    MauThreshold,
    MultimodalRestriction,
    NamingRule,
    Notice,
    WeightsEntry,
)

REGISTRY_FILE = "registry.toml"
TEXTS_DIR = "texts"
SCHEMA_VERSION = 1

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class Registry:
    licences: tuple[Licence, ...]
    texts: tuple[LicenceText, ...] = ()
    weights: tuple[WeightsEntry, ...] = ()

    def licence(self, licence_id: str) -> Licence:
        for licence in self.licences:
            if licence.id == licence_id:
                return licence
        raise RegistryError(f"unknown licence {licence_id!r} (known: {', '.join(l.id for l in self.licences)})")

    def text(self, text_id: str) -> LicenceText:
        for text in self.texts:
            if text.id == text_id:
                return text
        raise RegistryError(f"unknown licence text {text_id!r}")

    def extended(self, licences: tuple[Licence, ...], weights: tuple[WeightsEntry, ...]) -> "Registry":
        """This registry plus licences and weights declared elsewhere (the configuration)."""
        known = {licence.id for licence in self.licences}
        for licence in licences:
            if licence.id in known:
                raise RegistryError(f"licence {licence.id!r} is declared twice")
            known.add(licence.id)
        merged = replace(self, licences=self.licences + licences, weights=self.weights + weights)
        for entry in weights:
            merged.licence(entry.licence_id)
        return merged

    def match(self, names: tuple[str, ...], weights_sha256: str | None = None,
              declared: str | None = None) -> LicenceMatch | None:
        """The licence of a served model: a declaration wins, then the weights' SHA-256, then
        the first name (public name, aliases, upstream name) that matches a licence's pattern."""
        if declared is not None:
            return LicenceMatch(self.licence(declared), "declared", declared)
        if weights_sha256 is not None:
            for entry in self.weights:
                if entry.sha256 == weights_sha256.lower():
                    return LicenceMatch(self.licence(entry.licence_id), "weights_sha256", entry.sha256)
        for name in names:
            for licence in self.licences:
                pattern = licence.matches_name(name)
                if pattern is not None:
                    return LicenceMatch(licence, "name_pattern", pattern)
        return None


def load_registry() -> Registry:
    """The registry shipped with revstream."""
    source = resources.files(__package__).joinpath(REGISTRY_FILE)
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise RegistryError(f"{REGISTRY_FILE}: invalid TOML: {error}") from error
    return parse_registry(raw)


def read_licence_text(text: LicenceText, texts_dir: Path | None = None) -> str:
    """A licence text, read from `texts_dir` (default: the package's `texts/` folder) and
    checked against its recorded SHA-256. revstream does not ship the Llama texts (they come
    with the models): `TextNotInstalled` says the file is not there, a plain `RegistryError`
    that a file is there but is not the recorded text."""
    if texts_dir is None:
        path = resources.files(__package__).joinpath(TEXTS_DIR)
        where = f"the package's {TEXTS_DIR}/"
    else:
        path, where = texts_dir, str(texts_dir)
    for part in text.path.split("/"):
        path = path.joinpath(part)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError) as error:
        raise TextNotInstalled(f"licence text {text.id} is not installed: no {text.path} in {where}") from error
    except OSError as error:
        raise TextNotInstalled(f"licence text {text.id} cannot be read at {text.path} in {where}: "
                               f"{error.strerror}") from error
    digest = hashlib.sha256(data).hexdigest()
    if digest != text.sha256:
        raise RegistryError(f"licence text {text.id}: SHA-256 {digest} is not the recorded {text.sha256}")
    return data.decode("utf-8")


def parse_registry(raw: Mapping[str, Any]) -> Registry:
    _keys(raw, "registry", {"schema_version", "texts", "aup_categories", "licences", "weights"})
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise RegistryError(f"schema_version: expected {SCHEMA_VERSION}, got {raw.get('schema_version')!r}")
    texts = tuple(_text(text_id, entry) for text_id, entry in _table(raw, "texts", "registry").items())
    categories = [_aup_category(entry, f"aup_categories[{n}]") for n, entry in enumerate(_array(raw, "aup_categories"))]
    text_ids = {text.id for text in texts}
    licences = tuple(parse_licence(entry, f"licences[{n}]", text_ids, tuple(categories))
                     for n, entry in enumerate(_array(raw, "licences")))
    registry = Registry(licences=(), texts=texts).extended(licences, ())
    return registry.extended((), parse_weights(raw.get("weights", []), "weights"))


def parse_weights(entries: Any, where: str) -> tuple[WeightsEntry, ...]:
    if not isinstance(entries, list):
        raise RegistryError(f"{where}: expected an array of tables")
    weights = []
    for n, entry in enumerate(entries):
        at = f"{where}[{n}]"
        _keys(entry, at, {"sha256", "licence", "description"})
        weights.append(WeightsEntry(_sha256(entry, "sha256", at), _string(entry, "licence", at),
                                    _string(entry, "description", at, "")))
    return tuple(weights)


def parse_licence(raw: Any, where: str, text_ids: frozenset[str] | set[str] = frozenset(),
                  categories: tuple[tuple[tuple[str, ...], AupCategory], ...] = ()) -> Licence:
    """One licence table (the registry's or a licensor's own from the configuration)."""
    _keys(raw, where, {"id", "name", "licensor", "version", "release_date", "release_clause", "licence_text",
                       "agreement_copy", "attribution", "notice", "derivative_naming", "mau_thresholds",
                       "acceptable_use", "multimodal_restriction", "model_patterns", "multimodal_patterns"})
    licence_id = _string(raw, "id", where)
    if not _ID.fullmatch(licence_id):
        raise RegistryError(f"{where}.id: lower-case letters, digits, '.', '_' or '-' (got {licence_id!r})")
    text_id = raw.get("licence_text")
    if text_id is not None and text_id not in text_ids:
        raise RegistryError(f"{where}.licence_text: unknown text {text_id!r}")
    version = _string(raw, "version", where)
    return Licence(
        id=licence_id, name=_string(raw, "name", where), licensor=_string(raw, "licensor", where), version=version,
        release_date=_date(raw, "release_date", where) if "release_date" in raw else None,
        release_clause=_optional(raw, "release_clause", where, _clause),
        text_id=text_id,
        agreement_copy=_optional(raw, "agreement_copy", where, _clause),
        attribution=_optional(raw, "attribution", where, lambda v, at: Attribution(*_text_and_clause(v, at))),
        notice=_optional(raw, "notice", where, lambda v, at: Notice(*_text_and_clause(v, at))),
        derivative_naming=_optional(raw, "derivative_naming", where, _naming),
        mau_thresholds=tuple(_threshold(entry, f"{where}.mau_thresholds[{n}]")
                             for n, entry in enumerate(raw.get("mau_thresholds", []))),
        acceptable_use=_optional(raw, "acceptable_use", where,
                                 lambda v, at: _acceptable_use(v, at, text_ids, categories)),
        multimodal_restriction=_optional(raw, "multimodal_restriction", where, _restriction),
        model_patterns=_strings(raw, "model_patterns", where),
        multimodal_patterns=_strings(raw, "multimodal_patterns", where),
    )


def _text(text_id: str, raw: Any) -> LicenceText:
    where = f"texts.{text_id}"
    _keys(raw, where, {"path", "source", "sha256"})
    path = _string(raw, "path", where)
    if path.startswith("/") or ".." in path.split("/"):
        raise RegistryError(f"{where}.path: a relative path inside texts/")
    return LicenceText(text_id, path, _string(raw, "source", where), _sha256(raw, "sha256", where))


def _aup_category(raw: Any, where: str) -> tuple[tuple[str, ...], AupCategory]:
    _keys(raw, where, {"id", "quote", "policies", "hazards"})
    hazards = _strings(raw, "hazards", where)
    unknown = sorted(set(hazards) - set(HAZARD_CODES))
    if unknown:
        raise RegistryError(f"{where}.hazards: unknown hazard {unknown[0]!r} (S1..S14)")
    category = AupCategory(_string(raw, "id", where), _string(raw, "quote", where), hazards)
    return _strings(raw, "policies", where), category


def _acceptable_use(raw: Any, where: str, text_ids, categories) -> AcceptableUse:
    _keys(raw, where, {"version", "text", "url", "clause"})
    version = _string(raw, "version", where)
    text_id = raw.get("text")
    if text_id is not None and text_id not in text_ids:
        raise RegistryError(f"{where}.text: unknown text {text_id!r}")
    chosen = tuple(category for policies, category in categories if version in policies)
    return AcceptableUse(version, _string(raw, "url", where, ""), text_id, _clause(raw.get("clause"), f"{where}.clause"),
                         chosen)


def _clause(raw: Any, where: str) -> Clause:
    _keys(raw, where, {"document", "section", "quote"})
    return Clause(_string(raw, "document", where), _string(raw, "section", where), _string(raw, "quote", where, ""))


def _text_and_clause(raw: Any, where: str) -> tuple[str, Clause]:
    _keys(raw, where, {"text", "clause"})
    return _string(raw, "text", where), _clause(raw.get("clause"), f"{where}.clause")


def _naming(raw: Any, where: str) -> NamingRule:
    _keys(raw, where, {"prefix", "clause"})
    return NamingRule(_string(raw, "prefix", where), _clause(raw.get("clause"), f"{where}.clause"))


def _threshold(raw: Any, where: str) -> MauThreshold:
    _keys(raw, where, {"users", "from", "measured_month", "clause"})
    users = raw.get("users")
    if isinstance(users, bool) or not isinstance(users, int) or users <= 0:
        raise RegistryError(f"{where}.users: a positive integer")
    month = raw.get("measured_month")
    if month is not None and (not isinstance(month, str) or not _MONTH.fullmatch(month)):
        raise RegistryError(f"{where}.measured_month: a month as YYYY-MM")
    return MauThreshold(users, _date(raw, "from", where), month, _clause(raw.get("clause"), f"{where}.clause"))


def _restriction(raw: Any, where: str) -> MultimodalRestriction:
    _keys(raw, where, {"region", "clause"})
    region = _string(raw, "region", where)
    if region not in REGIONS:
        raise RegistryError(f"{where}.region: one of {', '.join(sorted(REGIONS))}")
    return MultimodalRestriction(region, REGIONS[region], _clause(raw.get("clause"), f"{where}.clause"))


def _optional(raw: Mapping[str, Any], key: str, where: str, parse):
    return parse(raw[key], f"{where}.{key}") if key in raw else None


def _keys(raw: Any, where: str, known: set[str]) -> None:
    if not isinstance(raw, Mapping):
        raise RegistryError(f"{where}: expected a table")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RegistryError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")


def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise RegistryError(f"{where}.{key}: expected a table")
    return value


def _array(raw: Mapping[str, Any], key: str) -> list:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise RegistryError(f"{key}: expected an array of tables")
    return value


def _string(raw: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    if key not in raw:
        if default is None:
            raise RegistryError(f"{where}.{key}: required")
        return default
    value = raw[key]
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise RegistryError(f"{where}.{key}: expected a non-empty string")
    return value


def _strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RegistryError(f"{where}.{key}: expected an array of strings")
    return tuple(value)


def _date(raw: Mapping[str, Any], key: str, where: str) -> date:
    value = raw.get(key)
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise RegistryError(f"{where}.{key}: a date (YYYY-MM-DD)")


def _sha256(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = _string(raw, key, where).lower()
    if not _SHA256_HEX.fullmatch(value):
        raise RegistryError(f"{where}.{key}: 64 hexadecimal digits")
    return value
