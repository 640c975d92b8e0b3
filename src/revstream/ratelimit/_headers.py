"""OpenAI-style rate-limit headers and the refusal message, from a ``RateDecision``.

For each limited dimension (``requests``, ``tokens``):

- ``x-ratelimit-limit-<dim>``: the limit per minute (the bucket's capacity).
- ``x-ratelimit-remaining-<dim>``: whole units left after this request (floor).
- ``x-ratelimit-reset-<dim>``: time until the bucket is full again, written as OpenAI writes it
  (Go's duration text: "120ms", "1s", "1.5s", "6m0s"), rounded up to the millisecond.

On a refusal, ``retry-after`` (whole seconds, rounded up, at least 1) and ``retry-after-ms``
(which the official OpenAI clients prefer) say when every refused bucket would allow the same
request. A request larger than a limit can never be admitted: it gets no ``retry-after``.
"""

from __future__ import annotations

from revstream.ratelimit._bucket import Decision, RateDecision, micros_per_second
from revstream.ratelimit._errors import RateLimitArgumentError

_labels = {"requests": "requests per minute", "tokens": "tokens per minute"}


def format_duration_us(duration_us: int) -> str:
    """Go/OpenAI duration text at millisecond resolution, rounded up: 0s, 120ms, 1.5s, 6m0s, 1h0m0s."""
    if duration_us < 0:
        raise RateLimitArgumentError(f"a duration cannot be negative: {duration_us}")
    total_ms = -(-duration_us // 1000)
    if total_ms == 0:
        return "0s"
    if total_ms < 1000:
        return f"{total_ms}ms"
    total_minutes, rest_ms = divmod(total_ms, 60_000)
    seconds, fraction_ms = divmod(rest_ms, 1000)
    text = f"{seconds}.{fraction_ms:03d}".rstrip("0") if fraction_ms else str(seconds)
    text += "s"
    hours, minutes = divmod(total_minutes, 60)
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def _retry_after_s(retry_after_us: int) -> int:
    return max(1, -(-retry_after_us // micros_per_second))


def rate_limit_headers(decision: RateDecision) -> dict[str, str]:
    """The ``x-ratelimit-*`` headers for every response, plus ``retry-after`` on a refusal."""
    headers: dict[str, str] = {}
    for name, bucket in decision.decisions:
        headers[f"x-ratelimit-limit-{name}"] = str(bucket.limit_per_minute)
        headers[f"x-ratelimit-remaining-{name}"] = str(bucket.remaining)
        headers[f"x-ratelimit-reset-{name}"] = format_duration_us(bucket.reset_us)
    retry_after_us = decision.retry_after_us
    if not decision.allowed and retry_after_us is not None:
        headers["retry-after"] = str(_retry_after_s(retry_after_us))
        headers["retry-after-ms"] = str(max(1, -(-retry_after_us // 1000)))
    return headers


def _refusal(name: str, bucket: Decision) -> str:
    label = _labels[name]
    if bucket.retry_after_us is None:
        return (
            f"Request too large for {label} (limit {bucket.limit_per_minute}, requested {bucket.cost}): "
            "it can never be admitted; reduce the prompt or max_tokens"
        )
    detail = f"limit {bucket.limit_per_minute}"
    if name == "tokens":
        detail += f", remaining {bucket.remaining}, requested {bucket.cost}"
    return f"Rate limit reached for {label} ({detail}): retry in {_retry_after_s(bucket.retry_after_us)}s"


def refusal_message(decision: RateDecision) -> str:
    """The 429 message naming each limit that was hit, e.g. "Rate limit reached for requests per
    minute (limit 60): retry in 2s"."""
    if decision.allowed:
        raise RateLimitArgumentError("the request was admitted: there is no refusal to describe")
    return "; ".join(_refusal(name, bucket) for name, bucket in decision.refused)
