"""Terms, phrases and the conversation: what the ads core reads of a request."""

from __future__ import annotations

import pytest

from revstream.ads import AdsValueError, conversation_key, match_categories, message_texts, read_conversation
from revstream.ads._context import conversation_chars_max
from revstream.ads._text import PhraseTable, phrase, terms


@pytest.mark.parametrize("text,expected", [
    ("Running SHOES", ("running", "shoe")),
    ("self-harm", ("self", "harm")),
    ("I’m 14", ("i'm", "14")),
    ("batteries and glasses", ("battery", "and", "glasses")),
    ("headaches, watches, boxes", ("headache", "watch", "box")),
    ("the dog's news", ("the", "dog", "news")),
    ("Children", ("child",)),
])
def test_terms_fold_case_plurals_and_apostrophes(text, expected):
    assert terms(text) == expected


def test_phrases_are_bounded():
    assert phrase("Trail Running Shoes") == ("trail", "running", "shoe")
    with pytest.raises(AdsValueError):
        phrase("")
    with pytest.raises(AdsValueError):
        phrase("one two three four five six")


def test_a_phrase_table_finds_every_occurrence_longest_first():
    table = PhraseTable([(("new", "york"), "city"), (("new",), "word"), (("york",), "word")])
    found = [(m.start, m.length, m.value) for m in table.find(terms("new york and new shoes"))]
    assert found == [(0, 2, "city"), (0, 1, "word"), (1, 1, "word"), (3, 1, "word")]


def test_message_texts_reads_every_text_part_and_the_answer():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Look at this"},
                                     {"type": "image_url", "image_url": {"url": "https://x.example/a.png"}}]},
        {"role": "assistant", "content": None, "refusal": "I can't."},
    ]
    assert message_texts(messages, "The answer.") == ("Be brief.", "Look at this", "I can't.", "The answer.")


def test_a_too_long_conversation_is_not_read():
    conversation = read_conversation(["x" * conversation_chars_max, "y"])
    assert conversation.too_long and conversation.terms == () and conversation.texts == ()


def test_categories_carry_their_ancestors_and_skip_blocked_ones(taxonomy):
    conversation = read_conversation(["Which Caribbean cruise is best?", "Take insulin with food."])
    found = match_categories(taxonomy, conversation)
    assert {"678", "664", "653"} <= found.category_ids
    assert found.phrases["653"] == ("cruise",)
    assert "317" not in found.category_ids  # Diabetes: blocked, never targetable


def test_the_conversation_key_is_keyed_and_stable():
    secret, other = b"s" * 32, b"t" * 32
    by_id = conversation_key("conv-42", "hello", secret)
    assert by_id == conversation_key("conv-42", "something else", secret)
    assert by_id != conversation_key("conv-42", "hello", other)
    by_first = conversation_key(None, "hello", secret)
    assert by_first == conversation_key(None, "hello", secret) != by_id
    assert len(by_id) == 32
    with pytest.raises(AdsValueError):
        conversation_key("x", "hello", b"short")
    with pytest.raises(AdsValueError):
        conversation_key("", "hello", secret)
