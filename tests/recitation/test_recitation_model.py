"""The guard against the real embedded SmolLM2, through `revstream serve`, the real CLI and the
official openai client.

SmolLM2 recites no classic text, so the works are texts it demonstrably produces: (a) its own
greedy answer to a fixed prompt and seed (at least 200 words), and (b) a passage the user
pastes and asks it to repeat (it copies the passage's first sentence, 45 words, verbatim).
Before they are registered, the same prompts reproduce them beyond the limit (the check
would catch a leak); once registered, the same prompts are stopped before the limit,
streamed and not, and the stream never carried more. Few, short generations: the model runs
on two shared cores."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

import recitation_fixtures as fixtures
from conftest import start_server
from revstream.config import load_config
from revstream.recitation import LIMIT_WORDS_DEFAULT, words
from revstream.store import make_engine
from test_recitation_audit_model import CONFIG as AUDIT_CONFIG, MODEL
from test_recitation_gateway import longest_shared_run, register_in

pytestmark = pytest.mark.model

CONFIG = AUDIT_CONFIG.replace("n_threads = 1", "n_threads = 2")  # the embedded model, both cores
STORY = "Write a long story about the lighthouse keepers of the northern coast."
PASSAGE = ("The harbour at Kestrel Point had been silent for three winters when the new keeper arrived with a single "
           "trunk, a ledger of tide tables and a violin that nobody in the village had ever heard him play. He "
           "climbed the tower each evening at dusk, trimmed the wick, polished the great lens and wrote the weather "
           "in a careful hand, and the fishermen began to trust the light again.")
REPEAT = f"Repeat the following text exactly, word for word:\n\n{PASSAGE}"
WAIT_S = 60


def chat(client: openai.OpenAI, content: str, max_tokens: int, stream: bool) -> tuple[str, str | None, dict | None]:
    """(text received, finish reason, recitation object) of a greedy chat completion."""
    response = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}],
                                              max_tokens=max_tokens, temperature=0, seed=1234, stream=stream)
    if not stream:
        choice = response.choices[0]
        return choice.message.content, choice.finish_reason, (choice.model_extra or {}).get("recitation")
    parts, finish, recitation = [], None, None
    for chunk in response:
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
            recitation = (choice.model_extra or {}).get("recitation") or recitation
    return "".join(parts), finish, recitation


def works_in_force(server) -> int:
    for line in httpx.get(server.base_url + "/metrics", timeout=WAIT_S).text.splitlines():
        if line.startswith("revstream_recitation_works "):
            return int(line.split()[1])
    return -1


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("recitation-model")
    server = start_server(home, CONFIG)
    try:
        client = openai.OpenAI(base_url=server.v1, api_key=server.new_key("acme"), max_retries=0, timeout=600)
        # Unregistered: the model's own answer (work a) and its copy of the pasted passage.
        own, finish, _ = chat(client, STORY, 260, stream=False)
        assert finish == "length" and len(words(own)) >= 200
        unguarded = {"story": chat(client, STORY, 60, stream=True)[0], "passage": chat(client, REPEAT, 80, stream=False)[0]}
        (home / "own.txt").write_text(own, encoding="utf-8")
        (home / "passage.txt").write_text(PASSAGE, encoding="utf-8")
        server.cli("holders", "add", "Northern Coast Press")
        ids = {name: server.cli_json("works", "add", "--holder", "Northern Coast Press", "--title", name,
                                     str(home / f"{name}.txt"))["work_id"] for name in ("own", "passage")}
        # ... and the 120 fixture works beside them, registered straight into the host's store.
        config = load_config(server.config_path, home=home)
        engine = make_engine(config.store.database_url, config.keys_dir)
        register_in(engine, home / "recitation", fixtures.read_works())
        engine.dispose()
        expected = 2 + len(fixtures.read_works())
        deadline = time.monotonic() + WAIT_S
        while works_in_force(server) != expected and time.monotonic() < deadline:
            time.sleep(0.2)
        assert works_in_force(server) == expected
        yield {"server": server, "client": client, "own": own, "unguarded": unguarded, "ids": ids}
    finally:
        server.stop()


def test_unregistered_the_prompts_reproduce_the_works_beyond_the_limit(served):
    assert longest_shared_run(served["unguarded"]["story"], served["own"]) > LIMIT_WORDS_DEFAULT
    assert longest_shared_run(served["unguarded"]["passage"], PASSAGE) > LIMIT_WORDS_DEFAULT


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("work", ["own", "passage"])
def test_registered_the_same_prompts_are_stopped_before_the_limit(served, work, stream):
    prompt, text_of_work, max_tokens = (STORY, served["own"], 260) if work == "own" else (REPEAT, PASSAGE, 80)
    text, finish, recitation = chat(served["client"], prompt, max_tokens, stream)
    assert finish == "content_filter"
    assert recitation["action"] == "block" and recitation["work_id"] == served["ids"][work]
    assert recitation["holder"] == "Northern Coast Press"
    assert 0 < longest_shared_run(text, text_of_work) <= LIMIT_WORDS_DEFAULT


def test_neutral_prompts_are_not_stopped(served):
    """A few of the neutral prompts through the real model with all 122 works registered (the
    whole set of 240 runs against the echo backend in test_recitation_gateway)."""
    for prompt in fixtures.read_prompts()[:3]:
        text, finish, recitation = chat(served["client"], prompt, 40, stream=True)
        assert finish in ("stop", "length") and recitation is None and text
