"""The `[licence]` configuration section."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from revstream.config import ConfigError
from revstream.config._licence import licence_section
from revstream.licence import SettingsError, decide, parse_licence_settings, Verdict

FULL = """
[licence]
domicile = "DE"
notice_path = "legal/NOTICE"
attribution_url = "https://example.com/about"
affiliates = ["acme-us"]
mau_alert_percent = [80, 50, 100, 50]
mau_exact_users_max = 5000
classifier = "llama-guard"
classify_outputs = true

[licence.acceptable_use]
default = "flag"
S4 = "refuse"
S9 = "refuse"

[licence.llama_guard]
base_url = "http://127.0.0.1:9/v1"
model = "llama-guard-3-1b"
timeout_s = 2

[[licence.models]]
model = "acme-chat"
licence = "llama3.1"
derivative = true
weights_sha256 = "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"

[[licence.licences]]
id = "acme-own"
name = "Acme Licence"
licensor = "Acme"
version = "1"
"""


def test_every_key_is_parsed(tmp_path):
    settings = parse_licence_settings(tomllib.loads(FULL)["licence"], tmp_path)
    assert settings.domicile == "DE" and settings.notice_path == tmp_path / "legal" / "NOTICE"
    assert settings.mau_alert_percent == (50, 80, 100) and settings.mau_exact_users_max == 5000
    assert settings.llama_guard.timeout_s == 2.0 and settings.classify_outputs
    assert decide(settings.acceptable_use, Verdict(("S4",))).refused
    assert decide(settings.acceptable_use, Verdict(("S1",))).flagged
    (declared,) = settings.models
    assert declared.derivative and declared.weights_sha256 == "ab" * 32
    assert settings.weights[0].licence_id == "llama3.1" and settings.licences[0].id == "acme-own"
    assert settings.declaration(("other", "acme-chat")) is declared


def test_defaults_without_a_section(tmp_path):
    settings = parse_licence_settings({}, tmp_path)
    assert settings.notice_path == tmp_path / "NOTICE" and settings.domicile is None
    assert settings.classifier == "builtin" and settings.mau_alert_percent == (50, 80, 100)
    assert not decide(settings.acceptable_use, Verdict(("S4",))).refused


@pytest.mark.parametrize("raw, key", [
    ({"domicile": "Germany"}, "licence.domicile"),
    ({"colour": 1}, "licence.colour"),
    ({"acceptable_use": {"S15": "log"}}, "S15"),
    ({"acceptable_use": {"S1": "block"}}, "licence.acceptable_use.S1"),
    ({"classifier": "llama-guard"}, "licence.llama_guard"),
    ({"mau_alert_percent": [0.5]}, "mau_alert_percent"),
    ({"mau_exact_users_max": True}, "mau_exact_users_max"),
    ({"models": [{"licence": "llama3.1"}]}, "licence.models[0].model"),
    ({"models": [{"model": "m", "weights_sha256": "xyz"}]}, "weights_sha256"),
    ({"licences": [{"id": "x"}]}, "licence.licences[0]"),
])
def test_mistakes_name_their_key(tmp_path, raw, key):
    with pytest.raises(SettingsError, match=key.replace("[", r"\[").replace("]", r"\]")):
        parse_licence_settings(raw, tmp_path)


def test_the_config_module_reports_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="licence.domicile"):
        licence_section({"domicile": "de"}, Path(tmp_path))


def test_the_runtime_keys(tmp_path):
    settings = parse_licence_settings({
        "texts_dir": "licences", "mau_alert_webhook": "https://ops.example.com/hook", "mau_flush_interval_s": 0.5,
        "classifier": {"base_url": "http://127.0.0.1:9/v1", "model": "llama-guard-3-1b", "mode": "chat"},
        "classifier_unavailable": "refuse"}, tmp_path)
    assert settings.texts_dir == tmp_path / "licences" and settings.mau_flush_interval_s == 0.5
    assert settings.classifier == "llama-guard" and settings.llama_guard.mode == "chat"
    assert settings.classifier_unavailable == "refuse" and settings.mau_alert_webhook.endswith("/hook")
    assert parse_licence_settings({"classifier": "none"}, tmp_path).classifier == "none"


@pytest.mark.parametrize("raw, key", [
    ({"mau_alert_webhook": "ftp://x"}, "mau_alert_webhook"),
    ({"mau_flush_interval_s": 0}, "mau_flush_interval_s"),
    ({"classifier": {"model": "x"}}, "licence.classifier"),
    ({"classifier": {"base_url": "http://x/v1", "model": "m", "mode": "raw"}}, "licence.classifier.mode"),
    ({"classifier": {"base_url": "http://x/v1", "model": "m"}, "llama_guard": {"base_url": "http://x", "model": "m"}},
     "not both"),
    ({"classifier_unavailable": "maybe"}, "classifier_unavailable"),
    ({"texts_dir": ""}, "texts_dir"),
])
def test_runtime_key_mistakes_name_their_key(tmp_path, raw, key):
    with pytest.raises(SettingsError, match=key):
        parse_licence_settings(raw, tmp_path)
