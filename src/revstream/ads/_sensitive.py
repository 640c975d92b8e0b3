"""The local sensitive-topic classifier: a lexicon, a masking rule and a few age rules.

Fast (one dictionary probe per term for most terms, no model), deterministic, and auditable:
every verdict names the phrases that caused it. The rule it serves is asymmetric — a
conversation on a sensitive topic must never carry an ad; a harmless one that loses its ad is
a cost — so the lexicon leans wide, and a conversation it cannot judge gets no ad.

How a verdict is reached, on the conversation's terms (see ``_text``):

1. Every phrase of the table is found: ``data/sensitive_terms.tsv`` (ours) plus the keywords
   of every taxonomy category blocked for a sensitive topic or ``unsafe``.
2. A match lying wholly inside a longer match is decided by the longer one: "great
   depression" (neutral) hides "depression"; "european union" (politics) hides "union".
3. Age rules (``minor_signals``): a first-person age under 18 ("I'm 14", "i am only 12"),
   "N year old" / "Nyo" with N under 18, "I just turned 13", an Nth birthday under 18, a
   school grade ("7th grade", "I'm in year 9").
4. A conversation that is too long, or not recognisably English (the lexicon is English), is
   *unjudged*: it gets no ad either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from revstream.ads._context import Conversation
from revstream.ads._errors import AdsValueError, TaxonomyError
from revstream.ads._taxonomy import Taxonomy
from revstream.ads._text import PhraseTable, phrase, phrase_terms_max
from revstream.ads._topics import CONVERSATION_BLOCKS, MINORS

LEXICON_FILE = "sensitive_terms.tsv"
UNJUDGED_TOO_LONG = "too_long"
UNJUDGED_LANGUAGE = "language"
UNJUDGED_UPSTREAM = "upstream_failed"
evidence_max = 32
"""Most matched phrases a verdict keeps as evidence."""
language_check_terms_min = 6
"""Conversations with at least this many terms must look English (see ``english_share_min``)."""
english_share_min = (1, 10)
"""At least 1 term in 10 must be an English function word, else the conversation is unjudged."""
non_ascii_letters_share_max = (1, 5)
"""More than 1 letter in 5 outside ASCII: a script the lexicon cannot read; unjudged."""

_IDENTITY_FORMS = (
    "i'm {}", "i'm a {}", "i'm an {}", "i am {}", "i am a {}", "i am an {}", "im {}", "im a {}", "im an {}",
    "i'm half {}", "as a {}", "as an {}", "being {}", "being a {}", "we're {}", "we are {}",
)
_ORIGIN_FORMS = (
    "{} parents", "{} roots", "{} heritage", "{} descent", "{} ancestry", "{} background", "{} people",
    "{} community", "{} minority", "{} immigrants",
)
_DIRECTIVES = {"@identity": _IDENTITY_FORMS, "@origin": _ORIGIN_FORMS}
_ENGLISH = frozenset(
    "the a an and or but of to in on for with at by from about as is are was were be been am i i'm im you he she "
    "it we they me my your our their this that these those what which who how why when where can could should "
    "would will do does did not no if then than so there here have has had get best good some any all more most "
    "very just also into over under after before between up out down much many make use need want like please "
    "help explain write give tell recommend suggest compare find show it's don't can't i've i'd i'll".split()
)


@dataclass(frozen=True, slots=True)
class Sensitivity:
    """A verdict: the blocking topics found (sorted), the phrases that showed them, and
    ``unjudged`` (why the conversation could not be judged) or None. Either means no ad."""

    topics: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    unjudged: str | None = None

    @property
    def blocks_ads(self) -> bool:
        return bool(self.topics) or self.unjudged is not None


def _lexicon_entries(text: str) -> Iterable[tuple[tuple[str, ...], str]]:
    """(phrase, topic) pairs from the lexicon file; topic "" is neutral."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split("\t")]
        if fields[0] in _DIRECTIVES and len(fields) == 3:
            topic, words, forms = fields[1], fields[2], _DIRECTIVES[fields[0]]
        elif len(fields) == 2:
            topic, words, forms = fields[0], fields[1], ("{}",)
        else:
            raise TaxonomyError(
                f"{LEXICON_FILE}:{number}: expected TOPIC<TAB>PHRASES or @DIRECTIVE<TAB>TOPIC<TAB>WORDS")
        if topic != "-" and topic not in CONVERSATION_BLOCKS:
            raise TaxonomyError(f"{LEXICON_FILE}:{number}: unknown topic {topic!r}")
        for word in (w.strip() for w in words.split(",")):
            if not word:
                continue
            for form in forms:
                try:
                    yield phrase(form.format(word)), "" if topic == "-" else topic
                except AdsValueError as error:
                    raise TaxonomyError(f"{LEXICON_FILE}:{number}: {error}") from error


def build_table(entries: Iterable[tuple[tuple[str, ...], str]]) -> PhraseTable[tuple[str, ...]]:
    """Phrase → its topics (``()`` for a neutral phrase). A phrase both neutral and sensitive is an error."""
    topics: dict[tuple[str, ...], set[str]] = {}
    for key, topic in entries:
        topics.setdefault(key, set()).add(topic)
    for key, found in topics.items():
        if "" in found and len(found) > 1:
            raise TaxonomyError(f"{LEXICON_FILE}: {' '.join(key)!r} is both neutral and {sorted(found - {''})}")
    return PhraseTable((key, tuple(sorted(found - {""}))) for key, found in topics.items())


class LocalClassifier:
    """The lexicon classifier. Build it once with ``load_classifier`` and share it: it is immutable."""

    __slots__ = ("table",)

    def __init__(self, table: PhraseTable[tuple[str, ...]]) -> None:
        self.table = table

    def classify(self, conversation: Conversation) -> Sensitivity:
        if conversation.too_long:
            return Sensitivity(unjudged=UNJUDGED_TOO_LONG)
        found_terms = conversation.terms
        if not _readable(found_terms):
            return Sensitivity(unjudged=UNJUDGED_LANGUAGE)
        matches = list(self.table.find(found_terms))
        longest_end: dict[int, int] = {}
        for match in matches:
            longest_end[match.start] = max(longest_end.get(match.start, 0), match.end)
        topics: set[str] = set()
        evidence: set[str] = set()
        for match in matches:
            if match.value and not _covered(match.start, match.end, longest_end):
                topics.update(match.value)
                evidence.add(" ".join(match.phrase))
        minor = minor_signals(found_terms)
        if minor:
            topics.add(MINORS)
            evidence.update(minor)
        return Sensitivity(tuple(sorted(topics)), tuple(sorted(evidence))[:evidence_max])


def _covered(start: int, end: int, longest_end: dict[int, int]) -> bool:
    """Whether a strictly longer match contains [start, end)."""
    for other in range(max(0, end - phrase_terms_max), start + 1):
        other_end = longest_end.get(other, -1)
        if other_end >= end and (other < start or other_end > end):
            return True
    return False


def _readable(found_terms: tuple[str, ...]) -> bool:
    words = letters = non_ascii = english = 0
    for term in found_terms:
        if not term:
            continue
        words += 1
        letters += len(term)
        if not term.isascii():
            non_ascii += sum(1 for char in term if ord(char) > 127)
        if term in _ENGLISH:
            english += 1
    if letters and non_ascii * non_ascii_letters_share_max[1] > letters * non_ascii_letters_share_max[0]:
        return False
    return words < language_check_terms_min or english * english_share_min[1] >= words * english_share_min[0]


def load_classifier(taxonomy: Taxonomy) -> LocalClassifier:
    """The shipped lexicon plus the keywords of the taxonomy's conversation-blocking categories."""
    try:
        text = resources.files("revstream.ads").joinpath("data", LEXICON_FILE).read_text("utf-8")
    except OSError as error:
        raise TaxonomyError(f"the shipped file {LEXICON_FILE} cannot be read: {error}") from error
    entries = list(_lexicon_entries(text))
    for key, category_ids in taxonomy.keywords.items():
        for category_id in category_ids:
            block = taxonomy.categories[category_id].block
            if block in CONVERSATION_BLOCKS:
                entries.append((key, block))
    neutral = {key for key, topic in entries if topic == ""}
    # A category keyword a neutral phrase of the lexicon already decides stays neutral.
    return LocalClassifier(build_table((key, topic) for key, topic in entries if topic == "" or key not in neutral))


# --- ages ------------------------------------------------------------------------------

_AGE_WORDS = {
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
}
_ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17,
}
_FILLERS = frozenset({"only", "just", "almost", "nearly", "now", "turning", "gonna", "be", "about", "literally"})
_UNITS = frozenset(
    "minute min hour hr second sec day week month km mile m cm mm kg g lb pound percent feet foot ft inch "
    "degree mph kph point pt dollar euro buck k grand time hand story floor step meter metre".split()
)
_AGED = re.compile(r"^(\d{1,2})(?:yo|yrs?|y/o)$")
_ORDINAL = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)$")
_MINOR_AGE = range(1, 18)


def _number(term: str) -> int | None:
    if term.isdigit() and len(term) <= 3:
        return int(term)
    return _AGE_WORDS.get(term)


def _ordinal(term: str) -> int | None:
    found = _ORDINAL.match(term)
    return int(found.group(1)) if found else _ORDINAL_WORDS.get(term)


def _first_person_age(found_terms: tuple[str, ...], index: int) -> int | None:
    """The age after "i'm" / "im" / "i am" at ``index`` (fillers allowed), unless a unit follows."""
    position = index + (2 if found_terms[index] == "i" else 1)
    while position < len(found_terms) and found_terms[position] in _FILLERS:
        position += 1
    if position >= len(found_terms):
        return None
    age = _number(found_terms[position])
    following = found_terms[position + 1] if position + 1 < len(found_terms) else ""
    return None if age is None or following in _UNITS else age


_TRIGGERS = frozenset(
    {"i'm", "im", "i", "turn", "turned", "turning", "age", "aged", "grade", "year"}
    | _AGE_WORDS.keys() | _ORDINAL_WORDS.keys()
)


def minor_signals(found_terms: tuple[str, ...]) -> tuple[str, ...]:
    """Evidence that the person writing is, or the conversation is about, someone under 18."""
    signals: list[str] = []
    count = len(found_terms)
    triggers = _TRIGGERS
    for index, term in enumerate(found_terms):
        if term not in triggers and not term[:1].isdigit():
            continue
        after = found_terms[index + 1] if index + 1 < count else ""
        after2 = found_terms[index + 2] if index + 2 < count else ""
        before = found_terms[max(0, index - 2):index]
        if term in ("i'm", "im") or (term == "i" and after == "am"):
            age = _first_person_age(found_terms, index)
            if age in _MINOR_AGE:
                signals.append(f"first-person age {age}")
        if term in ("turn", "turned", "turning") and ("i" in before or "i'm" in before or "im" in before):
            age = _number(after)
            if age in _MINOR_AGE:
                signals.append(f"turning {age}")
        age = _number(term)
        if age in _MINOR_AGE and ((after in ("year", "yr") and after2 == "old") or after in ("yo", "y/o")):
            signals.append(f"{age} years old")
        aged = _AGED.match(term)
        if aged and int(aged.group(1)) in _MINOR_AGE:
            signals.append(f"{aged.group(1)} years old")
        if term in ("age", "aged") and _number(after) in _MINOR_AGE:
            signals.append(f"aged {after}")
        ordinal = _ordinal(term)
        if ordinal in _MINOR_AGE and after == "birthday":
            signals.append(f"{term} birthday")
        if ordinal is not None and ordinal <= 12 and after in ("grade", "grader"):
            signals.append(f"{term} grade")
        if term == "grade" and before[-1:] == ("in",) and (_number(after) or 99) <= 12:
            signals.append(f"grade {after}")
        if term == "year" and before[-1:] == ("in",) and before[:1] in (("i'm",), ("im",), ("am",)):
            if (_number(after) or 99) <= 13:
                signals.append(f"school year {after}")
    return tuple(dict.fromkeys(signals))
