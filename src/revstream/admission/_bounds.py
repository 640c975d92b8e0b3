"""How many tokens a request may use, known before the backend counts anything.

Bounding by bytes. A byte-level BPE tokenizer never makes a token of less than one byte, so a
prompt has at most as many tokens as it has UTF-8 bytes, plus the tokens its chat template adds
(special tokens, role names, a default system prompt, the generation prompt), which the two
allowances below bound. The rate limits are charged with that bound plus the completion's
before the backend tokenizes anything.
"""

from __future__ import annotations

from typing import Final

from revstream.plans import Plan

TEMPLATE_TOKENS_MAX: Final = 64
"""Tokens a chat template adds once per prompt at most: BOS, a default system prompt, the
generation prompt (SmolLM2's ChatML adds 25; a completion prompt adds BOS only)."""
TEMPLATE_TOKENS_PER_MESSAGE_MAX: Final = 16
"""Tokens a chat template adds around each message at most (ChatML and Llama 3 add 5)."""


def prompt_tokens_bound(content_bytes: int, messages: int | None) -> int:
    """The most tokens a prompt of `content_bytes` UTF-8 bytes can tokenize to: a chat of
    `messages` messages, or a completion prompt (`messages` None)."""
    if messages is None:
        return content_bytes + TEMPLATE_TOKENS_MAX
    return content_bytes + TEMPLATE_TOKENS_PER_MESSAGE_MAX * messages + TEMPLATE_TOKENS_MAX


def completion_tokens_bound(max_tokens: int | None, max_tokens_max: int, context_window: int | None) -> int:
    """The most tokens a completion can have before the prompt is counted: `max_tokens` (or the
    largest allowed), and never more than the model's context window."""
    bound = max_tokens if max_tokens is not None else max_tokens_max
    return bound if context_window is None else min(bound, context_window)


def plan_rate_limits(plan: Plan | None) -> tuple[int | None, int | None] | None:
    """(requests, tokens) per minute a plan holds its customer to; None: no plan limit."""
    if plan is None or (plan.requests_per_minute is None and plan.tokens_per_minute is None):
        return None
    return plan.requests_per_minute, plan.tokens_per_minute
