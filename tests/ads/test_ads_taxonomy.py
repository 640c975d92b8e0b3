"""The shipped taxonomy: unmodified, checked by digest, annotated with our keywords and blocks."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest

from revstream.ads import TAXONOMY_SHA256, AdsValueError, TaxonomyError, _taxonomy, load_taxonomy
from revstream.ads._taxonomy import name_keywords
from revstream.ads._text import phrase

DATA = resources.files("revstream.ads").joinpath("data")


def test_the_shipped_file_is_the_published_one():
    raw = DATA.joinpath("iab_content_taxonomy_3.1.tsv").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == TAXONOMY_SHA256
    assert b"\r\n" in raw  # shipped byte for byte, CRLF line ends kept
    notice = DATA.joinpath("NOTICE.md").read_text("utf-8")
    assert TAXONOMY_SHA256 in notice and "Creative Commons Attribution 3.0" in notice


def test_an_altered_taxonomy_is_refused(monkeypatch):
    real = _taxonomy._read_data

    def altered(name):
        data = real(name)
        return data.replace(b"Travel", b"Trav3l", 1) if name == _taxonomy.TAXONOMY_FILE else data

    monkeypatch.setattr(_taxonomy, "_read_data", altered)
    with pytest.raises(TaxonomyError, match="SHA-256"):
        load_taxonomy()


def test_a_bad_annotation_is_refused(monkeypatch):
    real = _taxonomy._read_data
    cases = [b"999999\t-\tfoo\n", b"1\tweird\tfoo\n", b"1\t-\n", b"223\t-\tfoo\n"]
    for line in cases:
        def patched(name, line=line):
            data = real(name)
            return data + line if name == _taxonomy.KEYWORDS_FILE else data

        monkeypatch.setattr(_taxonomy, "_read_data", patched)
        with pytest.raises(TaxonomyError):
            load_taxonomy()


def test_all_four_tiers_are_there(taxonomy):
    assert len(taxonomy.categories) == 704
    assert {c.tier for c in taxonomy.categories.values()} == {1, 2, 3, 4}
    cruises = taxonomy.categories["678"]
    assert cruises.label == "Travel > Travel Type > Cruises"
    assert taxonomy.ancestors("678") == ("678", "664", "653")


def test_blocks_cover_whole_subtrees(taxonomy):
    assert taxonomy.categories["286"].block == "health"
    assert taxonomy.categories["301"].block == "mental_health"  # its own annotation wins
    assert taxonomy.categories["293"].block == "health"  # tier 4, inherited
    assert taxonomy.categories["387"].block == "politics"
    assert taxonomy.categories["461"].block == "religion"
    assert taxonomy.categories["211"].block == "regulated"
    assert taxonomy.categories["653"].block is None


def test_only_targetable_categories_may_be_targeted(taxonomy):
    assert taxonomy.targetable(["678", "653", "678"]) == ("653", "678")
    with pytest.raises(AdsValueError, match="may not be targeted"):
        taxonomy.targetable(["301"])
    with pytest.raises(AdsValueError, match="unknown category"):
        taxonomy.targetable(["nope"])


def test_keywords_come_from_names_and_our_table(taxonomy):
    assert "678" in taxonomy.keywords.get(phrase("cruise"))
    assert "227" in taxonomy.keywords.get(phrase("running shoes"))
    assert taxonomy.keywords.get(phrase("running")) is None  # too generic: the table says -name
    assert name_keywords("Bars & Restaurants") == ("Bars", "Restaurants")
    assert name_keywords("Comedy (Music and Audio)") == ("Comedy",)
    assert name_keywords("Snooker/Pool/Billiards") == ("Snooker", "Pool", "Billiards")
