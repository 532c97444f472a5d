"""Holding up while Redis is down or black-holed: one "Redis is down" circuit per process and server, and a
Django cache backend that falls back to a per-process store instead of raising.

Every Redis client in Threshold has short connect and read timeouts (REDIS_SOCKET_TIMEOUT), so a dead or
silent server costs at most that once. After a failure the circuit opens: for REDIS_RETRY_AFTER_SECONDS
every caller in this process skips Redis at once (the cache answers from its fallback, the limiters use
their per-process buckets, Celery publishing leaves recorded work for the sweep), then the next caller
tries Redis again. A black hole thus adds one timeout per retry period, not one per request.

What each caller does while the circuit is open is its own decision, documented where it is made:
- the Django cache (this backend): a per-process LocMemCache, so allauth's login/signup rate limits keep
  counting per process (fail open to a per-process bound) instead of the page answering 500;
- accounts/throttle.py (the /token/ page that sends email): fails closed (503);
- integrations/intervals/cache.py: reads through to Intervals.icu, never the per-process copy;
- integrations/intervals/ratelimit.py: per-process GCRA buckets at the same rates;
- accounts/tasks.submit: no publish; the work is already in PostgreSQL and the beat sweep re-queues it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis.exceptions
from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger(__name__)

# Failures that mean "Redis is unreachable or not answering" (redis-py wraps socket errors in these; kombu
# re-raises them as its OperationalError, which submit() handles). A ResponseError is a bug: it propagates.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)

_T = TypeVar("_T")


def _server(url: str) -> str:
    """Circuits are per server (host:port), not per database number: one dead server, one circuit."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}" if parts.scheme.startswith("redis") else ""


class RedisCircuit:
    """Per-process memory of which Redis servers failed recently. Thread-safe, never blocks on I/O."""

    def __init__(self) -> None:
        self._down_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def available(self, url: str) -> bool:
        """False while `url`'s server failed less than REDIS_RETRY_AFTER_SECONDS ago (True for non-Redis URLs)."""
        server = _server(url)
        if not server:
            return True
        with self._lock:
            until = self._down_until.get(server)
            if until is None:
                return True
            if time.monotonic() < until:
                return False
            # Half-open: the caller that sees this probes Redis; a new failure re-opens the circuit.
            del self._down_until[server]
            return True

    def trip(self, url: str, exc: BaseException, *, who: str) -> None:
        """Record a failure: skip `url`'s server for REDIS_RETRY_AFTER_SECONDS. Logged once per opening."""
        server = _server(url)
        if not server:
            return
        with self._lock:
            was_down = server in self._down_until
            self._down_until[server] = time.monotonic() + float(settings.REDIS_RETRY_AFTER_SECONDS)
        if not was_down:
            logger.warning(
                "Redis %s unavailable (%s from %s); skipping it for %ss",
                server,
                type(exc).__name__,
                who,
                settings.REDIS_RETRY_AFTER_SECONDS,
            )

    def reset(self) -> None:
        with self._lock:
            self._down_until.clear()


circuit = RedisCircuit()


_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = weakref.WeakKeyDictionary()


def async_client(url: str) -> Any:
    """The running event loop's asyncio Redis client for `url` (short timeouts, like every client here).
    For a command on the request path: awaiting it costs no thread hop, unlike the sync cache API."""
    import redis.asyncio as aioredis

    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(url)
    if client is None:
        timeout = float(settings.REDIS_SOCKET_TIMEOUT)
        client = per_loop[url] = aioredis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    return client


def redis_available(url: str | None = None) -> bool:
    """True when `url` (default REDIS_URL) is not known to be down; always True without Redis."""
    target = settings.REDIS_URL if url is None else url
    return not target or circuit.available(target)


class _ReusingRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, keeping one `redis.Redis` per connection pool.

    Django builds a new `redis.Redis` for every operation; its constructor (a dict of ~170 response
    callbacks) was the largest single CPU cost of a cached MCP read in bench/mcp_overhead. A `redis.Redis`
    is thread-safe (it takes a pooled connection per command), so one per pool serves every thread.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}
        self._clients_lock = threading.Lock()

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            with self._clients_lock:
                client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))  # type: ignore[attr-defined]
        return client


class ResilientRedisCache(RedisCache):
    """Django's RedisCache, but a Redis outage never raises: while the circuit is open (or when a call
    fails) the operation runs on a per-process LocMemCache instead. Counters and entries kept there are
    this process's alone and are forgotten once Redis answers again."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusingRedisCacheClient
        self._url = server if isinstance(server, str) else ",".join(server)
        # One fallback store per process, whatever the number of instances: Django builds a cache instance
        # per thread and async context, and each LocMemCache name stays registered for the process's life
        # (a per-instance name grew memory by ~3 KB per MCP call in bench/load.py).
        self._fallback = LocMemCache("threshold-redis-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})

    def validate_key(self, key: Any) -> None:
        """No-op: Django's check only warns about keys memcached could not store (a per-character Python
        loop on every operation). Redis takes any key, and this backend is never swapped for memcached."""

    def _guard(self, op: str, on_redis: Callable[[], _T], on_fallback: Callable[[], _T]) -> _T:
        if not circuit.available(self._url):
            return on_fallback()
        try:
            return on_redis()
        except UNAVAILABLE as exc:
            circuit.trip(self._url, exc, who=f"cache.{op}")
            return on_fallback()

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._guard(
            "add",
            lambda: super(ResilientRedisCache, self).add(key, value, timeout, version),
            lambda: self._fallback.add(key, value, timeout, version),
        )

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._guard(
            "get",
            lambda: super(ResilientRedisCache, self).get(key, default, version),
            lambda: self._fallback.get(key, default, version),
        )

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._guard(
            "set",
            lambda: super(ResilientRedisCache, self).set(key, value, timeout, version),
            lambda: self._fallback.set(key, value, timeout, version),
        )

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._guard(
            "touch",
            lambda: super(ResilientRedisCache, self).touch(key, timeout, version),
            lambda: self._fallback.touch(key, timeout, version),
        )

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._guard(
            "delete",
            lambda: super(ResilientRedisCache, self).delete(key, version),
            lambda: self._fallback.delete(key, version),
        )

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._guard(
            "get_many",
            lambda: super(ResilientRedisCache, self).get_many(keys, version),
            lambda: self._fallback.get_many(keys, version),
        )

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._guard(
            "has_key",
            lambda: super(ResilientRedisCache, self).has_key(key, version),
            lambda: self._fallback.has_key(key, version),
        )

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        # A missing key raises ValueError on both stores (callers rely on it): only outages fall back.
        return self._guard(
            "incr",
            lambda: super(ResilientRedisCache, self).incr(key, delta, version),
            lambda: self._fallback.incr(key, delta, version),
        )

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:
        return self._guard(
            "set_many",
            lambda: super(ResilientRedisCache, self).set_many(data, timeout, version),
            lambda: self._fallback.set_many(data, timeout, version),
        )

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._guard(
            "delete_many",
            lambda: super(ResilientRedisCache, self).delete_many(keys, version),
            lambda: self._fallback.delete_many(keys, version),
        )

    def clear(self) -> None:
        self._fallback.clear()
        self._guard("clear", lambda: super(ResilientRedisCache, self).clear(), lambda: None)
