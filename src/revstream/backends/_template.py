"""Chat templates, rendered so that only the template's own text can name special tokens.

A chat template (Jinja, as a GGUF's `tokenizer.chat_template` or a Hugging Face
tokenizer_config.json holds it) turns a conversation into one prompt string. Tokenizing
that whole string with special tokens enabled lets a user who writes `<|im_end|>` in a
message forge turns. So the template never sees a message's content: it is rendered
with a unique sentinel in place of each content, and the result is split into
`PromptPiece`s: the template's scaffolding, which may name special tokens, and the
contents, which are always plain text. The tokenizer treats each kind accordingly
(see `_vocab.Vocabulary.tokenize_pieces`).

Because contents bypass the template, a template that transforms them (`| trim`
aside, which is detected once per template) sees only sentinels: what it would have
cut or rewritten stays as the user wrote it. Rendering costs the same for a
multi-megabyte message as for a short one.

Errors: `PromptRejected(INVALID_MESSAGES)` when the template refuses the conversation
(its `raise_exception`, e.g. roles that do not alternate); `BackendError` when the
template itself fails (a host's configuration problem).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ._base import INVALID_MESSAGES, BackendError, ChatMessage, PromptRejected

# How a configured `chat_template` value is told apart from a file path.
INLINE_MARKERS = ("{{", "{%")
TEMPLATE_BYTES_MAX = 1024 * 1024
# Conversations rendered once per template to learn which roles' contents it trims; two,
# because some templates refuse a system message (Gemma's) and others need one first.
PROBE_CONVERSATIONS = (("user", "assistant", "user"), ("system", "user"))
# A sentinel is SENTINEL_OPEN + a per-render nonce + ":" + the message's index + SENTINEL_CLOSE
# (Unicode private-use characters, which no template writes).
SENTINEL_OPEN = "\ue000"
SENTINEL_CLOSE = "\ue001"


@dataclass(frozen=True, slots=True)
class PromptPiece:
    """A run of prompt text. `is_content`: written by the caller, so plain text only."""

    text: str
    is_content: bool


class _Refused(Exception):
    """The template called raise_exception(message)."""


class _IgnoreGenerationTags(jinja2.ext.Extension):
    """Hugging Face's `{% generation %}` block (marks assistant turns for training): render its body."""

    tags = {"generation"}

    def parse(self, parser):
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators=None, sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message: str) -> None:
    raise _Refused(message)


def _strftime_now(format_: str) -> str:
    return datetime.now().strftime(format_)


def _sentinel(nonce: str, index: int) -> str:
    return f"{SENTINEL_OPEN}{nonce}:{index}{SENTINEL_CLOSE}"


def is_inline_template(value: str) -> bool:
    return any(marker in value for marker in INLINE_MARKERS)


class ChatTemplate:
    """A compiled chat template. `bos_token`/`eos_token` are the texts of the model's
    special tokens, handed to the template as Hugging Face does."""

    def __init__(self, source: str, bos_token: str = "", eos_token: str = "", name: str = "model") -> None:
        self.source = source
        self._name = name
        self._bos_token = bos_token
        self._eos_token = eos_token
        environment = ImmutableSandboxedEnvironment(
            loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True,
            extensions=[_IgnoreGenerationTags, jinja2.ext.loopcontrols],
        )
        environment.filters["tojson"] = _tojson
        try:
            self._template = environment.from_string(source)
        except jinja2.TemplateError as error:
            raise BackendError(f"the chat template of {name} does not compile: {error}") from error
        self._trims = self._probe_trimming()

    def _render(self, messages: list[dict[str, str]]) -> str:
        try:
            return self._template.render(
                messages=messages, bos_token=self._bos_token, eos_token=self._eos_token, add_generation_prompt=True,
                raise_exception=_raise_exception, strftime_now=_strftime_now,
            )
        except _Refused as error:
            raise PromptRejected(f"the chat template of {self._name} refused the messages: {error}", INVALID_MESSAGES,
                                 "messages") from error
        except (jinja2.TemplateError, TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
            raise BackendError(f"the chat template of {self._name} failed: {type(error).__name__}: {error}") from error

    def _probe_trimming(self) -> frozenset[str]:
        """Roles whose content the template trims (`message['content'] | trim`, as Llama 3's
        and Gemma's do): a padded sentinel comes out bare. A conversation the template
        refuses teaches nothing; a role never seen is taken not to be trimmed."""
        trimmed: set[str] = set()
        nonce = secrets.token_hex(8)
        for roles in PROBE_CONVERSATIONS:
            sentinels = [_sentinel(nonce, index) for index in range(len(roles))]
            try:
                rendered = self._render([{"role": role, "content": f" {s} "} for role, s in zip(roles, sentinels)])
            except BackendError:
                continue
            trimmed.update(role for role, sentinel in zip(roles, sentinels)
                           if sentinel in rendered and f" {sentinel} " not in rendered)
        return frozenset(trimmed)

    def render(self, messages: tuple[ChatMessage, ...]) -> tuple[PromptPiece, ...]:
        """The prompt as scaffolding and content pieces, in order."""
        nonce = secrets.token_hex(8)
        contents: dict[str, str] = {}
        rendered_messages = []
        for index, message in enumerate(messages):
            content = message.content.strip() if message.role in self._trims else message.content
            if not content:
                rendered_messages.append({"role": message.role, "content": ""})
                continue
            sentinel = _sentinel(nonce, index)
            contents[sentinel] = content
            rendered_messages.append({"role": message.role, "content": sentinel})
        return self._split(self._render(rendered_messages), nonce, contents)

    def _split(self, rendered: str, nonce: str, contents: dict[str, str]) -> tuple[PromptPiece, ...]:
        pieces: list[PromptPiece] = []
        head = SENTINEL_OPEN + nonce + ":"
        position = 0
        while (start := rendered.find(head, position)) >= 0:
            end = rendered.find(SENTINEL_CLOSE, start)
            sentinel = rendered[start : end + 1]
            if end < 0 or sentinel not in contents:
                raise BackendError(f"the chat template of {self._name} rewrites message contents; it cannot be used")
            if start > position:
                pieces.append(PromptPiece(rendered[position:start], False))
            pieces.append(PromptPiece(contents[sentinel], True))
            position = end + 1
        if position < len(rendered):
            pieces.append(PromptPiece(rendered[position:], False))
        scaffolding = "".join(piece.text for piece in pieces if not piece.is_content)
        if SENTINEL_OPEN in scaffolding or SENTINEL_CLOSE in scaffolding:  # a sentinel cut or rewritten
            raise BackendError(f"the chat template of {self._name} rewrites message contents; it cannot be used")
        return tuple(pieces)

    def render_text(self, messages: tuple[ChatMessage, ...]) -> str:
        """The whole prompt as one string (for counting by an upstream or an estimate)."""
        return "".join(piece.text for piece in self.render(messages))


def read_template_source(value: str, name: str) -> str:
    """A configured `chat_template`: inline Jinja, or the path of a file holding it
    (a `.jinja` file, or a Hugging Face tokenizer_config.json with a `chat_template`)."""
    if is_inline_template(value):
        return value
    path = Path(value).expanduser()
    try:
        with path.open("rb") as file:
            raw = file.read(TEMPLATE_BYTES_MAX + 1)
    except OSError as error:
        raise BackendError(f"chat template file for {name} cannot be read: {error}") from error
    if len(raw) > TEMPLATE_BYTES_MAX:
        raise BackendError(f"chat template file for {name} is over {TEMPLATE_BYTES_MAX} bytes")
    text = raw.decode("utf-8", "replace")
    if path.suffix == ".json":
        try:
            text = json.loads(text)["chat_template"]
        except (ValueError, KeyError, TypeError) as error:
            raise BackendError(f"{path} holds no 'chat_template' string") from error
        if not isinstance(text, str):
            raise BackendError(f"{path}: 'chat_template' is not a single template string")
    return text
