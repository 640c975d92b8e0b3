"""`[transparency] witnesses` and `witness_quorum`: what a host's config accepts and refuses."""

from __future__ import annotations

import re

import pytest

from revstream.config import ConfigError, WitnessEndpointConfig, load_config
from revstream.transparency import generate_cosigner_key, generate_key

_, W1 = generate_cosigner_key("witness.test/w1", seed=b"1" * 32)
_, W2 = generate_cosigner_key("witness.test/w2", seed=b"2" * 32)
_, SAME_KEY_OTHER_NAME = generate_cosigner_key("witness.test/alias", seed=b"1" * 32)
_, LOG_KEY = generate_key("host.test/log", seed=b"3" * 32)


def _load(tmp_path, text: str):
    path = tmp_path / "revstream.toml"
    path.write_text(text)
    return load_config(path, {}, home=tmp_path).transparency


def _witnesses(*pairs: tuple[str, str]) -> str:
    return "witnesses = [" + ", ".join(f'{{url = "{url}", vkey = "{vkey}"}}' for url, vkey in pairs) + "]\n"


def test_witnesses_and_their_quorum(tmp_path):
    settings = _load(tmp_path, "[transparency]\n" + _witnesses(("https://w1.test/", W1), ("http://127.0.0.1:7380", W2)))
    assert settings.witnesses == (WitnessEndpointConfig("https://w1.test/", W1),
                                  WitnessEndpointConfig("http://127.0.0.1:7380", W2))
    assert settings.quorum == 2 and settings.witness_timeout_s == 5.0
    settings = _load(tmp_path, "[transparency]\nwitness_quorum = 1\nwitness_timeout_s = 2.5\n"
                     + _witnesses(("https://w1.test/", W1), ("https://w2.test/", W2)))
    assert settings.quorum == 1 and settings.witness_timeout_s == 2.5
    assert _load(tmp_path, "[transparency]\n").quorum == 0


@pytest.mark.parametrize(("lines", "message"), [
    (_witnesses(("ftp://w1.test", W1)), "witnesses[0].url: expected the witness's http(s) URL"),
    (_witnesses(("https://w1.test", LOG_KEY)), "witnesses[0].vkey: not a witness (cosignature/v1) verifier key"),
    (_witnesses(("https://w1.test", W1), ("https://w2.test", SAME_KEY_OTHER_NAME)), "the same key as another witness"),
    (_witnesses(("https://w1.test", W1)) + "witness_quorum = 2\n", "witness_quorum: must be between 1 and the 1"),
    ("witness_quorum = 1\n", "witness_quorum: must be between 1 and the 0"),
    ('witnesses = [{url = "https://w1.test", vkey = "x", name = "w"}]\n', "expected exactly the keys url and vkey"),
    ('witnesses = "https://w1.test"\n', "transparency.witnesses: expected an array"),
    (_witnesses(("https://w1.test", W1)) + "witness_timeout_s = 0\n", "witness_timeout_s: must be positive"),
])
def test_a_wrong_witness_setting_names_its_key(tmp_path, lines, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        _load(tmp_path, "[transparency]\n" + lines)
