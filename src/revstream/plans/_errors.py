"""Errors of the plans core, rooted at ``PlanError``.

- ``PlanError``: any plan, subscription or invoice value that breaks a rule.
  - ``PlanValueError``: a plan's terms are wrong (unknown kind, negative fee, ...).
  - ``SubscriptionError``: a subscription change that cannot happen (overlaps, dates).
  - ``InvoiceError``: an invoice that breaks its invariants.
"""

from __future__ import annotations


class PlanError(Exception):
    """Root of the plans core's errors."""


class PlanValueError(PlanError):
    """A plan's terms are invalid; the message names the field."""


class SubscriptionError(PlanError):
    """A subscription or a change of it is invalid."""


class InvoiceError(PlanError):
    """An invoice breaks one of its invariants."""
