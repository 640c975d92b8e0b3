"""The pure check behind `revstream licence check`: served models and install facts in,
findings out, each with its severity and the clause it rests on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ._registry import Registry
from ._terms import Clause, Licence, LicenceMatch

VIOLATION, WARNING, INFO = "violation", "warning", "info"
SEVERITIES = (VIOLATION, WARNING, INFO)
# Where revstream itself shows a model's attribution ("Built with Llama").
SURFACE_MODELS_ENDPOINT, SURFACE_DASHBOARD = "models_endpoint", "dashboard"
# What the install found of a licence text (see `InstallFacts.texts`).
TEXT_INSTALLED, TEXT_MISSING, TEXT_MISMATCH = "installed", "missing", "mismatch"
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A model the install serves, with what the host declared about it."""

    name: str
    aliases: tuple[str, ...] = ()
    upstream_name: str | None = None
    weights_path: str | None = None
    weights_sha256: str | None = None
    declared_sha256: str | None = None
    declared_licence: str | None = None
    multimodal: bool = False
    derivative: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases, *((self.upstream_name,) if self.upstream_name else ()))


@dataclass(frozen=True, slots=True)
class InstallFacts:
    """What the install shows and holds: the Notice file's text (None when missing), where
    "Built with Llama" is displayed, the host's domicile (ISO 3166-1 alpha-2) and the day."""

    day: date
    notice_path: str
    notice_text: str | None
    attribution_surfaces: frozenset[str] = frozenset()
    attribution_url: str | None = None
    domicile: str | None = None
    # (text id, TEXT_INSTALLED | TEXT_MISSING | TEXT_MISMATCH, where it was looked for) of the
    # licence texts the caller looked for; a text not listed is not reported.
    texts: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str
    code: str
    message: str
    model: str | None = None
    licence_id: str | None = None
    clause: Clause | None = None

    def json(self) -> dict:
        clause = self.clause
        return {"severity": self.severity, "code": self.code, "model": self.model, "licence": self.licence_id,
                "message": self.message,
                "clause": None if clause is None else
                {"document": clause.document, "section": clause.section, "quote": clause.quote}}


def match_model(registry: Registry, model: ServedModel) -> LicenceMatch | None:
    return registry.match(model.names, model.weights_sha256 or model.declared_sha256, model.declared_licence)


def check_install(registry: Registry, models: tuple[ServedModel, ...], facts: InstallFacts) -> tuple[Finding, ...]:
    """Every finding for the served models, then for each licence in force, in that order."""
    findings: list[Finding] = []
    in_force: dict[str, Licence] = {}
    for model in models:
        match = match_model(registry, model)
        if match is None:
            findings.append(Finding(INFO, "licence_unknown", f"{model.name}: no licence in the registry matches; "
                                    "declare it in [[licence.models]] if it has one", model.name))
            continue
        in_force.setdefault(match.licence.id, match.licence)
        findings.extend(_model_findings(match, model, facts))
    for licence in in_force.values():
        findings.extend(_licence_findings(licence, facts))
    return tuple(findings)


def has_violation(findings: tuple[Finding, ...]) -> bool:
    return any(finding.severity == VIOLATION for finding in findings)


def _model_findings(match: LicenceMatch, model: ServedModel, facts: InstallFacts) -> list[Finding]:
    licence = match.licence
    findings = [Finding(INFO, "licence_in_force", f"{model.name}: {licence.name} ({match.how}: {match.evidence})",
                        model.name, licence.id)]
    if model.declared_sha256 and model.weights_sha256 and model.declared_sha256 != model.weights_sha256:
        findings.append(Finding(WARNING, "weights_differ", f"{model.name}: the weights file's SHA-256 "
                                f"{model.weights_sha256} is not the declared {model.declared_sha256}",
                                model.name, licence.id))
    rule = licence.derivative_naming
    if model.derivative and rule is not None:
        if not rule.allows(model.name):
            findings.append(Finding(VIOLATION, "derivative_name", f"{model.name}: a derivative of {licence.name} "
                                    f"must be made available under a name beginning with “{rule.prefix}”",
                                    model.name, licence.id, rule.clause))
        for alias in model.aliases:
            if not rule.allows(alias):
                findings.append(Finding(WARNING, "derivative_alias", f"{model.name}: alias {alias!r} does not "
                                        f"begin with “{rule.prefix}”", model.name, licence.id, rule.clause))
    restriction = licence.multimodal_restriction
    multimodal = model.multimodal or any(licence.is_multimodal_name(name) for name in model.names)
    if restriction is not None and multimodal:
        if facts.domicile is None:
            findings.append(Finding(WARNING, "domicile_unknown", f"{model.name}: a multimodal model under "
                                    f"{licence.name}, which grants no rights to licensees domiciled in the "
                                    f"{restriction.region}; set [licence] domicile", model.name, licence.id,
                                    restriction.clause))
        elif facts.domicile in restriction.countries:
            findings.append(Finding(VIOLATION, "multimodal_region", f"{model.name}: a multimodal model under "
                                    f"{licence.name} served by a host domiciled in {facts.domicile} "
                                    f"({restriction.region})", model.name, licence.id, restriction.clause))
    return findings


def _licence_findings(licence: Licence, facts: InstallFacts) -> list[Finding]:
    findings = []
    notice = licence.notice
    if notice is not None:
        if facts.notice_text is None:
            findings.append(Finding(VIOLATION, "notice_missing", f"no Notice file at {facts.notice_path}; it must "
                                    f"hold: {notice.text}", None, licence.id, notice.clause))
        elif _normalized(notice.text) not in _normalized(facts.notice_text):
            findings.append(Finding(VIOLATION, "notice_incomplete", f"the Notice file {facts.notice_path} lacks: "
                                    f"{notice.text}", None, licence.id, notice.clause))
    attribution = licence.attribution
    if attribution is not None:
        shown = sorted(facts.attribution_surfaces) + ([facts.attribution_url] if facts.attribution_url else [])
        if not shown:
            findings.append(Finding(VIOLATION, "attribution_missing", f"“{attribution.text}” is shown nowhere: "
                                    "not on /v1/models, not on the dashboard, no [licence] attribution_url",
                                    None, licence.id, attribution.clause))
        else:
            findings.append(Finding(INFO, "attribution_shown", f"“{attribution.text}” is shown on "
                                    f"{', '.join(shown)}", None, licence.id, attribution.clause))
    findings.extend(_text_findings(licence, facts))
    threshold = licence.threshold_at(facts.day)
    if threshold is not None:
        measured = f", measured in {threshold.measured_month}" if threshold.measured_month else ""
        findings.append(Finding(INFO, "mau_threshold", f"{licence.name}: a separate licence is needed above "
                                f"{threshold.users:,} monthly active users{measured} (this install and its "
                                "affiliates together)", None, licence.id, threshold.clause))
    return findings


def _text_findings(licence: Licence, facts: InstallFacts) -> list[Finding]:
    """A licence text that is not installed, or not the recorded one: a warning. revstream does
    not ship the Llama texts (they come with the models); the registry's clause citations stand
    without them, but the host cannot show or check the text its terms come from."""
    wanted = [licence.text_id, licence.acceptable_use.text_id if licence.acceptable_use else None]
    states = {text_id: (state, where) for text_id, state, where in facts.texts}
    findings = []
    for text_id in wanted:
        if text_id not in states:
            continue
        state, where = states[text_id]
        if state == TEXT_MISSING:
            findings.append(Finding(WARNING, "licence_text_missing", f"licence text not installed: {text_id} "
                                    f"(looked in {where}; set [licence] texts_dir to where the model's licence "
                                    "files are)", None, licence.id))
        elif state == TEXT_MISMATCH:
            findings.append(Finding(WARNING, "licence_text_mismatch", f"licence text {text_id} in {where} is not "
                                    "the text the registry records (SHA-256 differs)", None, licence.id))
    return findings


def _normalized(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def notice_lines(licences: tuple[Licence, ...]) -> str:
    """The text a Notice file must hold for these licences, one sentence a line."""
    return "".join(f"{licence.notice.text}\n" for licence in licences if licence.notice is not None)
