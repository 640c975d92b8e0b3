"""The fixture set for the gateway tests, checked on the model-free path: with 120 works
registered, neutral answers and paraphrases are never stopped or cited, and copies are."""

from __future__ import annotations

import re

import pytest

import recitation_fixtures as fixtures
from revstream.recitation import (
    Catalog,
    FingerprintKey,
    Guard,
    IndexDirectory,
    fingerprint_text,
    new_work,
    words,
)

KEY = FingerprintKey(b"fixture-set-fingerprint-key-0001", 16)


def token_pieces(text: str) -> list[str]:
    """Pieces shaped like a model's tokens: a leading space and up to four characters."""
    return re.findall(r"\s*\S{1,4}|\s+", text)


def guard_over(catalog: Catalog, text: str):
    guard, sent, citations = Guard(catalog), [], []
    for piece in token_pieces(text):
        emit = guard.feed(piece)
        sent.append(emit.text)
        citations += emit.citations
        if emit.stop:
            return "".join(sent), emit.stop, citations
    emit = guard.finish()
    return "".join(sent) + emit.text, emit.stop, citations + list(emit.citations)


def longest_common_run(a: list[str], b: list[str]) -> int:
    best, previous = 0, [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    works = fixtures.read_works()
    directory = IndexDirectory.create(tmp_path_factory.mktemp("index"), KEY)
    directory.add_works((w["number"], fingerprint_text(w["text"], KEY)) for w in works)
    registered = [new_work(w["number"], w["work_id"], w["title"], w["holder_id"], w["holder"], window_words=16,
                           mode=w["mode"]) for w in works]
    return works, Catalog(KEY, directory.load(), registered)


def test_the_committed_files_are_what_the_generator_makes() -> None:
    assert fixtures.read_works() == fixtures.generate_works()
    assert fixtures.read_prompts() == fixtures.generate_prompts()
    works, prompts = fixtures.read_works(), fixtures.read_prompts()
    assert len(works) >= 100 and len(prompts) >= 200 and len(set(prompts)) == len(prompts)
    assert {w["mode"] for w in works} == {"block", "cite"}
    assert all(len(words(w["text"])) >= 400 for w in works)


def test_no_two_works_share_a_window(registry) -> None:
    works, catalog = registry
    windows = [h for w in works for h in fingerprint_text(w["text"], KEY).hashes]
    assert len(set(windows)) == len(windows)


def test_neutral_prompts_and_answers_are_never_stopped_or_cited(registry) -> None:
    _, catalog = registry
    for prompt in fixtures.read_prompts():
        text = fixtures.neutral_answer(prompt)
        assert guard_over(catalog, text) == (text, None, []), prompt


def test_paraphrases_are_never_stopped_or_cited(registry) -> None:
    works, catalog = registry
    for work in works:
        retold = fixtures.paraphrase(work["text"])
        # A paraphrase by construction: no run of a window's length survives unchanged.
        assert longest_common_run(words(retold), words(work["text"])) < 16, work["work_id"]
        assert guard_over(catalog, retold) == (retold, None, []), work["work_id"]


def test_copies_are_stopped_within_the_limit_or_cited(registry) -> None:
    works, catalog = registry
    for work in works:
        text = "Of course! Here is the passage you asked for:\n\n" + work["text"]
        sent, stop, citations = guard_over(catalog, text)
        if work["mode"] == "block":
            assert stop is not None and stop.work.work_id == work["work_id"]
            assert len(words(sent)) - len(words("Of course! Here is the passage you asked for:")) <= 30
        else:
            assert (sent, stop) == (text, None)
            assert [c.work.work_id for c in citations] == [work["work_id"]]
