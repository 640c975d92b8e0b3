"""Shared, immutable fixtures of the ads core: the shipped taxonomy and classifier, loaded once."""

from __future__ import annotations

import pytest

from revstream.ads import load_classifier, load_taxonomy


@pytest.fixture(scope="session")
def taxonomy():
    return load_taxonomy()


@pytest.fixture(scope="session")
def classifier(taxonomy):
    return load_classifier(taxonomy)
