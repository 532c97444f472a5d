"""A short read-through cache for idempotent Intervals.icu GETs, shared by every token reaching an athlete.

Keyed by (athlete id, upstream base URL, path, normalised params), never by credential: a coach's
digest and the athlete's own assistant asking for the same athlete and date range spend the upstream
budget once. Security rests on two rules:
- the cache sits *behind* the principal: only `IntervalsClient(credential, cache_athlete=...)` uses it,
  and that athlete id comes from the resolved grant (`AthleteAccess.athlete_id`), never from the model;
- only paths under `/api/v1/athlete/<that id>` are cached automatically; anything else (e.g. an
  activity's messages) only when the caller vouches it belongs to that athlete (ids it listed itself).

Writes invalidate: every non-GET request through a client bound to an athlete bumps that athlete's
version number, which is part of what a cached entry must match, so nothing cached before a write is
served after it. Entries live in Django's cache (Redis in production and tests, locmem embedded) for
INTERVALS_CACHE_SECONDS (default 300; 0 disables). A cache outage never fails a tool: it reads through.
While Redis is known to be down (config/redis_guard.py) the cache is bypassed outright, never answered
from the per-process fallback store, which other processes' writes could not invalidate. A write whose
invalidation could not reach Redis is remembered in this process: its athlete reads through here, and
the version bump is replayed as soon as Redis answers again, so entries cached before the write stop
being served everywhere (other processes may serve such an entry in the moments between Redis
returning and the replay, at most INTERVALS_CACHE_SECONDS; if this process dies first, the bump is lost
and the same bound applies).

Typed reads (`IntervalsClient.read`) also keep their *parsed* answer in a small per-process memo, keyed by
(entry key, athlete version) and expiring with the shared entry it came from. A hit then costs one small
Redis read (the athlete's version) instead of fetching, unpickling and re-validating the whole answer,
which was most of a cached `get_training_history` call in bench/mcp_overhead. The memo is only ever
answered after the shared version was read from Redis, so a write anywhere invalidates it as it
invalidates the shared entry; memoised values are immutable (frozen models in tuples).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from pydantic_core import to_json

from config import redis_guard, redis_tracking
from integrations.intervals.ratelimit import NOT_READ

logger = logging.getLogger(__name__)

DEFAULT_SECONDS = 300
_PREFIX = "icu:c"


@functools.cache
def _store() -> BaseCache:
    """One cache client per process, shared by every request and thread (Redis's pool is thread-safe).

    Django's `cache` proxy builds a client per async context: outside Django's own request handler that
    meant a new Redis connection pool for every MCP request, never closed. Its async API also hops every
    operation to asgiref's one shared thread; here operations run on the loop's pool of threads instead.
    """
    return caches.create_connection("default")


def ttl_seconds() -> int:
    return int(settings.INTERVALS_CACHE_SECONDS)


# Set while a write tool runs: the pre-image of a write (what undo restores) must be read fresh, never
# from an entry that predates an edit the athlete made directly in Intervals.icu.
bypass: ContextVar[bool] = ContextVar("intervals_cache_bypass", default=False)


def enabled() -> bool:
    return ttl_seconds() > 0


def cacheable_path(athlete_id: str, path: str) -> bool:
    """Paths that are unambiguously about `athlete_id` (the only ones cached without the caller vouching)."""
    own = f"/api/v1/athlete/{athlete_id}"
    return bool(athlete_id) and (path == own or path.startswith(own + "/"))


def _version_key(athlete_id: str) -> str:
    return f"{_PREFIX}:v:{athlete_id}"


def entry_key(athlete_id: str, base_url: str, path: str, params: dict[str, Any] | None) -> str:
    norm = sorted((str(k), str(v)) for k, v in (params or {}).items() if v is not None)
    digest = hashlib.sha256(json.dumps([base_url, path, norm]).encode()).hexdigest()[:32]
    return f"{_PREFIX}:e:{athlete_id}:{digest}"


# Athletes written for while Redis was unreachable: their version bump is still owed to the shared cache.
_unsent_invalidations: set[str] = set()
_unsent_lock = threading.Lock()


def _shared() -> bool:
    """The shared store is usable now (Redis not known to be down; always true without Redis)."""
    return redis_guard.redis_available()


async def _replay_invalidations() -> None:
    with _unsent_lock:
        owed = list(_unsent_invalidations)
    for athlete_id in owed:
        if await _bump(athlete_id):
            with _unsent_lock:
                _unsent_invalidations.discard(athlete_id)


async def _usable() -> bool:
    """Whether the shared store may answer for this process now (replaying owed invalidations first)."""
    if _unsent_invalidations and _shared():
        await _replay_invalidations()
    return _shared()


def _init_version(athlete_id: str) -> int:
    """The athlete's version, created with a random start when Redis has none (first use, or Redis lost
    it): a counter restarting at 0 could match entries memoised before the loss, and after writes."""
    key = _version_key(athlete_id)
    _store().add(key, secrets.randbelow(2**40) + 1, None)
    return int(_store().get(key) or 0)


def _entry(found: Any, version: int) -> tuple[Any, float] | None:
    """(payload, fetched_at) of a stored entry still valid for `version`, else None."""
    if isinstance(found, tuple) and len(found) == 3 and found[0] == version:
        return found[1], float(found[2])
    return None


async def lookup(athlete_id: str, key: str) -> tuple[bool, Any, int]:
    """(hit, payload, current version) in one round trip; a miss with version -1 means "do not store"."""
    if not await _usable() or athlete_id in _unsent_invalidations:
        return False, None, -1
    try:
        found = await asyncio.to_thread(_store().get_many, [_version_key(athlete_id), key])
        raw_version = found.get(_version_key(athlete_id))
        if raw_version is None:
            raw_version = await asyncio.to_thread(_init_version, athlete_id)
    except Exception as exc:
        logger.warning("intervals cache unavailable (%s); reading through", type(exc).__name__)
        return False, None, -1
    if not _shared():
        return False, None, -1  # Redis failed during the call: that answer came from the per-process store
    version = int(raw_version or 0)
    entry = _entry(found.get(key), version)
    if entry is not None:
        return True, entry[0], version
    return False, None, version


async def store(key: str, version: int, payload: Any) -> float:
    """Remember an answer under the version seen *before* the fetch (a write meanwhile makes it stale).
    Returns the fetch time recorded with it."""
    fetched_at = time.time()
    if version < 0 or not _shared():
        return fetched_at
    try:
        await asyncio.to_thread(_store().set, key, (version, payload, fetched_at), ttl_seconds())
    except Exception as exc:
        logger.warning("intervals cache unavailable (%s); not stored", type(exc).__name__)
    return fetched_at


class ParsedMemo:
    """A bounded per-process LRU of parsed answers: (entry key, version) -> (expires_at, value).

    `weight` is the size of the upstream JSON a value was parsed from, in KB (a 1-year activity list
    is about 350, a power-curve set can be larger). The memo holds at most `max_weight` KB of answers
    (the parsed objects take a few times that in memory) and never one larger than a tenth of it.
    """

    def __init__(self, max_weight: int = 8192) -> None:
        self.max_weight = max_weight
        self._items: OrderedDict[tuple[str, int], tuple[float, Any, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: str, version: int) -> tuple[bool, Any]:
        found = self.get_entry(key, version)
        return (False, None) if found is None else (True, found[1])

    def get_entry(self, key: str, version: int) -> tuple[float, Any] | None:
        """(expires_at, value) for a live entry, else None."""
        with self._lock:
            item = self._items.get((key, version))
            if item is None:
                return None
            if time.time() >= item[0]:
                self._drop((key, version))
                return None
            self._items.move_to_end((key, version))
            return item[0], item[1]

    def put(self, key: str, version: int, value: Any, *, fetched_at: float, weight: int) -> None:
        weight = max(1, weight)
        if weight > self.max_weight // 10:
            return
        with self._lock:
            self._drop((key, version))
            self._items[(key, version)] = (fetched_at + ttl_seconds(), value, weight)
            self._weight += weight
            while self._weight > self.max_weight:
                self._drop(next(iter(self._items)))

    def _drop(self, memo_key: tuple[str, int]) -> None:
        item = self._items.pop(memo_key, None)
        if item is not None:
            self._weight -= item[2]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0


memo = ParsedMemo()


@dataclass
class Reads:
    """What one tool call read from Intervals.icu, to tell whether its answer is a function of cached
    data alone: every read of `athlete_id` at `version` through the versioned cache (then the answer may
    be memoised until the earliest of those entries expires), or not (`pure` False)."""

    athlete_id: str
    version: int
    expires_at: float = float("inf")
    pure: bool = True


# Set by the catalogue around a read tool's handler; read_parsed and the client record into it.
reads: ContextVar[Reads | None] = ContextVar("intervals_cache_reads", default=None)


def note_read(athlete_id: str, version: int, expires_at: float) -> None:
    tracked = reads.get()
    if tracked is None:
        return
    if athlete_id != tracked.athlete_id or version != tracked.version or version < 0:
        tracked.pure = False
    tracked.expires_at = min(tracked.expires_at, expires_at)


def note_uncached() -> None:
    """A read (or write) that did not go through the versioned cache: the answer is not cached data alone."""
    tracked = reads.get()
    if tracked is not None:
        tracked.pure = False


# The version of the athlete a tool call is about, read ahead of its first upstream read: the catalogue
# takes this process's tracked copy (config/redis_tracking.py) or reads it in the per-token limiter's
# round trip (one Redis call for both; one call, one athlete).
prefetched: ContextVar[tuple[str, int] | None] = ContextVar("intervals_cache_prefetched", default=None)


def version_redis_prefix() -> str | None:
    """What every athlete's version key in Redis starts with (tracked by config/redis_tracking.py)."""
    return _store().make_key(f"{_PREFIX}:v:") if settings.REDIS_URL else None


def _tracked() -> redis_tracking.Tracker | None:
    prefix = version_redis_prefix()
    return redis_tracking.tracker(prefix) if prefix is not None else None


def version_redis_key(athlete_id: str) -> str | None:
    """The Redis key holding the athlete's version, for a caller that reads it in a round trip it makes
    anyway (then passes the raw value to fetch_version); None when the shared store is not Redis."""
    return _store().make_key(_version_key(athlete_id)) if settings.REDIS_URL else None


async def fetch_version(athlete_id: str, raw: object = NOT_READ) -> int:
    """The athlete's current version in the shared store, or -1 when it cannot be used now. `raw`: the
    value of version_redis_key() already read from Redis (bytes or None), if the caller has it."""
    if not await _usable() or athlete_id in _unsent_invalidations:
        return -1
    try:
        if raw is not NOT_READ:
            raw_version = int(raw) if isinstance(raw, bytes) else None
        elif settings.REDIS_URL:
            # On the loop, no thread hop: this read is on the path of every cached call. Django's Redis
            # cache stores an int as its decimal text, under the key make_key() builds.
            # Known in this process while Redis's invalidation stream vouches for it: no round trip.
            key = _store().make_key(_version_key(athlete_id))
            tracked = _tracked()
            got = tracked.get(key) if tracked is not None else redis_tracking.MISSING
            if got is redis_tracking.MISSING:
                mark = tracked.mark() if tracked is not None else -1
                got = await redis_guard.async_client(settings.REDIS_URL).get(key)
                if tracked is not None:
                    tracked.learn(key, got, mark)
            raw_version = int(got) if got is not None else None
        else:
            raw_version = await asyncio.to_thread(_store().get, _version_key(athlete_id))
        if raw_version is None:
            raw_version = await asyncio.to_thread(_init_version, athlete_id)
    except redis_guard.UNAVAILABLE as exc:
        redis_guard.circuit.trip(settings.REDIS_URL, exc, who="intervals cache version")
        logger.warning("intervals cache unavailable (%s); reading through", type(exc).__name__)
        return -1
    except Exception as exc:
        logger.warning("intervals cache unavailable (%s); reading through", type(exc).__name__)
        return -1
    return int(raw_version) if _shared() else -1


async def read_parsed(
    athlete_id: str, key: str, parse: Callable[[Any], Any], fetch: Callable[[], Any]
) -> tuple[bool, Any]:
    """A parsed answer for `key`: from the memo, the shared entry, or `fetch()` (awaited), in that order.

    Returns (served from a cache, value). `parse` must return an immutable value; it is shared by every
    later request of this process until the athlete's version changes or the entry expires.
    """
    ahead = prefetched.get()
    version = ahead[1] if ahead is not None and ahead[0] == athlete_id else await fetch_version(athlete_id)
    if version >= 0:
        found = memo.get_entry(key, version)
        if found is not None:
            note_read(athlete_id, version, found[0])
            return True, found[1]
        try:
            entry = _entry(await asyncio.to_thread(_store().get, key), version) if _shared() else None
        except Exception as exc:
            logger.warning("intervals cache unavailable (%s); reading through", type(exc).__name__)
            entry, version = None, -1
        if entry is not None and _shared():
            value = parse(entry[0])
            memo.put(key, version, value, fetched_at=entry[1], weight=_weight(entry[0]))
            note_read(athlete_id, version, entry[1] + ttl_seconds())
            return True, value
    payload = await fetch()
    fetched_at = await store(key, version, payload)
    value = parse(payload)
    if version >= 0 and _shared():
        memo.put(key, version, value, fetched_at=fetched_at, weight=_weight(payload))
        note_read(athlete_id, version, fetched_at + ttl_seconds())
    else:
        note_uncached()
    return False, value


def _weight(payload: Any) -> int:
    """The size of a decoded upstream answer, in KB of compact JSON (pydantic-core's serialiser: fast)."""
    return len(to_json(payload)) // 1024 + 1


async def _bump(athlete_id: str) -> bool:
    """Increment the athlete's version in the shared store; False when Redis could not be reached."""
    key = _version_key(athlete_id)
    if not _shared():
        return False
    try:
        # Outlive every entry; add() is a no-op when the counter exists, incr() is atomic in Redis.
        await asyncio.to_thread(_store().add, key, secrets.randbelow(2**40) + 1, None)
        await asyncio.to_thread(_store().incr, key)
        if redis_tracking.enabled():
            # One more round trip: every process tracking versions has the invalidation before this
            # write's answer goes out (config/redis_tracking.py), so the next read anywhere sees it.
            await asyncio.to_thread(_store().get, key)
    except Exception:
        logger.exception("intervals cache: could not invalidate athlete %s", athlete_id)
        return False
    return _shared()  # False if Redis failed mid-way and the bump landed in the per-process store


async def invalidate(athlete_id: str) -> None:
    """Threshold wrote for this athlete: nothing cached before now may be served again (by this process
    at once; by the others as soon as Redis can be told, see the module docstring)."""
    if not await _bump(athlete_id):
        with _unsent_lock:
            _unsent_invalidations.add(athlete_id)
