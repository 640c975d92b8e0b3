"""A llama.cpp vocabulary that tokenizes prompts the safe way: special tokens only
where the chat template's own scaffolding names them, never from what a caller wrote.

llama.cpp's tokenizer, with special tokens enabled, cuts its input at the text of every
control token and tokenizes the plain runs between them. `tokenize_pieces` does the same
cut over the template's scaffolding only, joins each plain run with the contents next to
it, and tokenizes the runs with special tokens disabled. For a conversation whose
contents hold no special-token text, the ids equal those of tokenizing the whole
rendered prompt with special tokens enabled (what llama-server and llama-cpp-python's
server do), so counts agree with such upstreams; for one that does, a user's
`<|im_end|>` stays the plain text it is.

The vocabulary is read-only after loading; llama.cpp tokenizes on it from any thread.
"""

from __future__ import annotations

import re
from typing import Iterable

from ._template import PromptPiece

# Token attributes that llama.cpp matches as special text when parse_special is on.
_SPECIAL_ATTRS_NAMES = ("LLAMA_TOKEN_ATTR_CONTROL", "LLAMA_TOKEN_ATTR_UNKNOWN")
# No token is shorter than a byte, so a text of B bytes has at most B tokens, plus what
# the tokenizer adds around it (BOS, EOS, a SentencePiece space prefix).
ADDED_TOKENS_MAX = 4


class Vocabulary:
    """Wraps a loaded `llama_cpp.Llama` (weights, or `vocab_only=True`)."""

    def __init__(self, llama) -> None:
        import llama_cpp

        self._llama = llama
        self._llama_cpp = llama_cpp
        vocab = llama._model.vocab
        self._vocab = vocab
        special_attrs = 0
        for attr_name in _SPECIAL_ATTRS_NAMES:
            special_attrs |= getattr(llama_cpp, attr_name)
        specials: dict[str, int] = {}
        longest = 1
        for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
            text = llama_cpp.llama_vocab_get_text(vocab, token) or b""
            longest = max(longest, len(text))
            if llama_cpp.llama_vocab_get_attr(vocab, token) & special_attrs and text:
                specials.setdefault(text.decode("utf-8", "replace"), token)
        self._specials = specials
        # Longest first, so that a token whose text contains another's wins (as in llama.cpp).
        alternatives = sorted(specials, key=len, reverse=True)
        self._special_pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None
        # An upper bound on the UTF-8 bytes of one token's text: a text of B bytes has at
        # least B // token_bytes_max tokens (the stored text of a token is never shorter
        # than the bytes it stands for: byte-level BPE and SentencePiece both widen them).
        self.token_bytes_max = longest
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        self.bos = llama.token_bos()
        self.bos_text = self._token_text(self.bos)
        self.eos_text = self._token_text(llama.token_eos())
        self.chat_template_source: str | None = llama.metadata.get("tokenizer.chat_template") or None

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llama.detokenize([token], special=True).decode("utf-8", "replace")

    def _tokenize(self, text: str, add_bos: bool) -> list[int]:
        """llama_tokenize into a buffer sized for the worst case, so that a long text is
        tokenized once (llama-cpp-python's own `tokenize` sizes its buffer by the training
        context, so a prompt longer than that is tokenized twice)."""
        data = text.encode("utf-8")
        capacity = len(data) + ADDED_TOKENS_MAX
        buffer = (self._llama_cpp.llama_token * capacity)()
        count = self._llama_cpp.llama_tokenize(self._vocab, data, len(data), buffer, capacity, add_bos, False)
        if count < 0:  # never for a real vocabulary; let llama-cpp-python size it
            return self._llama.tokenize(data, add_bos=add_bos, special=False)
        return buffer[:count]

    def tokens_min(self, text_bytes: int) -> int:
        """The fewest tokens any text of `text_bytes` UTF-8 bytes can take."""
        return text_bytes // self.token_bytes_max

    def tokenize_text(self, text: str, add_bos: bool) -> list[int]:
        """Plain text: special-token text in it stays text."""
        if not text:
            return [self.bos] if add_bos and self.add_bos else []
        return self._tokenize(text, add_bos)

    def _scaffold_parts(self, text: str) -> Iterable[str | int]:
        if self._special_pattern is None:
            yield text
            return
        position = 0
        for match in self._special_pattern.finditer(text):
            if match.start() > position:
                yield text[position : match.start()]
            yield self._specials[match.group()]
            position = match.end()
        if position < len(text):
            yield text[position:]

    def tokenize_pieces(self, pieces: tuple[PromptPiece, ...]) -> list[int]:
        """A rendered chat prompt: special tokens from the scaffolding only. A BOS is
        put first when the model wants one and the template did not write it."""
        tokens: list[int] = []
        run: list[str] = []

        def flush() -> None:
            if run:
                tokens.extend(self._tokenize("".join(run), add_bos=False))
                run.clear()

        for piece in pieces:
            if piece.is_content:
                run.append(piece.text)
                continue
            for part in self._scaffold_parts(piece.text):
                if isinstance(part, str):
                    run.append(part)
                else:
                    flush()
                    tokens.append(part)
        flush()
        if self.add_bos and (not tokens or tokens[0] != self.bos):
            tokens.insert(0, self.bos)
        return tokens
