"""The `[recitation]` section: defaults, a host's limit and index directory, clear errors."""

from __future__ import annotations

import pytest

from revstream.config import ConfigError, load_config
from revstream.config._recitation import recitation_settings


def config_with(tmp_path, section: str):
    path = tmp_path / "revstream.toml"
    path.write_text(section, encoding="utf-8")
    return load_config(path, home=tmp_path / "home", environ={})


def test_defaults_and_a_hosts_settings(tmp_path):
    default = recitation_settings(config_with(tmp_path, ""))
    assert (default.enabled, default.limit_words, default.index_dir) == (True, 30, tmp_path / "home" / "recitation")
    custom = recitation_settings(config_with(tmp_path, '[recitation]\nlimit_words = 50\nindex_dir = "/srv/index"\n'
                                                       "enabled = false\n"))
    assert (custom.enabled, custom.limit_words, str(custom.index_dir)) == (False, 50, "/srv/index")


@pytest.mark.parametrize("section, message", [
    ("limit_words = 12", "recitation.limit_words"),
    ('limit_words = "30"', "recitation.limit_words"),
    ("enabled = 1", "recitation.enabled"),
    ("window = 16", "unknown key 'window'"),
    ("index_dir = 3", "recitation.index_dir"),
])
def test_mistakes_name_the_key(tmp_path, section, message):
    with pytest.raises(ConfigError, match=message):
        config_with(tmp_path, f"[recitation]\n{section}\n")
