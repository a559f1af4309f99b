"""Token-bucket rate limits per credential: in-process, or shared through Redis."""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from tactful.clock import Clock, to_epoch
from tactful.config.security import AuthSettings, RateLimitSettings
from tactful.extras import require

log = logging.getLogger("tactful.security")

MAX_BUCKETS = 100_000


class RateLimiter(Protocol):
    def acquire(self, bucket: str, rate: float, burst: int, cost: int = 1) -> float:
        """Take ``cost`` tokens (0 only looks): 0.0 when a token was there, else the seconds
        until one is available."""
        ...


class MemoryRateLimiter:
    """Buckets in this process (one worker, or a limit per worker)."""

    def __init__(self, clock: Clock, max_buckets: int = MAX_BUCKETS) -> None:
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, bucket: str, rate: float, burst: int, cost: int = 1) -> float:
        now = to_epoch(self.clock.now())
        with self._lock:
            if cost == 0 and bucket not in self._buckets:
                return 0.0  # a full bucket: looking must not create one
            tokens, last = self._buckets.get(bucket, (float(burst), now))
            tokens = min(float(burst), tokens + max(0.0, now - last) * rate)
            if tokens >= 1.0:
                self._buckets[bucket] = (tokens - cost, now)
                wait = 0.0
            else:
                self._buckets[bucket] = (tokens, now)
                wait = (1.0 - tokens) / rate
            if len(self._buckets) > self.max_buckets:
                self._evict(now, rate, burst)
            return wait

    def _evict(self, now: float, rate: float, burst: int) -> None:
        """Forget buckets that have refilled completely: they hold no information."""
        full = [k for k, (tokens, last) in self._buckets.items() if tokens + (now - last) * rate >= burst]
        for key in full:
            del self._buckets[key]


_LUA = """
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local tokens = tonumber(data[1])
local ts = tonumber(data[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate); ts = now end
local wait = 0
local cost = tonumber(ARGV[4])
if tokens >= 1 then tokens = tokens - cost else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    """Buckets in Redis, updated atomically by a Lua script, so all workers share one limit.

    If Redis cannot be reached the request is let through and a warning is logged: a rate
    limiter outage must not take the API down with it.
    """

    def __init__(self, url: str, clock: Clock, prefix: str = "tactful:rl:") -> None:
        redis = require("redis", "redis", "a Redis rate limiter (auth.rate_limit.redis_url)")

        self.clock = clock
        self.prefix = prefix
        self.client: Any = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self.client.register_script(_LUA)

    def acquire(self, bucket: str, rate: float, burst: int, cost: int = 1) -> float:
        import redis

        now = to_epoch(self.clock.now())
        try:
            args = [repr(rate), str(burst), repr(now), str(cost)]
            wait = self._script(keys=[self.prefix + bucket], args=args)
        except redis.RedisError as exc:
            log.warning("rate limiter unavailable, request allowed: %s", exc)
            return 0.0
        return float(wait.decode() if isinstance(wait, bytes) else wait)


def make_failure_limiter(settings: AuthSettings, clock: Clock) -> RateLimiter | None:
    """Buckets of failed authentication per client address (shared like the request limits)."""
    if not settings.failed_auth.enabled:
        return None
    if settings.rate_limit.redis_url:
        return RedisRateLimiter(settings.rate_limit.redis_url, clock, prefix="tactful:authfail:")
    return MemoryRateLimiter(clock)


def make_rate_limiter(settings: RateLimitSettings, clock: Clock) -> RateLimiter | None:
    if not settings.enabled:
        return None
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, clock)
    return MemoryRateLimiter(clock)
