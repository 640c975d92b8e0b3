"""The `[ads]` section: defaults, every key read, and a mistake named by its key."""

from __future__ import annotations

import pytest

from revstream.config import ConfigError, load_config
from revstream.config._ads import AdsConfig, ads_settings


def _load(tmp_path, text: str):
    path = tmp_path / "revstream.toml"
    path.write_text(text)
    return load_config(path, home=tmp_path, environ={})


def test_without_a_section_ads_are_on_for_known_adults_only(tmp_path):
    settings = ads_settings(_load(tmp_path, ""))
    assert settings == AdsConfig() and settings.enabled and not settings.ads_for_unknown_age
    assert settings.reserve_cpm_nanos == 1_000_000_000 and settings.reserve_cpc_nanos == 50_000_000


def test_every_key_is_read(tmp_path):
    settings = ads_settings(_load(tmp_path, """
[ads]
enabled = false
ads_for_unknown_age = true
currency = "EUR"
reserve_cpm = "0.50"
reserve_cpc = "0.02"
click_ttl_s = 600
reservation_stale_s = 60
burst_clicks_max = 3
burst_window_s = 30
index_refresh_s = 2
public_url = "https://ads.example"
classifier_url = "http://guard.example/v1"
classifier_model = "llama-guard"
classifier_timeout_s = 5
"""))
    assert settings == AdsConfig(False, True, "EUR", 500_000_000, 20_000_000, 600, 60, 3, 30, 2, "https://ads.example",
                                 "http://guard.example/v1", "llama-guard", 5)


@pytest.mark.parametrize("line, key", [
    ("colour = 1", "ads.colour"), ("enabled = 1", "ads.enabled"), ("click_ttl_s = 0", "ads.click_ttl_s"),
    ('reserve_cpm = "0.0000001"', "ads.reserve_cpm"), ('currency = "usd"', "ads"), ('public_url = "ads.example"', "ads.public_url"),
    ('classifier_url = "http://guard.example/v1"', "ads.classifier_model"),
])
def test_a_mistake_names_its_key(tmp_path, line, key):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, f"[ads]\n{line}\n")
    assert key in str(caught.value)
