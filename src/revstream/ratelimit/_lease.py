"""A token lease: what one request took from tokens-per-minute buckets, given back once.

A request is admitted against an upper bound of its tokens (the prompt's bound plus the
completion it may generate). The lease remembers every bucket that charged that bound (an API
key's, the key's customer's plan's) and returns the unused part to each of them:

    lease = TokenLease(limiter, bound_tokens)
    decision = await lease.take(key_id, key_limits)       # 1 request + bound_tokens, or refused
    ...                                                   # more buckets: lease.take(...)
    await lease.shrink(exact_tokens)                      # the exact bound is known: give back the rest
    ...
    await lease.release(tokens_used)                      # once, however the request ended

``release`` gives back ``tokens - tokens_used`` to every bucket the lease holds; it acts once
(a second call does nothing), so every way a request can end may call it. The request counted
in each bucket's requests-per-minute is never given back. A failed give-back loses nothing but
headroom (the bucket refills by itself): it is logged, never raised.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from revstream.ratelimit._bucket import KeyLimits, RateDecision, check_count
from revstream.ratelimit._errors import RateLimitError

if TYPE_CHECKING:
    from revstream.ratelimit._limiter import RateLimiter

log = logging.getLogger("revstream.ratelimit")


class TokenLease:
    """Tokens one request holds in the tokens-per-minute buckets it was charged to."""

    __slots__ = ("_limiter", "_held", "_released", "tokens")

    def __init__(self, limiter: "RateLimiter", tokens: int) -> None:
        self._limiter = limiter
        self._held: list[tuple[str, KeyLimits]] = []
        self._released = False
        self.tokens = check_count("tokens", tokens)
        """Tokens held in each bucket of the lease (the same in all)."""

    @property
    def holds(self) -> bool:
        """Whether anything is held that ``release`` would give back."""
        return bool(self._held) and not self._released

    async def take(self, bucket_id: str, limits: KeyLimits) -> RateDecision:
        """Charge one request and the lease's tokens to one more bucket. An allowed charge
        to a token-limited bucket is held by the lease; a refusal charges nothing."""
        if self._released:
            raise RuntimeError("this lease was released")
        decision = await self._limiter.admit(bucket_id, limits, self.tokens)
        if decision.allowed and limits.tokens_per_minute is not None:
            self._held.append((bucket_id, limits))
        return decision

    async def shrink(self, tokens: int) -> int:
        """Hold only ``tokens`` from now on: give the difference back to every bucket now.
        Returns the tokens given back to each (0 when ``tokens`` is not below what is held:
        a lease never grows)."""
        check_count("tokens", tokens)
        surplus = self.tokens - tokens
        if surplus <= 0 or self._released:
            return 0
        self.tokens = tokens
        await self._give_back(surplus)
        return surplus

    async def release(self, tokens_used: int) -> None:
        """Give back what the request did not use, once; later calls do nothing."""
        check_count("tokens_used", tokens_used)
        if self._released:
            return
        self._released = True
        unused = self.tokens - tokens_used
        if unused > 0:
            await self._give_back(unused)

    async def _give_back(self, tokens: int) -> None:
        for bucket_id, limits in self._held:
            try:
                await self._limiter.give_back(bucket_id, limits, tokens)
            except RateLimitError as error:
                log.warning("could not return %d unused tokens to the rate limit of %s: %s", tokens, bucket_id, error)
