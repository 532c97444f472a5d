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
"""

from __future__ import annotations

import hashlib
import json
import logging
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

DEFAULT_SECONDS = 300
_PREFIX = "icu:c"


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


async def lookup(athlete_id: str, key: str) -> tuple[bool, Any, int]:
    """(hit, payload, current version) in one round trip."""
    try:
        found = await cache.aget_many([_version_key(athlete_id), key])
    except Exception as exc:
        logger.warning("intervals cache unavailable (%s); reading through", type(exc).__name__)
        return False, None, -1
    version = int(found.get(_version_key(athlete_id)) or 0)
    entry = found.get(key)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == version:
        return True, entry[1], version
    return False, None, version


async def store(key: str, version: int, payload: Any) -> None:
    """Remember an answer under the version seen *before* the fetch (a write meanwhile makes it stale)."""
    if version < 0:
        return
    try:
        await cache.aset(key, (version, payload), ttl_seconds())
    except Exception as exc:
        logger.warning("intervals cache unavailable (%s); not stored", type(exc).__name__)


async def invalidate(athlete_id: str) -> None:
    """Threshold wrote for this athlete: nothing cached before now may be served again."""
    key = _version_key(athlete_id)
    try:
        # Outlive every entry; add() is a no-op when the counter exists, incr() is atomic in Redis.
        await cache.aadd(key, 0, None)
        await cache.aincr(key)
    except Exception:
        logger.exception("intervals cache: could not invalidate athlete %s", athlete_id)
