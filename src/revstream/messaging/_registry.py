"""The channel adapters by kind: adding a channel is one entry here (and one class)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final, Mapping

from revstream.messaging._adapters import ChannelAdapter
from revstream.messaging._errors import MessagingValueError
from revstream.messaging._webchat import WebchatAdapter
from revstream.messaging._whatsapp import WhatsAppAdapter

ADAPTERS: Final[Mapping[str, ChannelAdapter]] = MappingProxyType({
    "webchat": WebchatAdapter(),
    "whatsapp": WhatsAppAdapter(),
})
"""Stateless adapters, one per channel kind."""


def adapter_for(kind: str) -> ChannelAdapter:
    """The adapter of channel ``kind``; raises ``MessagingValueError`` for an unknown kind."""
    adapter = ADAPTERS.get(kind)
    if adapter is None:
        raise MessagingValueError(f"no adapter for channel kind {kind!r}; known: {', '.join(sorted(ADAPTERS))}")
    return adapter
