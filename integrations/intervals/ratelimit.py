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
import random
import threading
import time
import weakref
from dataclasses import dataclass

from django.conf import settings

from config import redis_guard

logger = logging.getLogger(__name__)

_KEY = "thr:intervals:gcra"

# KEYS[1] = bucket key, KEYS[2..] = keys to read; ARGV = interval_ms, tolerance_ms, max_wait_ms, slots.
# Returns {wait, values, granted}: wait in ms (>=0) when a slot was reserved, or -(wait) when the wait would
# exceed max_wait (nothing reserved); the values of KEYS[2..] (reads the caller needs anyway, sent in the
# same round trip); and how many slots were reserved. Slots past the first (a lease, see TokenLeases) are
# granted only while free at once and the bucket stays at least half full; slots=0 only reads.
_LUA = """
local read = {}
for i = 2, #KEYS do read[i - 1] = redis.call('GET', KEYS[i]) end
local slots = tonumber(ARGV[4] or '1')
if slots < 1 then return {0, read, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if wait > max_wait then return {-wait - 1, read, 0} end
local new_tat = tat + interval
local granted = 1
while granted < slots and new_tat + interval - now <= tolerance / 2 do
  new_tat = new_tat + interval
  granted = granted + 1
end
local ttl = math.ceil(new_tat - now + interval)
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], new_tat, 'PX', ttl)
return {wait, read, granted}
"""

# What `reserve_reading` returns for a key it could not read in the same round trip (no Redis, Redis
# down): the caller reads it itself.
NOT_READ = object()


class RateLimitExceeded(Exception):
    """The next free slot is further away than the caller can wait."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"upstream budget exhausted for {wait_seconds:.1f}s")
        self.wait_seconds = wait_seconds


# Leases (per-token MCP limits): a busy token's slots are reserved a few at a time, so most of its calls
# cost no Redis round trip. A lease lapses after LEASE_SECONDS; its size doubles while leases run out
# before that (up to LEASE_MAX) and halves when one lapses unused.
LEASE_SECONDS = 1.0
LEASE_MAX = 32


@dataclass
class _Lease:
    left: int = 0
    expires: float = 0.0
    size: int = 1  # slots to ask for next time

    def take(self, now: float) -> bool:
        if self.left > 0 and now < self.expires:
            self.left -= 1
            return True
        return False


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
        self._leases: dict[str, _Lease] = {}

    def _reserve_local(self, max_wait: float, key: str) -> float:
        with self._lock:
            now = time.monotonic()
            if len(self._local) > 10_000:  # per-athlete buckets: forget those full again (tat in the past)
                self._local = {k: v for k, v in self._local.items() if v.tat > now}
            bucket = self._local.setdefault(key, _Gcra(self.interval, self.tolerance))
            return bucket.reserve(now, max_wait)

    async def _reserve_redis(
        self, max_wait: float, key: str, read: list[str], slots: int = 1
    ) -> tuple[float, list[object], int]:
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
        wait, values, granted = await script(  # type: ignore[operator]
            keys=[key, *read],
            args=[int(self.interval * 1000), int(self.tolerance * 1000), int(max_wait * 1000), slots],
        )
        return float(wait) / 1000.0, list(values), int(granted)

    def take_leased(self, key: str) -> bool:
        """Take one slot this process already reserved for `key` in Redis (a lease), if it holds one.
        No I/O: the caller skips the round trip. False: reserve through `reserve_reading(lease=True)`."""
        with self._lock:
            lease = self._leases.get(key)
            return lease is not None and lease.take(time.monotonic())

    def _lease_slots(self, key: str) -> int:
        """How many slots to ask Redis for now (0: a leased one was just taken here, only read)."""
        with self._lock:
            lease = self._leases.get(key)
            if lease is None:
                if len(self._leases) > 10_000:  # forget leases of tokens gone quiet
                    now = time.monotonic()
                    self._leases = {k: v for k, v in self._leases.items() if v.expires > now}
                lease = self._leases[key] = _Lease()
            now = time.monotonic()
            if lease.take(now):
                return 0
            if lease.expires and lease.left > 0:
                lease.size = max(1, lease.size // 2)  # lapsed with slots unused: ask for fewer
            elif lease.expires and now < lease.expires:
                lease.size = min(LEASE_MAX, lease.size * 2)  # ran out before lapsing: ask for more
            lease.left, lease.expires = 0, 0.0
            return lease.size

    def _leased(self, key: str, granted: int) -> None:
        """Keep the slots Redis granted past the one this call uses."""
        with self._lock:
            lease = self._leases.setdefault(key, _Lease())
            lease.left, lease.expires = max(0, granted - 1), time.monotonic() + LEASE_SECONDS

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
        self, max_wait: float, key: str | None = None, read: tuple[str, ...] = (), *, lease: bool = False
    ) -> tuple[float, list[object]]:
        """Reserve a slot without waiting for it: (wait, values). `wait` < 0 means refused, -wait seconds
        too early (pass it to `settle`). `values`: the raw values (bytes or None) of the Redis keys `read`,
        fetched in the same round trip, or NOT_READ for each when they could not be (no Redis, Redis down).

        `lease`: this process may reserve a few of the key's next slots at once (a busy MCP token's next
        calls then take one with `take_leased`, no round trip). Leased slots are reserved in Redis like
        any other, so the deployment never admits more than the limit; a lease lapsing unused admits a
        little less for up to LEASE_SECONDS, and leases are taken only while the bucket is half full.
        """
        key = key or self.key
        wait: float
        values: list[object] = [NOT_READ] * len(read)
        # While this process knows Redis to be down (any client saw it fail), use the local bucket.
        if self.redis_url and redis_guard.circuit.available(self.redis_url):
            try:
                slots = self._lease_slots(key) if lease else 1
                wait, values, granted = await self._reserve_redis(max_wait, key, list(read), slots)
                if lease and slots > 0 and wait >= 0:
                    self._leased(key, granted)
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
_athlete_limiter: UpstreamLimiter | None = None
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


def get_athlete_limiter() -> UpstreamLimiter | None:
    """Each athlete's own share of the upstream budget. None: fairness off (INTERVALS_ATHLETE_RATE_PER_SECOND=0),
    or a share at least the whole budget (it could never bind: no extra Redis round trip for it)."""
    global _athlete_limiter
    share = settings.INTERVALS_ATHLETE_RATE_PER_SECOND
    if share <= 0 or share >= settings.INTERVALS_RATE_PER_SECOND:
        return None
    with _limiter_lock:
        if _athlete_limiter is None:
            _athlete_limiter = UpstreamLimiter(
                settings.INTERVALS_ATHLETE_RATE_PER_SECOND, settings.INTERVALS_ATHLETE_BURST, settings.REDIS_URL
            )
        return _athlete_limiter


# Athletes one of whose requests holds a booked slot of the shared budget in this process (acquire_upstream).
_booked: set[str] = set()
_booked_lock = threading.Lock()


def _book(athlete: str) -> bool:
    """Take this process's one booking for `athlete`, if no request of that athlete holds it."""
    with _booked_lock:
        if athlete in _booked:
            return False
        _booked.add(athlete)
        return True


def _unbook(athlete: str) -> None:
    with _booked_lock:
        _booked.discard(athlete)


async def acquire_upstream(max_wait: float, athlete: str | None = None) -> float:
    """Wait for a slot of the shared Intervals.icu budget on behalf of `athlete`; return the seconds waited.
    Raise RateLimitExceeded when no slot comes within `max_wait`.

    Fairness, so that tenants calling flat out cannot make another wait behind them (issue #13). The shared
    budget is a first-come queue: a request books the next free slot and sleeps until it, so before this a
    quiet tenant's one request waited behind every request the busy ones had booked (seconds). Now:

    * each athlete's credential has its own small bucket (INTERVALS_ATHLETE_RATE_PER_SECOND, burst
      INTERVALS_ATHLETE_BURST: 4/s, burst 4), a cap no single athlete's requests pass;
    * each athlete books at most one slot ahead at a time (per process), and only with a request its own
      bucket let through at once. Its other requests (and any that had to wait for its own bucket: an
      athlete over its share) take only a slot that is free right now, looking again about every slot.

    So the queue holds at most one request per athlete, and none of an athlete over its share: a quiet
    tenant's request waits behind one request of each busy athlete at most (round robin), not behind all
    they have in flight; the busy ones still get every slot the others leave (nothing idles). A request
    for no athlete (OAuth, a coach's roster) queues as before.
    """
    limiter = get_limiter()
    share = get_athlete_limiter()
    if share is None or not athlete:
        return await limiter.acquire(max_wait)
    started = time.monotonic()
    over_share = await share.acquire(max_wait, key=f"{_KEY}:athlete:{athlete}") > 0
    while True:
        left = max_wait - (time.monotonic() - started)
        if not over_share and _book(athlete):
            try:
                await limiter.acquire(max(0.0, left))
            finally:
                _unbook(athlete)
            return time.monotonic() - started
        wait = (await limiter.reserve_reading(0))[0]
        if wait >= 0:
            return time.monotonic() - started
        if -wait > left:
            raise RateLimitExceeded(-wait)
        # Look again when a slot may be free or the athlete's booking used; jitter, so they do not all wake at once.
        await asyncio.sleep(min(-wait, limiter.interval) + random.uniform(0, limiter.interval / 2))


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
    global _limiter, _token_limiter, _athlete_limiter
    with _limiter_lock:
        _limiter = None
        _token_limiter = None
        _athlete_limiter = None
