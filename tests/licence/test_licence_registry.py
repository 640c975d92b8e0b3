"""The shipped registry: its texts are the recorded ones and every cited quote occurs in them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from datetime import date, timedelta

import pytest

from revstream.licence import RegistryError, TextNotInstalled, parse_registry, read_licence_text
from revstream.licence._registry import parse_licence
from revstream.licence._terms import WeightsEntry

LLAMA = ("llama3.1", "llama3.2", "llama3.3", "llama4")
REPO = Path(__file__).resolve().parents[2]
TEXTS_DIRS = (None, REPO.parent / "shared" / "testdata" / "llama-licences",
              *((Path(os.environ["REVSTREAM_TEST_LICENCE_TEXTS"]),) if os.environ.get("REVSTREAM_TEST_LICENCE_TEXTS")
                else ()))
"""Where the texts may be: the package's texts/ folder, the shared test data, or the directory
$REVSTREAM_TEST_LICENCE_TEXTS names (a copy of the models' own files, never committed here)."""


@pytest.fixture
def texts_installed(registry):
    """The Llama licence texts come with the models, not with revstream: a fetched copy may not
    be committed here. These tests run wherever the texts are installed: the package's texts/
    folder, or the shared test data beside the checkout (see the README's licence section).
    Returns the directory they were found in (None: the package's own)."""
    found = []
    for directory in TEXTS_DIRS:
        try:
            read_licence_text(registry.text("llama3_1_licence"), directory)
            return directory
        except TextNotInstalled as error:
            found.append(str(error))
    pytest.skip(f"the Llama licence texts are not installed: {'; '.join(found)}")


def normalized(text: str) -> str:
    """Whitespace collapsed, Markdown emphasis and backslash escapes dropped (the 3.3 text is Markdown)."""
    text = text.replace("**", "")
    text = re.sub(r"\\([^\w\s])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def test_every_llama_licence_is_shipped(registry):
    assert [licence.id for licence in registry.licences] == list(LLAMA)


@pytest.mark.parametrize("licence_id", LLAMA)
def test_every_cited_quote_occurs_in_its_licence_text(registry, licence_id, texts_installed):
    licence = registry.licence(licence_id)
    texts = {"licence": normalized(read_licence_text(registry.text(licence.text_id), texts_installed)),
             "aup": normalized(read_licence_text(registry.text(licence.acceptable_use.text_id), texts_installed))}
    clauses = licence.clauses()
    assert len(clauses) >= 7
    for clause in clauses:
        assert clause.section and clause.quote, clause
        assert normalized(clause.quote) in texts[clause.document], clause.cite()
    assert normalized(licence.notice.text) in texts["licence"]
    assert f"“{licence.attribution.text}”" in texts["licence"]
    for category in licence.acceptable_use.categories:
        assert normalized(category.quote) in texts["aup"], (licence_id, category.id)


@pytest.mark.parametrize("licence_id", LLAMA)
def test_threshold_is_measured_in_the_month_before_the_release_date(registry, licence_id):
    licence = registry.licence(licence_id)
    (threshold,) = licence.mau_thresholds
    assert threshold.users == 700_000_000
    before = licence.release_date.replace(day=1) - timedelta(days=1)
    assert threshold.measured_month == f"{before.year:04d}-{before.month:02d}"
    assert threshold.effective_from == licence.release_date
    assert licence.threshold_at(licence.release_date - timedelta(days=1)) is None
    assert licence.threshold_at(date(2030, 1, 1)) is threshold


def test_multimodal_restriction_where_the_aup_has_it(registry):
    assert registry.licence("llama3.1").multimodal_restriction is None
    for licence_id in ("llama3.2", "llama3.3", "llama4"):
        restriction = registry.licence(licence_id).multimodal_restriction
        assert restriction.region == "EU" and "DE" in restriction.countries and "CH" not in restriction.countries
        assert restriction.clause.document == "aup"


def test_aup_versions_differ_where_the_texts_do(registry):
    ids = {licence_id: {c.id for c in registry.licence(licence_id).acceptable_use.categories} for licence_id in LLAMA}
    assert "circumvent_safety" not in ids["llama3.1"] and "circumvent_safety" in ids["llama4"]
    assert ids["llama3.2"] == ids["llama3.3"] == ids["llama4"]


def test_a_tampered_text_is_refused(registry, texts_installed):
    text = registry.text("llama3_1_licence")
    with pytest.raises(RegistryError, match="SHA-256"):
        read_licence_text(type(text)(text.id, text.path, text.source, "0" * 64), texts_installed)


@pytest.mark.parametrize("name, expected", [
    ("Llama-3.1-8B-Instruct", "llama3.1"), ("meta-llama/Llama-3.2-11B-Vision-Instruct", "llama3.2"),
    ("llama3.3:70b", "llama3.3"), ("Llama-4-Scout-17B-16E-Instruct", "llama4"), ("llama-guard-3-8b", "llama3.1"),
    ("llama-guard-3-1b", "llama3.2"), ("smollm2-135m-instruct", None), ("mistral-7b", None),
])
def test_models_match_by_name(registry, name, expected):
    match = registry.match((name,))
    assert (match.licence.id if match else None) == expected


def test_weights_digest_wins_over_the_name_and_a_declaration_over_both(registry):
    digest = "ab" * 32
    extended = registry.extended((), (WeightsEntry(digest, "llama4"),))
    assert extended.match(("llama-3.1-8b",), digest.upper()).licence.id == "llama4"
    assert extended.match(("llama-3.1-8b",), digest).how == "weights_sha256"
    assert extended.match(("llama-3.1-8b",), "cd" * 32).licence.id == "llama3.1"
    assert extended.match(("llama-3.1-8b",), digest, declared="llama3.3").how == "declared"


GENERIC = {
    "id": "acme-model-licence", "name": "Acme Model Licence 1.0", "licensor": "Acme", "version": "1.0",
    "release_date": "2025-01-01",
    "attribution": {"text": "Powered by Acme", "clause": {"document": "licence", "section": "4.2"}},
    "mau_thresholds": [
        {"users": 1_000_000, "from": "2025-01-01", "clause": {"document": "licence", "section": "7"}},
        {"users": 5_000_000, "from": "2026-01-01", "clause": {"document": "licence", "section": "7(b)"}},
    ],
    "model_patterns": ["acme-*"],
}


def test_a_licensors_own_licence_has_thresholds_at_dates():
    licence = parse_licence(GENERIC, "licences[0]")
    assert licence.threshold_at(date(2024, 12, 31)) is None
    assert licence.threshold_at(date(2025, 6, 1)).users == 1_000_000
    assert licence.threshold_at(date(2026, 1, 1)).users == 5_000_000
    assert licence.attribution.clause.cite() == "licence §4.2"
    assert licence.notice is None and licence.derivative_naming is None


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown key"),
    ({"id": "Has Spaces"}, "id"),
    ({"mau_thresholds": [{"users": 0, "from": "2025-01-01", "clause": {"document": "l", "section": "1"}}]}, "users"),
    ({"mau_thresholds": [{"users": 5, "from": "soon", "clause": {"document": "l", "section": "1"}}]}, "date"),
    ({"attribution": {"text": "x"}}, "clause"),
    ({"licence_text": "nowhere"}, "unknown text"),
])
def test_a_malformed_licence_is_refused_with_its_key_named(change, message):
    with pytest.raises(RegistryError, match=message):
        parse_licence({**GENERIC, **change}, "licences[0]")


def test_registry_refuses_an_unknown_schema_or_hazard():
    with pytest.raises(RegistryError, match="schema_version"):
        parse_registry({"schema_version": 2})
    with pytest.raises(RegistryError, match="S15"):
        parse_registry({"schema_version": 1, "aup_categories": [
            {"id": "x", "quote": "x", "policies": ["1"], "hazards": ["S15"]}]})
    with pytest.raises(RegistryError, match="declared twice"):
        parse_registry({"schema_version": 1, "licences": [GENERIC, GENERIC]})
