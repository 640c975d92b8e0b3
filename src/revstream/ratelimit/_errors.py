"""Errors of the rate limiter, one hierarchy rooted at ``RateLimitError``.

- ``RateLimitError``: root; catch it to handle every failure of this package.
  - ``RateLimitArgumentError`` (also a ``ValueError``): an argument the caller passed is out of
    range (a limit below 1 or above ``limit_per_minute_max``, a negative cost, an empty key id)
    or does not fit the call (a refusal message for an admitted request).
  - ``RateLimitUnavailable``: the shared counter store (Redis) cannot be reached or answered
    wrongly. The gateway answers 503; it never admits the request unchecked and never falls
    back to per-process counters, which would multiply the limit by the number of processes.

A refused request is not an error: ``admit`` returns a ``RateDecision`` whose ``allowed`` is
false, and the gateway turns it into a 429 with ``rate_limit_headers`` and ``refusal_message``.
"""

from __future__ import annotations


class RateLimitError(Exception):
    """Root of every rate-limiter error."""


class RateLimitArgumentError(RateLimitError, ValueError):
    """An argument out of the range the limiter handles exactly, or one that does not fit the call."""


class RateLimitUnavailable(RateLimitError):
    """The shared counter store cannot be used; the request must not be admitted unchecked."""
