"""Counting tokens locally, for upstreams that do not report usage.

With `tokenizer = "path/to/model.gguf"` the model's own vocabulary is loaded (vocab
only, no weights) and counts are exact for that model: a chat prompt is counted as
the model sees it, through its chat template (the configured `chat_template`, else
the GGUF's `tokenizer.chat_template`), default system prompt and all. Without a
vocabulary, counts are estimated at one token per four bytes (of the rendered
template where one is configured) and recorded with usage_source "estimate", so
nobody mistakes them for exact figures.

A counter never sees the network; `_upstream_count` asks the upstream itself.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ._base import ChatMessage, GenerationRequest, UsageSource
from ._template import ChatTemplate, read_template_source
from ._vocab import Vocabulary

log = logging.getLogger(__name__)

BYTES_PER_TOKEN_ESTIMATE = 4
# Without a chat template, each message is taken to cost its content plus this much
# role framing (OpenAI's own counting guide does the same)...
FRAMING_TOKENS_PER_MESSAGE_ESTIMATE = 4
# ...and a bound on the prompt (for the money reserved before the upstream answers)
# allows this much per message and per request for a template nobody told us about
# (a default system prompt: SmolLM2's is 20 tokens, Llama 3.1's about 25).
FRAMING_TOKENS_PER_MESSAGE_MAX = 16
FRAMING_TOKENS_PER_REQUEST_MAX = 256
# A BOS, and the space SentencePiece vocabularies put before a prompt.
PROMPT_EXTRA_TOKENS_MAX = 2


def estimate_tokens(text: str) -> int:
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN_ESTIMATE)


class TokenCounter:
    """Local token counts for one model. Loading (a GGUF's vocabulary, a template file)
    happens once, in `load()` at start, or on first use."""

    def __init__(self, gguf_path: Path | None, chat_template: str | None = None, name: str = "model") -> None:
        self._path = gguf_path
        self._template_setting = chat_template
        self._name = name
        self._vocab: Vocabulary | None = None
        self._template: ChatTemplate | None = None
        self._loaded = False
        self._lock = threading.Lock()

    @property
    def source(self) -> UsageSource:
        """How text (not chat prompts: see `count_prompt`) is counted."""
        return "tokenizer" if self._path is not None else "estimate"

    def load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            template_source = None
            if self._template_setting:
                template_source = read_template_source(self._template_setting, self._name)
            bos_text = eos_text = ""
            if self._path is not None:
                from llama_cpp import Llama

                self._vocab = Vocabulary(Llama(model_path=str(self._path), vocab_only=True, verbose=False))
                template_source = template_source or self._vocab.chat_template_source
                bos_text, eos_text = self._vocab.bos_text, self._vocab.eos_text
            if template_source:
                self._template = ChatTemplate(template_source, bos_text, eos_text, self._name)
            self._loaded = True

    @property
    def template(self) -> ChatTemplate | None:
        self.load()
        return self._template

    @property
    def vocabulary(self) -> Vocabulary | None:
        self.load()
        return self._vocab

    def count_text(self, text: str) -> int:
        if not text:
            return 0
        vocab = self.vocabulary
        if vocab is None:
            return estimate_tokens(text)
        return len(vocab.tokenize_text(text, add_bos=False))

    def count_prompt(self, request: GenerationRequest) -> tuple[int, UsageSource]:
        """The prompt's tokens as the model sees them, and whether that is exact."""
        vocab, template = self.vocabulary, self.template
        if request.endpoint == "completion":
            if vocab is None:
                return estimate_tokens(request.prompt), "estimate"
            return len(vocab.tokenize_text(request.prompt, add_bos=True)), "tokenizer"
        if template is None:
            return self._count_framed(request.messages), "estimate"
        pieces = template.render(request.messages)
        if vocab is None:
            return estimate_tokens("".join(piece.text for piece in pieces)), "estimate"
        return len(vocab.tokenize_pieces(pieces)), "tokenizer"

    def _count_framed(self, messages: tuple[ChatMessage, ...]) -> int:
        return sum(self.count_text(m.content) + FRAMING_TOKENS_PER_MESSAGE_ESTIMATE for m in messages)

    def tokens_min(self, text_bytes: int) -> int:
        """The fewest tokens `text_bytes` of caller text can take (0 without a vocabulary)."""
        vocab = self.vocabulary
        return vocab.tokens_min(text_bytes) if vocab is not None else 0

    def prompt_bound(self, request: GenerationRequest) -> int:
        """An upper bound on the prompt's tokens, without tokenizing: no tokenizer makes a
        token of less than one byte, so bytes bound tokens (plus a BOS). With a known
        template the rendered prompt's bytes are the bound; without one, a generous
        allowance for the unknown template's framing is added.
        (Without a template that allowance is generous, not a proof.)"""
        if request.endpoint == "completion":
            return len(request.prompt.encode("utf-8")) + PROMPT_EXTRA_TOKENS_MAX
        template = self.template
        if template is not None:
            return len(template.render_text(request.messages).encode("utf-8")) + PROMPT_EXTRA_TOKENS_MAX
        return (sum(len(m.content.encode("utf-8")) + FRAMING_TOKENS_PER_MESSAGE_MAX for m in request.messages)
                + FRAMING_TOKENS_PER_REQUEST_MAX)
