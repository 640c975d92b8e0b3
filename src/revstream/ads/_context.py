"""A conversation as the ads core sees it, and the taxonomy categories it is about.

Only the text of *this* request counts: its messages (every role; text parts of multi-part
contents) and the answer the model gave. No user id, no earlier conversation, no profile.
``read_conversation`` turns that text into terms once; the classifier, the category matcher
and the campaign index all read the same terms.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from revstream.ads._errors import AdsValueError
from revstream.ads._taxonomy import Taxonomy
from revstream.ads._text import terms

conversation_id_chars_max = 256
conversation_secret_bytes_min = 32
conversation_chars_max = 200_000
"""Longest conversation judged; a longer one is not read at all and gets no ad (``too_long``)."""
messages_max = 1024
"""Most messages read from one request (beyond: ``too_long``)."""
_SEPARATOR = ""
"""Put between two texts: no phrase spans two messages (the tokenizer never yields an empty term)."""


@dataclass(frozen=True, slots=True)
class Conversation:
    """The terms of one request's messages and answer, and the texts themselves (for an
    upstream classifier); ``too_long`` when it was not read (no terms, no texts)."""

    terms: tuple[str, ...]
    texts: tuple[str, ...] = ()
    too_long: bool = False


def message_texts(messages: Sequence[Mapping[str, object]], answer: str) -> tuple[str, ...]:
    """The texts of an OpenAI-style ``messages`` list and the answer, in order.

    A message's ``content`` is a string or a list of parts; parts of type ``text`` count, other
    parts (images, audio) carry no text and are skipped. A ``refusal`` string counts too.
    """
    if len(messages) > messages_max:
        raise AdsValueError(f"more than {messages_max} messages")
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(part["text"] for part in content if isinstance(part, Mapping)
                         and part.get("type") == "text" and isinstance(part.get("text"), str))
        refusal = message.get("refusal")
        if isinstance(refusal, str):
            texts.append(refusal)
    texts.append(answer)
    return tuple(texts)


def read_conversation(texts: Iterable[str]) -> Conversation:
    """The conversation's terms, or ``too_long`` past ``conversation_chars_max`` characters."""
    collected: list[str] = []
    kept: list[str] = []
    chars = 0
    for text in texts:
        if not isinstance(text, str):
            raise AdsValueError(f"a conversation text must be a string, not {type(text).__name__}")
        chars += len(text)
        if chars > conversation_chars_max:
            return Conversation((), (), too_long=True)
        collected.extend(terms(text))
        collected.append(_SEPARATOR)
        kept.append(text)
    return Conversation(tuple(collected), tuple(kept))


@dataclass(frozen=True, slots=True)
class CategoryMatch:
    """Targetable categories the conversation is about → the phrases that showed it.

    An ancestor carries the phrases of its matched descendants (a conversation about cruises is
    about travel, because of the word "cruise")."""

    phrases: Mapping[str, tuple[str, ...]]

    @property
    def category_ids(self) -> frozenset[str]:
        return frozenset(self.phrases)


def match_categories(taxonomy: Taxonomy, conversation: Conversation) -> CategoryMatch:
    """The targetable categories whose keywords occur in the conversation, with their ancestors.

    Blocked categories are left out here: they can never be targeted, and a conversation about
    one is caught by the sensitive-topic classifier, which loads their keywords too."""
    found: dict[str, set[str]] = {}
    categories = taxonomy.categories
    for match in taxonomy.keywords.find(conversation.terms):
        text = " ".join(match.phrase)
        for category_id in match.value:
            for ancestor in taxonomy.ancestors(category_id):
                if categories[ancestor].block is None:
                    found.setdefault(ancestor, set()).add(text)
    return CategoryMatch(MappingProxyType({key: tuple(sorted(value)) for key, value in sorted(found.items())}))


def conversation_key(conversation_id: str | None, first_message: str, secret: bytes) -> str:
    """The frequency-cap key of a conversation: a keyed hash of the conversation id the client
    sent, else of the conversation's first message. Never a user id; meaningless without the
    host's secret; the same for every request of one conversation."""
    if not isinstance(secret, bytes) or len(secret) < conversation_secret_bytes_min:
        raise AdsValueError(f"the conversation-key secret is at least {conversation_secret_bytes_min} random bytes")
    if conversation_id is not None:
        if not isinstance(conversation_id, str) or not 0 < len(conversation_id) <= conversation_id_chars_max:
            raise AdsValueError(f"a conversation id is 1..{conversation_id_chars_max} characters")
        material = b"id\x00" + conversation_id.encode("utf-8")
    else:
        if not isinstance(first_message, str):
            raise AdsValueError("the first message must be text")
        material = b"first\x00" + first_message.encode("utf-8")
    return hmac.digest(secret, material, "sha256").hex()[:32]
