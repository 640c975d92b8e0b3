"""The rights registry through the real CLI, on both stores: holders and their tokens, works
added from their text or from a holder's fingerprint file (the same index either way),
listed and removed; mistakes are clear errors that write nothing."""

from __future__ import annotations

import json

import numpy as np

import recitation_fixtures as fixtures
from conftest import revstream
from revstream.recitation import IndexDirectory

WORK = fixtures.read_works()[0]


def run_cli(home, database_url, *args, check=True):
    return revstream(*args, home=home, env={"REVSTREAM_DATABASE_URL": database_url}, check=check)


def hashes_of(directory: IndexDirectory, number: int) -> set[int]:
    found: set[int] = set()
    for index in directory.load():
        found |= {int(h) for h in np.asarray(index.hashes)[np.asarray(index.works) == number]}
    return found


def test_holders_and_works_through_the_cli(database_url, tmp_path):
    home = tmp_path / "home"
    text = tmp_path / "work.txt"
    text.write_text(WORK["text"], encoding="utf-8")

    def cli_json(*args):
        return json.loads(run_cli(home, database_url, *args, "--json").stdout)

    holder = cli_json("holders", "add", "Acme Press")
    assert holder["name"] == "Acme Press" and holder["holder_id"].startswith("hld_") and not holder["has_token"]
    assert run_cli(home, database_url, "holders", "add", "Acme Press", check=False).returncode == 1
    token = cli_json("holders", "token", "Acme Press")
    assert token["token"].startswith("rshold-") and cli_json("holders", "list")[0]["has_token"]

    key = cli_json("works", "key")
    assert key["key"].startswith("rfk1:16:") and key == cli_json("works", "key")  # made once
    by_text = cli_json("works", "add", "--holder", "Acme Press", "--title", WORK["title"], str(text))
    fingerprint = tmp_path / "work.fp"
    revstream("works", "fingerprint", str(text), "--key", key["key"], "--output", str(fingerprint),
              home=tmp_path / "holder")
    by_file = cli_json("works", "add", "--holder", "Acme Press", "--title", "Same text, by fingerprint",
                       "--mode", "cite", "--limit-words", "40", str(fingerprint))
    assert (by_text["mode"], by_text["limit_words"], by_file["mode"], by_file["limit_words"]) == ("block", None, "cite", 40)
    assert by_text["windows"] == by_file["windows"] > 0 and by_text["number"] < by_file["number"]

    directory = IndexDirectory(home / "recitation")
    # The fingerprint a holder made equals the index the host built from the text.
    assert hashes_of(directory, by_text["number"]) == hashes_of(directory, by_file["number"])
    assert len(hashes_of(directory, by_text["number"])) == by_text["windows"]
    assert [w["work_id"] for w in cli_json("works", "list")] == [by_text["work_id"], by_file["work_id"]]

    removed = cli_json("works", "remove", by_text["work_id"])
    assert removed["removed"] is not None
    assert directory.work_numbers() == {by_file["number"]}
    assert [w["work_id"] for w in cli_json("works", "list")] == [by_file["work_id"]]
    assert len(cli_json("works", "list", "--all")) == 2
    assert run_cli(home, database_url, "works", "remove", by_text["work_id"], check=False).returncode == 1

    unknown = run_cli(home, database_url, "works", "add", "--holder", "Nobody", "--title", "T", str(text), check=False)
    assert unknown.returncode == 1 and "no rights holder named 'Nobody'" in unknown.stderr
    too_low = run_cli(home, database_url, "works", "add", "--holder", "Acme Press", "--title", "T", "--limit-words", "10",
                      str(text), check=False)
    assert too_low.returncode == 2 and "limit" in too_low.stderr
    short = tmp_path / "short.txt"
    short.write_text("Too short to be a work.", encoding="utf-8")
    refused = run_cli(home, database_url, "works", "add", "--holder", "Acme Press", "--title", "T", str(short),
                      check=False)
    assert refused.returncode == 2 and "at least 16 words" in refused.stderr
    assert len(cli_json("works", "list", "--all")) == 2  # nothing written by the refusals
