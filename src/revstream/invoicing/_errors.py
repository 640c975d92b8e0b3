"""Errors of invoice rendering, rooted at ``RenderError``: an invoice value that lacks
a field the renderings need."""

from __future__ import annotations


class RenderError(Exception):
    """An invoice cannot be rendered; the message names what is missing."""
