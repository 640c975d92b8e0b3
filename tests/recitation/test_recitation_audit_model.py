"""`revstream audit-work` against the embedded SmolLM2, driven through `revstream.backends`.

The positive control is the model's own deterministic greedy output for a fixed prompt and
seed, saved with its prompt as the work: a text the model demonstrably produces. It is
audited with the whole work before each excerpt as the prompt (`--prefix-tokens 1000`):
greedy output depends on all of its context, and with only 50 tokens of it SmolLM2 keeps
about 15-25 words of its own text before drifting (measured: 1 excerpt of 4 reproduced),
so a 50-token audit of this text says little either way. The negative control is a text the
model has never seen (the same words, shuffled with a seed), audited with the default
50-token prefix. Short runs: one thread, few excerpts."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from revstream.backends import GenerationRequest, TextDelta, UsageMeter, make_backend
from revstream.cli import main
from revstream.config import load_config
from revstream.recitation import CAVEATS, words

pytestmark = pytest.mark.model

MODEL = "smollm2-135m-instruct"
CONFIG = f"""
[[models]]
name = "{MODEL}"
backend = "llamacpp"
path = "embedded"
n_threads = 1
"""
PROMPT = "The history of the lighthouse keepers of the northern coast"
WORK_TOKENS = 500


async def _greedy(config, prompt: str, max_tokens: int) -> str:
    backend = make_backend(config.model_named(MODEL))
    await backend.start()
    try:
        request = GenerationRequest(endpoint="completion", model=MODEL, prompt=prompt, max_tokens=max_tokens,
                                    temperature=0.0, seed=1234)
        parts = []
        async for event in backend.execute(await backend.prepare(request), UsageMeter()):
            if isinstance(event, TextDelta):
                parts.append(event.text)
        return "".join(parts)
    finally:
        await backend.close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    home = tmp_path_factory.mktemp("audit")
    config_path = home / "revstream.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    own = PROMPT + asyncio.run(_greedy(load_config(config_path), PROMPT, WORK_TOKENS))
    assert len(words(own)) >= 200
    rng = random.Random(7)
    vocabulary = sorted(set(words(own)) | {"quartz", "meridian", "saffron", "pylon", "ember", "trellis"})
    unseen = " ".join(rng.choice(vocabulary) for _ in range(600)) + "."
    return home, config_path, own, unseen


def audit(setup, capsys, monkeypatch, text: str, name: str, *options: str) -> dict:
    home, config_path, _, _ = setup
    monkeypatch.setenv("REVSTREAM_HOME", str(home))
    work = home / name
    work.write_text(text, encoding="utf-8")
    code = main(["--config", str(config_path), "audit-work", str(work), "--model", MODEL, "--samples", "4", "--json",
                 *options])
    assert code == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_the_models_own_greedy_text_is_reported_as_reproduced(setup, capsys, monkeypatch) -> None:
    _, _, own, _ = setup
    again = PROMPT + asyncio.run(_greedy(load_config(setup[1]), PROMPT, WORK_TOKENS))
    assert again == own  # deterministic: the same prompt and seed give the same work
    report = audit(setup, capsys, monkeypatch, own, "own.txt", "--prefix-tokens", "1000")
    assert report["reproduced"]["samples"] == 4 and report["method"]["prefix_tokens"] == 1000
    assert report["reproduced"]["share"] >= 0.75, json.dumps(report["evidence"], indent=1)[:3000]
    assert report["longest_match"]["words"] >= 30
    low, high = report["reproduced"]["interval"]
    assert 0 < low <= report["reproduced"]["share"] <= high <= 1
    assert report["reproduced"]["interval"] != [0.0, 1.0]
    assert any(e["reproduced"] for e in report["evidence"])
    assert report["caveats"] == list(CAVEATS)


def test_an_unseen_text_is_not(setup, capsys, monkeypatch) -> None:
    _, _, _, unseen = setup
    report = audit(setup, capsys, monkeypatch, unseen, "unseen.txt")
    assert report["reproduced"]["count"] == 0 and report["reproduced_exact"]["count"] == 0
    assert report["longest_match"]["words"] < 10
    assert report["reproduced"]["interval"][0] == 0.0
    assert "close to chance" in " ".join(report["caveats"])
