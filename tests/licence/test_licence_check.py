"""`check_install`: each case the licences name, with its severity and its clause."""

from __future__ import annotations

from datetime import date

import pytest

from revstream.licence import (
    INFO,
    SURFACE_DASHBOARD,
    SURFACE_MODELS_ENDPOINT,
    VIOLATION,
    WARNING,
    InstallFacts,
    ServedModel,
    check_install,
    has_violation,
    notice_lines,
)

NOTICE_31 = "Llama 3.1 is licensed under the Llama 3.1 Community License, Copyright © Meta Platforms, Inc. All Rights Reserved."


def facts(**changes) -> InstallFacts:
    values = dict(day=date(2025, 6, 1), notice_path="/srv/NOTICE", notice_text=NOTICE_31 + "\n",
                  attribution_surfaces=frozenset({SURFACE_MODELS_ENDPOINT, SURFACE_DASHBOARD}), domicile="US")
    return InstallFacts(**{**values, **changes})


def codes(findings, severity=None):
    return [f.code for f in findings if severity is None or f.severity == severity]


def test_a_compliant_llama_install_has_no_violation(registry):
    findings = check_install(registry, (ServedModel("llama-3.1-8b-instruct"),), facts())
    assert not has_violation(findings)
    assert codes(findings) == ["licence_in_force", "attribution_shown", "mau_threshold"]
    threshold = findings[-1]
    assert threshold.clause.section == "2" and "2024-06" in threshold.message


def test_notice_missing_and_incomplete_are_violations_citing_1_b_iii(registry):
    missing = check_install(registry, (ServedModel("llama-3.1-8b"),), facts(notice_text=None))
    (finding,) = [f for f in missing if f.code == "notice_missing"]
    assert finding.severity == VIOLATION and finding.clause.section == "1.b.iii" and NOTICE_31 in finding.message
    other = check_install(registry, (ServedModel("llama-3.1-8b"), ServedModel("llama-4-scout")), facts())
    assert [(f.code, f.licence_id) for f in other if f.code.startswith("notice")] == [("notice_incomplete", "llama4")]


def test_the_notice_may_wrap_lines(registry):
    wrapped = NOTICE_31.replace(" Copyright", "\n   Copyright")
    assert "notice_incomplete" not in codes(check_install(registry, (ServedModel("llama-3.1-8b"),),
                                                          facts(notice_text=wrapped)))


def test_attribution_missing_is_a_violation_and_a_documented_page_suffices(registry):
    models = (ServedModel("llama-3.3-70b"),)
    hidden = check_install(registry, models, facts(attribution_surfaces=frozenset(),
                                                   notice_text=notice_lines((registry.licence("llama3.3"),))))
    (finding,) = [f for f in hidden if f.code == "attribution_missing"]
    assert finding.severity == VIOLATION and finding.clause.section == "1.b.i" and "Built with Llama" in finding.clause.quote
    documented = check_install(registry, models, facts(attribution_surfaces=frozenset(),
                                                       attribution_url="https://example.com/about",
                                                       notice_text=notice_lines((registry.licence("llama3.3"),))))
    assert not has_violation(documented)


def test_a_misnamed_derivative_is_a_violation(registry):
    model = ServedModel("acme-chat-8b", aliases=("llama-acme",), declared_licence="llama3.1", derivative=True)
    findings = check_install(registry, (model,), facts())
    (finding,) = [f for f in findings if f.severity == VIOLATION]
    assert finding.code == "derivative_name" and finding.model == "acme-chat-8b"
    assert finding.clause.quote.endswith("at the beginning of any such AI model name")


def test_a_derivative_named_llama_passes_but_a_stray_alias_warns(registry):
    model = ServedModel("Llama-Acme-8B", aliases=("acme",), declared_licence="llama3.1", derivative=True)
    findings = check_install(registry, (model,), facts())
    assert not has_violation(findings)
    assert codes(findings, WARNING) == ["derivative_alias"]


def test_the_naming_rule_binds_derivatives_only(registry):
    model = ServedModel("my-assistant", declared_licence="llama3.1")
    assert not has_violation(check_install(registry, (model,), facts()))


@pytest.mark.parametrize("model, domicile, expected", [
    (ServedModel("llama-3.2-11b-vision-instruct"), "DE", VIOLATION),
    (ServedModel("llama-3.2-11b-vision-instruct"), "US", None),
    (ServedModel("llama-3.2-11b-vision-instruct"), "CH", None),
    (ServedModel("llama-3.2-11b-vision-instruct"), None, WARNING),
    (ServedModel("llama-3.2-3b-instruct"), "FR", None),
    (ServedModel("llama-3.2-3b-instruct", multimodal=True), "FR", VIOLATION),
    (ServedModel("llama-4-maverick-17b-128e-instruct"), "IE", VIOLATION),
    (ServedModel("llama-3.1-8b", multimodal=True), "DE", None),
])
def test_multimodal_models_and_an_eu_domiciled_host(registry, model, domicile, expected):
    notices = notice_lines(registry.licences)
    findings = check_install(registry, (model,), facts(domicile=domicile, notice_text=notices))
    found = [f for f in findings if f.code in ("multimodal_region", "domicile_unknown")]
    assert [f.severity for f in found] == ([expected] if expected else [])
    if expected == VIOLATION:
        assert found[0].clause.document == "aup" and "European Union" in found[0].clause.quote


def test_an_unknown_model_is_information_only(registry):
    findings = check_install(registry, (ServedModel("smollm2-135m-instruct"),), facts(notice_text=None))
    assert [(f.severity, f.code) for f in findings] == [(INFO, "licence_unknown")]


def test_declared_weights_that_differ_warn(registry):
    model = ServedModel("llama-3.1-8b", weights_sha256="aa" * 32, declared_sha256="bb" * 32)
    assert "weights_differ" in codes(check_install(registry, (model,), facts()), WARNING)


def test_findings_serialize_with_their_clause(registry):
    findings = check_install(registry, (ServedModel("llama-3.1-8b"),), facts(notice_text=None))
    body = [f.json() for f in findings if f.severity == VIOLATION][0]
    assert body["clause"]["section"] == "1.b.iii" and body["licence"] == "llama3.1"


def test_licence_texts_not_installed_or_not_the_recorded_ones_are_warnings(registry):
    texts = (("llama3_1_licence", "installed", "/srv/texts"), ("llama3_1_aup", "missing", "/srv/texts"),
             ("llama3_2_licence", "mismatch", "/srv/texts"))
    findings = check_install(registry, (ServedModel("llama-3.1-8b-instruct"),), facts(texts=texts))
    assert not has_violation(findings)
    [missing] = [f for f in findings if f.code == "licence_text_missing"]
    assert missing.severity == WARNING and "licence text not installed: llama3_1_aup" in missing.message
    assert "licence_text_mismatch" not in codes(findings)  # 3.2's text: no 3.2 model is served
    served_32 = check_install(registry, (ServedModel("llama-3.2-3b-instruct"),), facts(texts=texts))
    assert [f.severity for f in served_32 if f.code == "licence_text_mismatch"] == [WARNING]
    assert "licence_text_missing" not in codes(check_install(registry, (ServedModel("llama-3.1-8b"),), facts()))
