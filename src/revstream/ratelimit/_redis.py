"""Rate limiter shared by every worker and replica through Redis.

One Lua script does a whole admission or give-back atomically on one hash per API key
(``<prefix><key_id>``, fields ``rd ru`` for the request bucket and ``td tu`` for the token
bucket: deficit in units, updated at µs). The script reads the clock with Redis ``TIME``, so all
replicas share one clock, and applies the same integer arithmetic as ``_bucket`` (see its
docstring for why doubles are exact here). It returns the stored state it started from and the
state it wrote; Python recomputes the decision from the former with the pure core and checks
that it reaches the latter, so the two implementations cannot drift apart unnoticed.

A key expires (PEXPIREAT, on the script's clock) at the microsecond its last bucket is full
again, rounded up to the millisecond; a key whose buckets are full is deleted, since an absent
key reads as full. Any Redis failure raises ``RateLimitUnavailable``, whose message is meant for
the caller of the API and so never names Redis's host, port or reply: the detail goes to the log.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

import redis.asyncio as redis_asyncio
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError, RedisError

from revstream.ratelimit._bucket import (
    BucketState,
    KeyLimits,
    KeyState,
    RateDecision,
    check_count,
    give_back_key,
    take_key,
    units_per_token,
    window_us,
)
from revstream.ratelimit._errors import RateLimitUnavailable
from revstream.ratelimit._local import check_key_id

log = logging.getLogger("revstream.ratelimit")
DEFAULT_KEY_PREFIX = "revstream:rl:"
UNAVAILABLE_MESSAGE = "the shared rate-limit store is unavailable"
"""What a caller is told; never the host, port or reply (those are logged)."""
redis_timeout_s = 1.0
"""Connect and command timeout: past it the request is answered 503, not held."""
redis_retries_max = 1
redis_connections_max = 64
"""Connections one limiter opens; callers beyond it wait up to ``redis_timeout_s`` for one."""
_reply_length = 10

SCRIPT = f"""
-- revstream rate limiter: both token buckets of one API key, exact integers (see _bucket.py).
-- KEYS[1] hash; ARGV: op ("take" | "give"), now_us ("" = Redis TIME; tests pass a clock),
-- requests_per_minute, tokens_per_minute (0 = unlimited), tokens.
local units, window_us = {units_per_token}, {window_us}
local key, op = KEYS[1], ARGV[1]
local now
if ARGV[2] == '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
else
  now = tonumber(ARGV[2])
end
local limits = {{tonumber(ARGV[3]), tonumber(ARGV[4])}}
local costs = {{1, tonumber(ARGV[5])}}
local names = {{{{'rd', 'ru'}}, {{'td', 'tu'}}}}
local stored = redis.call('HMGET', key, 'rd', 'ru', 'td', 'tu')
local old_d = {{tonumber(stored[1]) or 0, tonumber(stored[3]) or 0}}
local old_u = {{tonumber(stored[2]) or 0, tonumber(stored[4]) or 0}}
local d, at, new_d, new_u = {{}}, {{}}, {{old_d[1], old_d[2]}}, {{old_u[1], old_u[2]}}
for i = 1, 2 do
  local limit = limits[i]
  if limit > 0 then
    at[i] = math.max(now, old_u[i])
    local elapsed = math.min(at[i] - old_u[i], window_us)
    d[i] = math.max(0, math.min(old_d[i], limit * units) - elapsed * limit)
  end
end
local allowed = 1
local write = {{false, false}}
local clear = {{false, false}}
if op == 'take' then
  for i = 1, 2 do
    local limit = limits[i]
    if limit > 0 and (costs[i] > limit or costs[i] * units > limit * units - d[i]) then allowed = 0 end
  end
  if allowed == 1 then
    for i = 1, 2 do
      if limits[i] > 0 then
        d[i] = d[i] + costs[i] * units
        write[i] = true
      elseif old_u[i] > 0 then
        clear[i] = true  -- an unlimited dimension keeps no state (as in _bucket.take_key)
      end
    end
  end
elseif limits[2] > 0 then
  d[2] = math.max(0, d[2] - math.min(costs[2], limits[2]) * units)
  write[2] = true
  if limits[1] == 0 and old_u[1] > 0 then clear[1] = true end
end
local expire_us = 0
for i = 1, 2 do
  local limit = limits[i]
  if limit > 0 and d[i] > 0 then
    local rest = math.fmod(d[i], limit)
    local refill_us = (d[i] - rest) / limit
    if rest > 0 then refill_us = refill_us + 1 end
    expire_us = math.max(expire_us, at[i] + refill_us)
  end
  if write[i] then
    new_d[i], new_u[i] = d[i], at[i]
  elseif clear[i] then
    new_d[i], new_u[i] = 0, 0
  end
end
for i = 1, 2 do
  if clear[i] then redis.call('HDEL', key, names[i][1], names[i][2]) end
end
if write[1] or write[2] then
  if expire_us == 0 then
    redis.call('DEL', key)
    new_d, new_u = {{0, 0}}, {{0, 0}}
  else
    for i = 1, 2 do
      if write[i] then
        redis.call('HSET', key, names[i][1], string.format('%.0f', d[i]), names[i][2], string.format('%.0f', at[i]))
      end
    end
    local rest = math.fmod(expire_us, 1000)
    local expire_ms = (expire_us - rest) / 1000
    if rest > 0 then expire_ms = expire_ms + 1 end
    redis.call('PEXPIREAT', key, string.format('%.0f', expire_ms))
  end
end
return {{allowed, now, old_d[1], old_u[1], old_d[2], old_u[2], new_d[1], new_u[1], new_d[2], new_u[2]}}
"""
SCRIPT_SHA1 = hashlib.sha1(SCRIPT.encode()).hexdigest()


class RedisRateLimiter:
    """Token buckets per API key in Redis, shared by every process that uses the same Redis.

    ``clock_us`` is for tests only: it makes the script use the given time (µs since the Unix
    epoch) instead of Redis ``TIME``. Keys then expire at that clock's times, so a test clock must
    run ahead of the real one (a key set to expire in the past is deleted at once). Production
    leaves it None so that every replica reads the one Redis clock.
    """

    def __init__(
        self, url: str, *, key_prefix: str = DEFAULT_KEY_PREFIX, clock_us: Callable[[], int] | None = None
    ) -> None:
        self._key_prefix = key_prefix
        self._clock_us = clock_us
        self._script, self._script_sha1 = SCRIPT, SCRIPT_SHA1
        pool = redis_asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=redis_connections_max,
            timeout=redis_timeout_s,
            socket_connect_timeout=redis_timeout_s,
            socket_timeout=redis_timeout_s,
        )
        retry = Retry(ExponentialBackoff(cap=0.05, base=0.01), redis_retries_max)
        self._redis = redis_asyncio.Redis(connection_pool=pool, retry=retry)

    async def admit(self, key_id: str, limits: KeyLimits, tokens: int) -> RateDecision:
        check_key_id(key_id)
        if limits.unlimited:
            return take_key(KeyState(), 0, limits, tokens)
        reply = await self._run(key_id, "take", limits, tokens)
        now_us, old, new = reply[1], _key_state(reply[2:6]), _key_state(reply[6:10])
        decision = take_key(old, now_us, limits, tokens)
        if decision.allowed != bool(reply[0]) or not _same_buckets(decision.state, new, limits):
            log.error("the Redis rate-limit script and the pure core disagree on %r", reply)
            raise RateLimitUnavailable(UNAVAILABLE_MESSAGE)
        return decision

    async def give_back(self, key_id: str, limits: KeyLimits, tokens: int) -> None:
        check_key_id(key_id)
        if limits.tokens_per_minute is None:
            check_count("tokens", tokens)
            return
        reply = await self._run(key_id, "give", limits, tokens)
        now_us, old, new = reply[1], _key_state(reply[2:6]), _key_state(reply[6:10])
        if not _same_buckets(give_back_key(old, now_us, limits, tokens), new, limits):
            log.error("the Redis rate-limit script and the pure core disagree on %r", reply)
            raise RateLimitUnavailable(UNAVAILABLE_MESSAGE)

    async def ready(self) -> tuple[bool, str]:
        """Whether Redis answers a PING now, and a word on why not (never its address)."""
        try:
            await self._redis.ping()
        except (RedisError, OSError) as error:
            log.warning("Redis rate limiter unavailable: %s", error)
            return False, f"unreachable: {type(error).__name__}"
        return True, "ok"

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def _run(self, key_id: str, op: str, limits: KeyLimits, tokens: int) -> list[int]:
        check_count("tokens", tokens)
        now = "" if self._clock_us is None else str(self._clock_us())
        args = (op, now, limits.requests_per_minute or 0, limits.tokens_per_minute or 0, tokens)
        key = self._key_prefix + key_id
        try:
            try:
                reply = await self._redis.evalsha(self._script_sha1, 1, key, *args)
            except NoScriptError:
                await self._redis.script_load(self._script)
                reply = await self._redis.eval(self._script, 1, key, *args)
        except (RedisError, OSError) as error:
            log.warning("Redis rate limiter unavailable: %s", error)
            raise RateLimitUnavailable(UNAVAILABLE_MESSAGE) from error
        if not isinstance(reply, list) or len(reply) != _reply_length or not all(isinstance(n, int) for n in reply):
            log.error("unexpected reply from the rate-limit script: %r", reply)
            raise RateLimitUnavailable(UNAVAILABLE_MESSAGE)
        return reply


def _key_state(numbers: list[int]) -> KeyState:
    return KeyState(BucketState(numbers[0], numbers[1]), BucketState(numbers[2], numbers[3]))


def _same_buckets(expected: KeyState, actual: KeyState, limits: KeyLimits) -> bool:
    requests_same = limits.requests_per_minute is None or expected.requests == actual.requests
    tokens_same = limits.tokens_per_minute is None or expected.tokens == actual.tokens
    return requests_same and tokens_same
