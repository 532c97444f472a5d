"""The deployment-wide upstream rate limiter (about 10 requests/s to Intervals.icu, short burst).

Intervals.icu limits by IP, and every worker of every replica shares our egress addresses, so the
budget is shared through Redis when REDIS_URL is set: a GCRA reservation in one Lua call, atomic
across processes. Callers reserve the next free slot and sleep until it comes, so bursts queue in
order instead of stampeding.

Without Redis (the embedded default) the same algorithm runs in-process. If Redis fails at run time
the limiter falls back to the in-process bucket at the same rate: upstream calls keep working rather
than every tool failing because of a cache outage. Failure direction: open, to a per-process bound
(with N processes the deployment may send up to N x the rate until Redis answers; Intervals.icu's own
429s are then handled by the client's retries). The per-token MCP limit fails the same way. Redis
calls time out after REDIS_SOCKET_TIMEOUT, and after one failure the process skips Redis for
REDIS_RETRY_AFTER_SECONDS (config/redis_guard.py), so a black-holed Redis costs one timeout per period.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from dataclasses import dataclass

from django.conf import settings

from config import redis_guard

logger = logging.getLogger(__name__)

_KEY = "thr:intervals:gcra"

# KEYS[1] = bucket key, KEYS[2..] = keys to read; ARGV = interval_ms, tolerance_ms, max_wait_ms. Returns
# {wait, values}: wait in ms (>=0) when a slot was reserved, or -(wait) when the wait would exceed
# max_wait (nothing reserved), and the values of KEYS[2..] (reads the caller needs anyway, sent in the
# same round trip).
_LUA = """
local read = {}
for i = 2, #KEYS do read[i - 1] = redis.call('GET', KEYS[i]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if wait > max_wait then return {-wait - 1, read} end
local new_tat = tat + interval
local ttl = math.ceil(new_tat - now + interval)
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], new_tat, 'PX', ttl)
return {wait, read}
"""

# What `reserve_reading` returns for a key it could not read in the same round trip (no Redis, Redis
# down): the caller reads it itself.
NOT_READ = object()


class RateLimitExceeded(Exception):
    """The next free slot is further away than the caller can wait."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"upstream budget exhausted for {wait_seconds:.1f}s")
        self.wait_seconds = wait_seconds


@dataclass
class _Gcra:
    interval: float
    tolerance: float
    tat: float = 0.0

    def reserve(self, now: float, max_wait: float) -> float:
        tat = max(self.tat, now)
        wait = max(0.0, tat - self.tolerance - now)
        if wait > max_wait:
            return -wait - 0.001
        self.tat = tat + self.interval
        return wait


class UpstreamLimiter:
    """Reserve request slots in a GCRA bucket (the default key, or one named per call). One instance per
    process and purpose; safe across event loops and threads. Also used for per-token MCP limits."""

    def __init__(self, rate_per_second: float, burst: int, redis_url: str = "", key: str = _KEY) -> None:
        self.interval = 1.0 / rate_per_second
        self.tolerance = self.interval * max(burst - 1, 0)
        self.redis_url = redis_url
        self.key = key
        self._local: dict[str, _Gcra] = {}
        self._lock = threading.Lock()
        self._redis: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, object] = weakref.WeakKeyDictionary()
        self._redis_failed_at = 0.0

    def _reserve_local(self, max_wait: float, key: str) -> float:
        with self._lock:
            bucket = self._local.setdefault(key, _Gcra(self.interval, self.tolerance))
            return bucket.reserve(time.monotonic(), max_wait)

    async def _reserve_redis(self, max_wait: float, key: str, read: list[str]) -> tuple[float, list[object]]:
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        script = self._redis.get(loop)
        if script is None:
            timeout = float(settings.REDIS_SOCKET_TIMEOUT)
            client = aioredis.from_url(self.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
            # EVALSHA with the script's digest (loaded again by redis-py if the server lost it), rather
            # than sending and hashing the script's text on every call.
            script = client.register_script(_LUA)
            self._redis[loop] = script
        wait, values = await script(  # type: ignore[operator]
            keys=[key, *read],
            args=[int(self.interval * 1000), int(self.tolerance * 1000), int(max_wait * 1000)],
        )
        return float(wait) / 1000.0, list(values)

    async def acquire(self, max_wait: float, key: str | None = None) -> float:
        """Wait for a slot; return the seconds waited. Raise RateLimitExceeded past `max_wait`
        (`max_wait=0`: take a slot only if one is free now)."""
        wait = (await self.reserve_reading(max_wait, key))[0]
        return await self.settle(wait)

    async def settle(self, wait: float) -> float:
        """Act on a reservation's wait: raise RateLimitExceeded (nothing reserved) or sleep it out."""
        if wait < 0:
            raise RateLimitExceeded(-wait)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    async def reserve_reading(
        self, max_wait: float, key: str | None = None, read: tuple[str, ...] = ()
    ) -> tuple[float, list[object]]:
        """Reserve a slot without waiting for it: (wait, values). `wait` < 0 means refused, -wait seconds
        too early (pass it to `settle`). `values`: the raw values (bytes or None) of the Redis keys `read`,
        fetched in the same round trip, or NOT_READ for each when they could not be (no Redis, Redis down).
        """
        key = key or self.key
        wait: float
        values: list[object] = [NOT_READ] * len(read)
        # While this process knows Redis to be down (any client saw it fail), use the local bucket.
        if self.redis_url and redis_guard.circuit.available(self.redis_url):
            try:
                wait, values = await self._reserve_redis(max_wait, key, list(read))
            except redis_guard.UNAVAILABLE as exc:  # Redis down or black-holed
                self._redis_failed_at = time.monotonic()
                redis_guard.circuit.trip(self.redis_url, exc, who="rate limiter")
                wait = self._reserve_local(max_wait, key)
            except Exception:
                # Redis answered but the script failed (a bug, not an outage): fail open the same way.
                self._redis_failed_at = time.monotonic()
                logger.exception("rate limiter: Redis script failed; using the per-process bucket")
                wait = self._reserve_local(max_wait, key)
        else:
            wait = self._reserve_local(max_wait, key)
        return wait, values


_limiter: UpstreamLimiter | None = None
_token_limiter: UpstreamLimiter | None = None
_limiter_lock = threading.Lock()


def get_token_limiter() -> UpstreamLimiter:
    """Per-token MCP call limits (keyed on the token, not the IP: assistants call from shared ranges)."""
    global _token_limiter
    with _limiter_lock:
        if _token_limiter is None:
            _token_limiter = UpstreamLimiter(
                settings.MCP_TOKEN_CALLS_PER_MINUTE / 60.0, settings.MCP_TOKEN_BURST, settings.REDIS_URL
            )
        return _token_limiter


def get_limiter() -> UpstreamLimiter:
    global _limiter
    with _limiter_lock:
        if _limiter is None:
            _limiter = UpstreamLimiter(
                settings.INTERVALS_RATE_PER_SECOND, settings.INTERVALS_RATE_BURST, settings.REDIS_URL
            )
        return _limiter


def reset_limiter() -> None:
    """Forget the process-wide limiter (tests change the rate)."""
    global _limiter, _token_limiter
    with _limiter_lock:
        _limiter = None
        _token_limiter = None
