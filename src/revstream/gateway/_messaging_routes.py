"""The routes of paid business messaging (issue 14), mounted by the app in one line."""

from __future__ import annotations

from starlette.routing import Route

from ._messaging_hooks import (
    webchat_events,
    webchat_page,
    webchat_read,
    webchat_write,
    whatsapp_subscribe,
    whatsapp_webhook,
)
from ._routes_messaging import conversations, messages, send


def messaging_routes() -> list[Route]:
    return [
        Route("/v1/messages", send, methods=["POST"]),
        Route("/v1/messages", messages, methods=["GET"]),
        Route("/v1/conversations", conversations, methods=["GET"]),
        Route("/webhooks/whatsapp/{channel}", whatsapp_webhook, methods=["POST"]),
        Route("/webhooks/whatsapp/{channel}", whatsapp_subscribe, methods=["GET"]),
        Route("/webchat/{channel}", webchat_page, methods=["GET"]),
        Route("/webchat/{channel}/messages", webchat_write, methods=["POST"]),
        Route("/webchat/{channel}/messages", webchat_read, methods=["GET"]),
        Route("/webchat/{channel}/events", webchat_events, methods=["POST"]),
    ]
