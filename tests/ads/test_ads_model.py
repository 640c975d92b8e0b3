"""The answer is untouched, on the real embedded model: the same seed and prompt give the
byte-identical answer whether the response carries an ad or not (the ad is chosen after the
answer and never enters the model's context), streamed and not; set up with the real CLI."""

from __future__ import annotations

import openai
import pytest

from conftest import revstream, start_server
from revstream.config._model import EMBEDDED_MODEL_NAME

pytestmark = pytest.mark.model
CONFIG = """
[ads]
reserve_cpm = "1.00"
"""
MESSAGES = [{"role": "user", "content": "Name three things to check when buying hiking boots."}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("ads-model")
    (home / "revstream.toml").write_text(CONFIG)
    for args in (("plans", "add", "free", "--kind", "free", "--tokens-per-day", "100000", "--models", EMBEDDED_MODEL_NAME),
                 ("subscribe", "--customer", "freebie", "--plan", "free"),
                 ("advertisers", "add", "Trail Co"),
                 ("credit", "add", "--advertiser", "Trail Co", "--amount", "5.00"),
                 ("campaigns", "add", "--advertiser", "Trail Co", "--title", "Trail boots", "--text", "Boots for the Alps.",
                  "--url", "https://trail.example/boots", "--bid-cpm", "2.00", "--keywords", "hiking boots")):
        revstream("--config", str(home / "revstream.toml"), *args, home=home)
    running = start_server(home, CONFIG)
    yield running
    running.stop()


def _ask(client, metadata: dict, stream: bool):
    extra = {"metadata": metadata} if metadata else {}
    request = dict(model=EMBEDDED_MODEL_NAME, messages=MESSAGES, max_tokens=24, temperature=0.8, seed=42, **extra)
    if not stream:
        completion = client.chat.completions.create(**request)
        return completion.choices[0].message.content, completion.model_extra.get("sponsored")
    chunks = list(client.chat.completions.create(**request, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, next((c.model_extra["sponsored"] for c in chunks if "sponsored" in (c.model_extra or {})), None)


@pytest.mark.parametrize("stream", [False, True])
def test_the_same_seed_gives_the_byte_identical_answer_with_and_without_an_ad(server, stream):
    key = server.cli_json("keys", "create", "--customer", "freebie")["key"]
    client = openai.OpenAI(base_url=server.v1, api_key=key, max_retries=0, timeout=120)
    with_ad, sponsored = _ask(client, {"age_band": "18_plus"}, stream)
    without_ad, none = _ask(client, {}, stream)  # age unknown: no ad
    assert sponsored is not None and sponsored["label"] == "Sponsored" and none is None
    assert with_ad.encode() == without_ad.encode() and with_ad
