"""Renderings of an invoice for people: HTML and PDF, from the invoice's stored JSON value
(see ``revstream.plans.invoice_json``). Errors derive from ``RenderError``."""

from revstream.invoicing._errors import RenderError
from revstream.invoicing._html import render_html
from revstream.invoicing._pdf import render_pdf
from revstream.invoicing._view import InvoiceView, invoice_view

__all__ = ["InvoiceView", "RenderError", "invoice_view", "render_html", "render_pdf"]
