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
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import threading
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache

from config import redis_guard

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


async def lookup(athlete_id: str, key: str) -> tuple[bool, Any, int]:
    """(hit, payload, current version) in one round trip; a miss with version -1 means "do not store"."""
    if _unsent_invalidations and _shared():
        await _replay_invalidations()
    if athlete_id in _unsent_invalidations or not _shared():
        return False, None, -1
    try:
        found = await asyncio.to_thread(_store().get_many, [_version_key(athlete_id), key])
    except Exception as exc:
        logger.warning("intervals cache unavailable (%s); reading through", type(exc).__name__)
        return False, None, -1
    if not _shared():
        return False, None, -1  # Redis failed during the call: that answer came from the per-process store
    version = int(found.get(_version_key(athlete_id)) or 0)
    entry = found.get(key)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == version:
        return True, entry[1], version
    return False, None, version


async def store(key: str, version: int, payload: Any) -> None:
    """Remember an answer under the version seen *before* the fetch (a write meanwhile makes it stale)."""
    if version < 0 or not _shared():
        return
    try:
        await asyncio.to_thread(_store().set, key, (version, payload), ttl_seconds())
    except Exception as exc:
        logger.warning("intervals cache unavailable (%s); not stored", type(exc).__name__)


async def _bump(athlete_id: str) -> bool:
    """Increment the athlete's version in the shared store; False when Redis could not be reached."""
    key = _version_key(athlete_id)
    if not _shared():
        return False
    try:
        # Outlive every entry; add() is a no-op when the counter exists, incr() is atomic in Redis.
        await asyncio.to_thread(_store().add, key, 0, None)
        await asyncio.to_thread(_store().incr, key)
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
