"""Rate limits per API key: requests per minute and tokens per minute.

Token buckets (GCRA) in exact integers (``take``, ``give_back``: pure, time passed in), kept
in-process (``LocalRateLimiter``) or in Redis for the whole fleet (``RedisRateLimiter``, one Lua
script on the Redis clock), chosen by ``make_rate_limiter(redis_url)``. ``rate_limit_headers``
and ``refusal_message`` turn a ``RateDecision`` into the OpenAI-style response. Errors are rooted
at ``RateLimitError`` (see ``_errors``).

Gateway use, through a ``TokenLease`` that holds what one request took from each bucket::

    lease = TokenLease(limiter, prompt_bound + max_tokens)
    decision = await lease.take(key_id, limits)  # RateLimitUnavailable -> 503
    headers = rate_limit_headers(decision)
    if not decision.allowed:
        ...  # 429, refusal_message(decision), headers (with retry-after)
    given_back = await lease.shrink(prompt_tokens + max_tokens)  # the exact count is known
    headers = rate_limit_headers(refund(decision, given_back))
    ...  # however the request ends, once: what was reserved but not used goes back
    await lease.release(tokens_used)

``key_id`` is the API key's id, never its secret (it is part of a Redis key name).
"""

from revstream.ratelimit._bucket import (
    BucketState,
    Decision,
    KeyLimits,
    KeyState,
    RateDecision,
    give_back,
    give_back_key,
    limit_per_minute_max,
    peek,
    refund,
    take,
    take_key,
)
from revstream.ratelimit._errors import RateLimitArgumentError, RateLimitError, RateLimitUnavailable
from revstream.ratelimit._headers import format_duration_us, rate_limit_headers, refusal_message
from revstream.ratelimit._lease import TokenLease
from revstream.ratelimit._limiter import RateLimiter, make_rate_limiter
from revstream.ratelimit._local import LocalRateLimiter, local_keys_max
from revstream.ratelimit._redis import DEFAULT_KEY_PREFIX, RedisRateLimiter

__all__ = [
    "DEFAULT_KEY_PREFIX",
    "BucketState",
    "Decision",
    "KeyLimits",
    "KeyState",
    "LocalRateLimiter",
    "RateDecision",
    "RateLimitArgumentError",
    "RateLimitError",
    "RateLimitUnavailable",
    "RateLimiter",
    "RedisRateLimiter",
    "TokenLease",
    "format_duration_us",
    "give_back",
    "give_back_key",
    "limit_per_minute_max",
    "local_keys_max",
    "make_rate_limiter",
    "peek",
    "rate_limit_headers",
    "refund",
    "refusal_message",
    "take",
    "take_key",
]
