"""Errors of the messaging core.

Hierarchy::

    MessagingError                  base of every messaging failure
    ├── MessagingValueError         a value that breaks a rule (unknown kind, bad name, bad time)
    │   └── TemplateParameterError  template parameters that do not fit the body
    ├── SendRefused                 a send the rules refuse, before anything is charged (``code``)
    ├── RateCardError               a rate card that cannot be read or is inconsistent
    │   └── NoRateError             no rate in force for a billable message
    ├── WebhookError                a webhook request that must not be processed
    │   ├── SignatureMissingError   no signature header
    │   ├── SignatureInvalidError   a signature that does not match the raw body
    │   └── WebhookPayloadError     a body that is not the documented JSON shape
    ├── ChannelSendError            the channel did not accept a send (``code``): release the hold
    ├── TransitionError             a delivery status that cannot apply to the message
    └── LeafError                   a message leaf that is malformed or of an unknown version

``MessagingValueError`` and ``RateCardError`` also derive from ``ValueError``. Every
refusal at send time is a ``SendRefused`` (HTTP 400 at the boundary) or a
``MessagingValueError`` (bad request); a ``NoRateError`` is the host's missing
configuration. None of them is raised after a hold or charge was produced.
"""

from __future__ import annotations

from typing import Final

REFUSED_WINDOW_CLOSED: Final = "window_closed"
"""A free-form (service) message outside an open customer-service window."""
REFUSED_NO_MARKETING_OPT_IN: Final = "no_marketing_opt_in"
"""A marketing template to a contact without a marketing opt-in in force."""
REFUSED_NO_OPT_IN: Final = "no_opt_in"
"""A template outside the service window to a contact without a messaging opt-in in force."""
REFUSED_TEMPLATE_NOT_APPROVED: Final = "template_not_approved"
"""A template whose review state at the send time is not ``approved``."""
REFUSAL_CODES: Final = (
    REFUSED_WINDOW_CLOSED, REFUSED_NO_MARKETING_OPT_IN, REFUSED_NO_OPT_IN, REFUSED_TEMPLATE_NOT_APPROVED,
)


class MessagingError(Exception):
    """Base of every failure in the messaging core."""


class MessagingValueError(MessagingError, ValueError):
    """A value that breaks a rule; the message names the field."""


class TemplateParameterError(MessagingValueError):
    """Template parameters that do not match the body's ``{{n}}`` placeholders."""


class SendRefused(MessagingError):
    """A send the rules refuse. ``code`` is one of ``REFUSAL_CODES``; nothing was charged."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RateCardError(MessagingError, ValueError):
    """A rate card (CSV or rows) that cannot be read or contradicts itself."""


class NoRateError(RateCardError):
    """No rate in force for a message that the rules say is billable."""


class WebhookError(MessagingError):
    """A webhook request that must not be processed."""


class SignatureMissingError(WebhookError):
    """The request carries no signature header."""


class SignatureInvalidError(WebhookError):
    """The signature header is malformed or does not match the raw body."""


class WebhookPayloadError(WebhookError):
    """The body is not the documented JSON shape."""


class ChannelSendError(MessagingError):
    """The channel answered a send with an error (``code``: the platform's error code or
    the HTTP status); the message was not accepted, so its hold is released."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class TransitionError(MessagingError):
    """A delivery status that cannot apply to this message."""


class LeafError(MessagingError, ValueError):
    """A message leaf with a missing field, a wrong type or an unknown version."""
