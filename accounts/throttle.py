"""Fixed-window rate limits in Django's cache (Redis in production and tests).

Fails closed: when the cache cannot be reached `hit` raises ThrottleUnavailable and callers refuse the
request ("try again shortly"). Failing open would let anyone make us send unlimited emails to any
address while Redis is down, which is worse than a briefly unavailable form. The cache backend itself
falls back to per-process counters during an outage (config/redis_guard.py); those are not trusted
here: a count that did not come from Redis is treated as unavailable. Without Redis (the embedded
default) the local cache is the store and is trusted.
"""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache

from config.redis_guard import redis_available


class ThrottleUnavailable(Exception):
    """The counter store is unreachable."""


def hit(scope: str, key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt for (scope, key); True while the count in the current window is within `limit`."""
    # Hashed: raw email addresses and IPs never become cache keys.
    digest = hashlib.sha256(f"{scope}:{key}".encode()).hexdigest()[:40]
    window = int(time.time() // window_seconds)
    cache_key = f"throttle:{scope}:{digest}:{window}"
    if not redis_available():
        raise ThrottleUnavailable("Redis is down")
    try:
        cache.add(cache_key, 0, timeout=window_seconds + 5)
        count = cache.incr(cache_key)
    except ValueError:
        # The key expired between add and incr (a window edge): this is the first attempt of the window.
        try:
            cache.set(cache_key, 1, timeout=window_seconds + 5)
        except Exception as exc:
            raise ThrottleUnavailable(type(exc).__name__) from exc
        count = 1
    except Exception as exc:
        raise ThrottleUnavailable(type(exc).__name__) from exc
    if not redis_available():
        raise ThrottleUnavailable("Redis failed during the count")  # it came from the per-process store
    return int(count) <= limit
