"""`revstream licence check`, in process, on real files: weights hashed, Notice read, licence
texts looked for where `[licence] texts_dir` says."""

from __future__ import annotations

import hashlib
import json

import pytest

from revstream.cli import main

NOTICE_31 = "Llama 3.1 is licensed under the Llama 3.1 Community License, Copyright © Meta Platforms, Inc. All Rights Reserved."


@pytest.fixture
def install(tmp_path, monkeypatch):
    monkeypatch.setenv("REVSTREAM_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    weights = tmp_path / "acme.gguf"
    weights.write_bytes(b"GGUF not really a model")
    models = tmp_path / "models.toml"
    models.write_text(f"""
[[models]]
name = "acme-chat-8b"
backend = "llamacpp"
path = "{weights}"

[[models]]
name = "llama-3.2-11b-vision-instruct"
backend = "openai"
base_url = "http://127.0.0.1:9/v1"
""")
    return tmp_path, models, hashlib.sha256(weights.read_bytes()).hexdigest()


def run_check(capsys, argv):
    code = main(argv)
    return code, capsys.readouterr().out


def test_the_embedded_default_has_nothing_to_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REVSTREAM_HOME", str(tmp_path))
    code, out = run_check(capsys, ["licence", "check", "--json", "--no-hash"])
    report = json.loads(out)
    assert code == 0 and report["ok"] and [f["code"] for f in report["findings"]] == ["licence_unknown"]


def test_a_llama_install_without_notice_exits_1_and_shows_the_attribution_itself(install, capsys):
    _, models, _ = install
    code, out = run_check(capsys, ["--config", str(models), "licence", "check", "--json"])
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    violations = {(f["code"], f["licence"]) for f in report["findings"] if f["severity"] == "violation"}
    assert violations == {("notice_missing", "llama3.2")}
    [shown] = [f for f in report["findings"] if f["code"] == "attribution_shown"]
    assert "“Built with Llama” is shown on dashboard, models_endpoint" in shown["message"]


def test_a_licence_text_not_installed_is_a_warning_never_a_crash(install, capsys):
    tmp_path, models, _ = install
    texts = tmp_path / "texts"
    (texts / "llama3_2").mkdir(parents=True)
    (texts / "llama3_2" / "LICENSE").write_text("not the licence\n")
    models.write_text(models.read_text() + f'\n[licence]\ntexts_dir = "{texts}"\n')
    code, out = run_check(capsys, ["--config", str(models), "licence", "check", "--json"])
    findings = {(f["code"], f["severity"]) for f in json.loads(out)["findings"]}
    assert ("licence_text_missing", "warning") in findings  # the acceptable use policy's text
    assert ("licence_text_mismatch", "warning") in findings  # a file that is not the recorded text
    assert code == 1  # for the Notice, not for the texts
    code, out = run_check(capsys, ["--config", str(models), "licence", "check"])
    assert "licence text not installed: llama3_2_aup" in out


def test_the_table_cites_the_clause(install, capsys):
    _, models, _ = install
    code, out = run_check(capsys, ["--config", str(models), "licence", "check"])
    assert code == 1 and "notice_missing" in out and "licence §1.b.iii" in out


def test_a_misnamed_derivative_found_by_its_weights_digest(install, capsys):
    tmp_path, models, digest = install
    (tmp_path / "home" / "NOTICE").write_text(NOTICE_31 + "\n")
    models.write_text(models.read_text() + f"""
[licence]
domicile = "US"
attribution_url = "https://example.com/about"

[[licence.models]]
model = "acme-chat-8b"
derivative = true
weights_sha256 = "{digest}"
licence = "llama3.1"
""")
    code, out = run_check(capsys, ["--config", str(models), "licence", "check", "--json"])
    report = json.loads(out)
    violations = [f for f in report["findings"] if f["severity"] == "violation"]
    assert code == 1
    assert [(f["code"], f["model"]) for f in violations] == [("derivative_name", "acme-chat-8b"),
                                                            ("notice_incomplete", None)]


def test_an_eu_domiciled_host_serving_a_multimodal_llama_exits_1(install, capsys):
    tmp_path, models, _ = install
    (tmp_path / "home" / "NOTICE").write_text(
        "Llama 3.2 is licensed under the Llama 3.2 Community License, Copyright © Meta Platforms, Inc. All Rights Reserved.")
    base = models.read_text()
    models.write_text(base + '\n[licence]\ndomicile = "FR"\nattribution_url = "https://example.com"\n')
    code, out = run_check(capsys, ["--config", str(models), "licence", "check", "--json"])
    report = json.loads(out)
    assert code == 1
    assert [f["code"] for f in report["findings"] if f["severity"] == "violation"] == ["multimodal_region"]
    models.write_text(base + '\n[licence]\ndomicile = "US"\nattribution_url = "https://example.com"\n')
    assert run_check(capsys, ["--config", str(models), "licence", "check", "--json"])[0] == 0


def test_a_wrong_section_is_a_configuration_error(install, capsys):
    _, models, _ = install
    models.write_text(models.read_text() + '\n[licence]\ndomicile = "France"\n')
    assert main(["--config", str(models), "licence", "check"]) == 2
    assert "licence.domicile" in capsys.readouterr().err


def test_the_licence_section_in_the_config_file(install, capsys):
    tmp_path, models, _ = install
    models.write_text(models.read_text() + '\n[licence]\ndomicile = "FR"\n')
    code, out = run_check(capsys, ["--config", str(models), "licence", "check", "--json"])
    assert code == 1 and "multimodal_region" in out
