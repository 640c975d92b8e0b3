"""The content taxonomy that contextual targeting speaks: IAB Tech Lab Content Taxonomy 3.1.

The taxonomy file ships unmodified (CC BY 3.0, see ``data/NOTICE.md``) and is checked against
its SHA-256 at every load. Our own ``data/category_keywords.tsv`` adds, per category, the
keywords that mark a conversation as being about it, and the categories that may never be
targeted (a sensitive topic, ``unsafe`` or ``regulated``; a block covers the subtree).

A conversation's categories are the categories whose keywords occur in it, with all their
ancestors: a campaign on *Travel* matches a conversation about *Cruises*. Nothing here knows
anything about a person; categories describe text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from revstream.ads._errors import AdsValueError, TaxonomyError
from revstream.ads._text import PhraseTable, phrase
from revstream.ads._topics import TAXONOMY_BLOCKS

TAXONOMY_FILE = "iab_content_taxonomy_3.1.tsv"
TAXONOMY_SHA256 = "7212cdc496ba347a03e703b1932bdcdd4fd29089b058f4edeb4d3da1f1222ea7"
TAXONOMY_NAME = "IAB Tech Lab Content Taxonomy 3.1"
KEYWORDS_FILE = "category_keywords.tsv"
categories_max = 4096
"""Most categories a taxonomy may hold (3.1 has 704)."""

_NAME_SPLIT = re.compile(r"\s*(?:&|/|,|\band\b)\s*")
_PARENS = re.compile(r"\([^)]*\)")
_NO_NAME = "-name"


@dataclass(frozen=True, slots=True)
class Category:
    """One taxonomy node. ``block`` is None when it may be targeted, else why not."""

    category_id: str
    parent_id: str | None
    name: str
    path: tuple[str, ...]
    block: str | None

    @property
    def tier(self) -> int:
        return len(self.path)

    @property
    def label(self) -> str:
        """The full path, as *why this ad* shows it: ``Travel > Travel Type > Cruises``."""
        return " > ".join(self.path)


class Taxonomy:
    """The categories, their ancestry and the keyword table that finds them in text."""

    __slots__ = ("categories", "keywords", "sha256", "_ancestors")

    def __init__(self, categories: Mapping[str, Category], keywords: PhraseTable[tuple[str, ...]], sha256: str) -> None:
        self.categories: Mapping[str, Category] = MappingProxyType(dict(categories))
        self.keywords = keywords
        self.sha256 = sha256
        ancestors: dict[str, tuple[str, ...]] = {}
        for category_id in self.categories:
            chain, current = [], category_id
            while current is not None:
                if current in chain:
                    raise TaxonomyError(f"category {category_id} is its own ancestor")
                chain.append(current)
                current = self.categories[current].parent_id
            ancestors[category_id] = tuple(chain)
        self._ancestors = MappingProxyType(ancestors)

    def __contains__(self, category_id: object) -> bool:
        return category_id in self.categories

    def ancestors(self, category_id: str) -> tuple[str, ...]:
        """The category and every ancestor, nearest first."""
        return self._ancestors[category_id]

    def with_ancestors(self, category_ids: Iterable[str]) -> frozenset[str]:
        found: set[str] = set()
        for category_id in category_ids:
            found.update(self._ancestors[category_id])
        return frozenset(found)

    def targetable(self, category_ids: Iterable[str]) -> tuple[str, ...]:
        """The ids, checked: each must exist and be targetable. Sorted, without duplicates."""
        checked = set()
        for category_id in category_ids:
            category = self.categories.get(category_id)
            if category is None:
                raise AdsValueError(f"unknown category {category_id!r} (see the {TAXONOMY_NAME})")
            if category.block is not None:
                raise AdsValueError(f"category {category_id} ({category.label}) may not be targeted: {category.block}")
            checked.add(category_id)
        return tuple(sorted(checked))


def _read_data(name: str) -> bytes:
    try:
        return resources.files("revstream.ads").joinpath("data", name).read_bytes()
    except OSError as error:
        raise TaxonomyError(f"the shipped file {name} cannot be read: {error}") from error


def _parse_taxonomy(raw: bytes) -> dict[str, tuple[str | None, str, tuple[str, ...]]]:
    """id → (parent id, name, tier path) from the IAB TSV (two header rows)."""
    rows = raw.decode("utf-8").splitlines()
    if len(rows) < 3 or not rows[1].startswith("Unique ID\tParent\tName"):
        raise TaxonomyError(f"{TAXONOMY_FILE}: not the expected header")
    parsed: dict[str, tuple[str | None, str, tuple[str, ...]]] = {}
    for number, row in enumerate(rows[2:], start=3):
        fields = row.split("\t")
        if len(fields) < 7 or not fields[0].strip() or not fields[2].strip():
            raise TaxonomyError(f"{TAXONOMY_FILE}:{number}: malformed row")
        category_id, parent_id, name = fields[0].strip(), fields[1].strip() or None, fields[2].strip()
        if category_id in parsed:
            raise TaxonomyError(f"{TAXONOMY_FILE}:{number}: duplicate id {category_id}")
        path = tuple(tier.strip() for tier in fields[3:7] if tier.strip())
        parsed[category_id] = (parent_id, name, path)
    if len(parsed) > categories_max:
        raise TaxonomyError(f"{TAXONOMY_FILE}: more than {categories_max} categories")
    for category_id, (parent_id, _, _) in parsed.items():
        if parent_id is not None and parent_id not in parsed:
            raise TaxonomyError(f"{TAXONOMY_FILE}: category {category_id} has unknown parent {parent_id}")
    return parsed


def _parse_annotations(text: str, known: Mapping[str, object]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """id → (block, keyword texts) from ``category_keywords.tsv``."""
    annotations: dict[str, tuple[str, tuple[str, ...]]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise TaxonomyError(f"{KEYWORDS_FILE}:{number}: expected ID, BLOCK and KEYWORDS separated by tabs")
        category_id, block, keywords = (field.strip() for field in fields)
        if category_id not in known:
            raise TaxonomyError(f"{KEYWORDS_FILE}:{number}: unknown category {category_id}")
        if category_id in annotations:
            raise TaxonomyError(f"{KEYWORDS_FILE}:{number}: category {category_id} annotated twice")
        if block != "-" and block not in TAXONOMY_BLOCKS:
            raise TaxonomyError(f"{KEYWORDS_FILE}:{number}: unknown block {block!r}")
        annotations[category_id] = (block, tuple(k.strip() for k in keywords.split(",") if k.strip()))
    return annotations


def name_keywords(name: str) -> tuple[str, ...]:
    """The parts of a category name used as keywords (``Bars & Restaurants`` → bars, restaurants)."""
    parts = _NAME_SPLIT.split(_PARENS.sub(" ", name))
    return tuple(part for part in (p.strip() for p in parts) if len(part) > 1)


def _blocks(parsed: Mapping[str, tuple[str | None, str, tuple[str, ...]]],
            annotations: Mapping[str, tuple[str, tuple[str, ...]]]) -> dict[str, str | None]:
    """Each category's effective block: its own, else its parent's. Unblocking under a block is an error."""
    blocks: dict[str, str | None] = {}

    def resolve(category_id: str) -> str | None:
        if category_id in blocks:
            return blocks[category_id]
        parent_id = parsed[category_id][0]
        inherited = resolve(parent_id) if parent_id is not None else None
        own = annotations.get(category_id, ("-", ()))[0]
        if own == "-" and inherited is not None and category_id in annotations:
            raise TaxonomyError(f"{KEYWORDS_FILE}: category {category_id} unblocks a subtree blocked as {inherited}")
        blocks[category_id] = inherited if own == "-" else own
        return blocks[category_id]

    for category_id in parsed:
        resolve(category_id)
    return blocks


def load_taxonomy() -> Taxonomy:
    """The shipped taxonomy with our keywords and blocks; raises TaxonomyError if anything is off.

    Loading parses two small files (a few milliseconds): do it once per process and keep the
    value (the gateway keeps it in its application state)."""
    raw = _read_data(TAXONOMY_FILE)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != TAXONOMY_SHA256:
        raise TaxonomyError(f"{TAXONOMY_FILE} has SHA-256 {digest}, not the published {TAXONOMY_SHA256}")
    parsed = _parse_taxonomy(raw)
    annotations = _parse_annotations(_read_data(KEYWORDS_FILE).decode("utf-8"), parsed)
    blocks = _blocks(parsed, annotations)
    categories = {
        category_id: Category(category_id, parent_id, name, path, blocks[category_id])
        for category_id, (parent_id, name, path) in parsed.items()
    }
    by_phrase: dict[tuple[str, ...], set[str]] = {}
    for category_id, (_, name, _) in parsed.items():
        keywords = annotations.get(category_id, ("-", ()))[1]
        texts = keywords[1:] if keywords[:1] == (_NO_NAME,) else name_keywords(name) + keywords
        for text in texts:
            try:
                key = phrase(text)
            except AdsValueError as error:
                raise TaxonomyError(f"{KEYWORDS_FILE}: category {category_id}: {error}") from error
            by_phrase.setdefault(key, set()).add(category_id)
    table = PhraseTable((key, tuple(sorted(ids))) for key, ids in by_phrase.items())
    return Taxonomy(categories, table, digest)
