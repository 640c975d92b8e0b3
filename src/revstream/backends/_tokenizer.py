"""Counting tokens for upstreams that do not report usage.

With `tokenizer = "path/to/model.gguf"` the model's own vocabulary is loaded
(vocab only, no weights) and counts are exact for that model. Without one, counts
are estimated as one token per four bytes and recorded with usage_source
"estimate", so nobody mistakes them for exact figures.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ._base import ChatMessage, UsageSource

BYTES_PER_TOKEN_ESTIMATE = 4


class TokenCounter:
    def __init__(self, gguf_path: Path | None) -> None:
        self._path = gguf_path
        self._vocab = None
        self._lock = threading.Lock()

    @property
    def source(self) -> UsageSource:
        return "tokenizer" if self._path is not None else "estimate"

    def _load(self):
        if self._vocab is None and self._path is not None:
            from llama_cpp import Llama

            self._vocab = Llama(model_path=str(self._path), vocab_only=True, verbose=False)
        return self._vocab

    def count_text(self, text: str) -> int:
        if not text:
            return 0
        with self._lock:
            vocab = self._load()
            if vocab is None:
                return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN_ESTIMATE)
            return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count_messages(self, messages: tuple[ChatMessage, ...]) -> int:
        """Message contents plus a few tokens of role framing per message (an
        estimate of the chat template's overhead, as OpenAI's own counting guide does)."""
        framing_tokens_per_message = 4
        return sum(self.count_text(m.content) + framing_tokens_per_message for m in messages)
