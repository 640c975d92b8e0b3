"""The usage meter a backend fills in while it generates.

The gateway reads it when the request ends, however it ends (finished, client gone,
error), so the usage record always holds the tokens actually generated."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ._base import UsageSource


@dataclass(slots=True)
class UsageMeter:
    tokens_prompt: int = 0
    tokens_completion: int = 0
    usage_source: UsageSource = "backend"
    # Text delivered so far, kept only by backends that must count it afterwards.
    text_parts: list[str] = field(default_factory=list)
    # Set by the backend once generation has fully stopped (its thread returned,
    # its upstream response closed): only then are the counts final.
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    ttft_ms: int | None = None
