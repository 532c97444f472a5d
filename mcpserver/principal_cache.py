"""Principals kept between MCP requests, for exactly as long as nothing they were built from changed.

Every MCP request needs its Principal: the token's row joined to its user, Intervals.icu link and billing
row, and for a coach the grants and roster. Loading it is a database round trip and a thread hop, the
largest part of Threshold's own cost per call (bench/mcp_overhead). Here each Principal is kept in this
process's memory, keyed by the token's digest, and served again only while all of these hold:

- the **auth epoch** in Redis still has the value read *before* the Principal was loaded. Every committed
  write to a table a Principal is built from bumps it. The bump is triggered by the SQL itself (an execute
  wrapper on every Django database connection, in every process: web, worker, management command), so an
  ORM save, a `QuerySet.update()`, a cascade, a flush and raw SQL through Django all count; only the
  token's `last_used_at` and a user's `last_login` are bookkeeping that changes no access;
- the clock has not reached the Principal's `changes_at` (a coach grant expiring at the athlete's
  midnight, a billing grace period running out);
- it is younger than MCP_PRINCIPAL_CACHE_SECONDS: a backstop for writes made outside Django (psql) and
  for a bump that Redis refused while other processes could still read the old epoch.

Reading the epoch costs no round trip while this process tracks it (config/redis_tracking.py: Redis
pushes every change of the key to each process, which takes it in before serving anything), and one Redis
call otherwise, shared with the token's limit and the athlete's cache version. A busy token's limit is
checked against slots leased a few at a time (integrations/intervals/ratelimit.py), so most of its calls
make no Redis round trip at all. Without Redis (or while its circuit is open) there is no epoch, and every
request loads its Principal from the database, as it always did. So a regenerated token, a revoked grant
or a lapsed subscription stops working with the next request after the commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper

from accounts import tokens
from config import redis_guard, redis_tracking
from integrations.intervals.ratelimit import NOT_READ, get_token_limiter
from mcpserver.db import run_db
from mcpserver.principal import Preflight, Principal, load_principal

logger = logging.getLogger(__name__)

# How often a served token's last_used_at is written (load_principal uses the same resolution).
_TOUCH_SECONDS = 300.0

# The epoch's start when Redis has none (first use, or Redis lost it): random, so a counter recreated
# after a loss never matches an epoch some process still holds entries for.
_LUA_BUMP = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])
"""


def enabled() -> bool:
    return bool(settings.REDIS_URL) and settings.MCP_PRINCIPAL_CACHE_SECONDS > 0


def epoch_key() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX') or 'thr'}:mcp:auth-epoch"


def _random_start() -> int:
    return secrets.randbelow(2**40) + 1


@dataclasses.dataclass
class _Entry:
    digest: str
    epoch: int
    principal: Principal
    expires: float  # time.time() after which the entry is not served
    touched: float  # time.time() of the last last_used_at write


class _Entries:
    """A bounded LRU of entries; thread-safe (bumps clear it from whichever thread committed)."""

    def __init__(self) -> None:
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> _Entry | None:
        with self._lock:
            entry = self._data.get(digest)
            if entry is not None:
                self._data.move_to_end(digest)
            return entry

    def put(self, entry: _Entry) -> None:
        with self._lock:
            self._data[entry.digest] = entry
            self._data.move_to_end(entry.digest)
            while len(self._data) > max(1, settings.MCP_PRINCIPAL_CACHE_SIZE):
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


entries = _Entries()


# --- reading the epoch (on the event loop) ------------------------------------------------------------


async def read_epoch() -> int | None:
    """The current auth epoch, or None when it cannot be known now (no Redis, Redis down)."""
    if not enabled() or not redis_guard.circuit.available(settings.REDIS_URL):
        return None
    key = epoch_key()
    tracked = _tracked()
    known = tracked.get(key) if tracked is not None else redis_tracking.MISSING
    if isinstance(known, bytes):
        return int(known)
    try:
        client = redis_guard.async_client(settings.REDIS_URL)
        mark = tracked.mark() if tracked is not None else -1
        raw = await client.get(key)
        if tracked is not None:
            tracked.learn(key, raw, mark)
        if raw is None:
            await client.set(key, _random_start(), nx=True)
            raw = await client.get(key)
        return int(raw) if raw is not None else None
    except redis_guard.UNAVAILABLE as exc:
        redis_guard.circuit.trip(settings.REDIS_URL, exc, who="principal cache")
        return None
    except Exception:
        logger.exception("principal cache: could not read the auth epoch; loading from the database")
        return None


# --- serving -------------------------------------------------------------------------------------------

_background: set[asyncio.Task[Any]] = set()


def _touch_last_used(token_id: int) -> None:
    from django.utils import timezone

    from accounts.models import McpToken

    McpToken.objects.filter(pk=token_id).update(last_used_at=timezone.now())


def _touch(entry: _Entry) -> None:
    """Keep last_used_at as coarse-fresh as load_principal keeps it, off the request's path."""
    now = time.time()
    if now - entry.touched < _TOUCH_SECONDS:
        return
    entry.touched = now

    async def write() -> None:
        try:
            await run_db(_touch_last_used, entry.principal.token_id)
        except Exception:
            logger.exception("could not record a token's last use")

    task = asyncio.get_running_loop().create_task(write())
    _background.add(task)
    task.add_done_callback(_background.discard)


def _copy(principal: Principal) -> Principal:
    """A request's own Principal: requests append to `deferred_log`, and must never share one."""
    return dataclasses.replace(principal, athletes=list(principal.athletes), deferred_log=None, preflight=None)


def _live(digest: str) -> _Entry | None:
    """This process's entry for `digest` if the clock still allows serving it (the epoch is checked apart)."""
    entry = entries.get(digest)
    if entry is not None and hmac.compare_digest(entry.digest, digest) and time.time() < entry.expires:
        return entry
    return None


def _tracked() -> redis_tracking.Tracker | None:
    """This process's tracker of the auth epoch and the athletes' cache versions (None: round trips)."""
    from integrations.intervals import cache as intervals_cache

    found = redis_tracking.tracker(epoch_key())
    version_prefix = intervals_cache.version_redis_prefix()
    if found is None or version_prefix is None:
        return found
    return redis_tracking.tracker(version_prefix)


def _served_locally(entry: _Entry, call: tuple[str, Any]) -> Principal | None:
    """A tool call on a cached Principal with no Redis round trip at all, when this process knows the
    current auth epoch and the athlete's cache version (Redis's invalidation stream vouches for both,
    config/redis_tracking.py) and holds a leased slot of the token's limit. None: make the round trip."""
    from mcpserver.catalogue import preflight_keys

    tracked = _tracked()
    if tracked is None:
        return None
    raw_epoch = tracked.get(epoch_key())
    if not isinstance(raw_epoch, bytes) or int(raw_epoch) != entry.epoch:
        return None
    bucket, athlete_id, version_key = preflight_keys(entry.principal, *call)
    raw_version: object = NOT_READ
    if version_key is not None:
        raw_version = tracked.get(version_key)
        if not isinstance(raw_version, bytes):
            return None
    if not get_token_limiter().take_leased(bucket):
        return None
    fresh = _copy(entry.principal)
    fresh.preflight = Preflight(0.0, athlete_id, raw_version)
    return fresh


async def _preflight(entry: _Entry, call: tuple[str, Any]) -> tuple[int | None, Principal | None, Preflight | None]:
    """One Redis call for a tool call on a cached Principal: the auth epoch, the token's limiter slot and
    the athlete's cache version together. Returns (the epoch or None, the Principal if the epoch vouches
    for the entry, the reservation)."""
    from mcpserver.catalogue import preflight_keys

    bucket, athlete_id, version_key = preflight_keys(entry.principal, *call)
    read = (epoch_key(), version_key) if version_key else (epoch_key(),)
    tracked = _tracked()
    mark = tracked.mark() if tracked is not None else -1
    wait, values = await get_token_limiter().reserve_reading(0, key=bucket, read=read, lease=True)
    raw_epoch = values[0]
    if tracked is not None:
        tracked.learn(epoch_key(), raw_epoch, mark)
        if version_key is not None:
            tracked.learn(version_key, values[1], mark)
    epoch = int(raw_epoch) if isinstance(raw_epoch, bytes) else None
    if epoch is not None and epoch == entry.epoch:
        fresh = _copy(entry.principal)
        fresh.preflight = Preflight(wait, athlete_id, values[1] if version_key else NOT_READ)
        return epoch, fresh, None
    # Stale or unknown: the slot stays reserved for this call (no second charge), the rest is read again.
    return epoch, None, Preflight(wait)


async def authenticate(raw_token: str, call: tuple[str, Any] | None = None) -> Principal | None:
    """The Principal for a raw token, or None for anything that must answer 404 (as load_principal).

    `call`: (tool name, raw arguments) when the request is a single tools/call. For a cached Principal
    the auth epoch is then read in the same Redis call as the per-token limit and the athlete's cache
    version (left on `Principal.preflight` for run_tool), rather than in a round trip of its own.
    """
    if not tokens.is_well_formed(raw_token):
        return None  # typos and probes never reach Redis or the database
    digest = tokens.digest(raw_token)
    entry = _live(digest)
    reserved: Preflight | None = None
    if entry is not None and call is not None and enabled() and redis_guard.circuit.available(settings.REDIS_URL):
        local = _served_locally(entry, call)
        if local is not None:
            _touch(entry)
            return local
        epoch, served, reserved = await _preflight(entry, call)
        if served is not None:
            _touch(entry)
            return served
        if epoch is None:
            epoch = await read_epoch()  # Redis lost the epoch (or is down): start it again, or do without
    else:
        epoch = await read_epoch()  # before loading: a write committed after this read bumps past it
        if epoch is not None and entry is not None and entry.epoch == epoch:
            _touch(entry)
            return _copy(entry.principal)
    principal = await run_db(load_principal, raw_token)
    if principal is not None and epoch is not None:
        now = time.time()
        expires = now + float(settings.MCP_PRINCIPAL_CACHE_SECONDS)
        if principal.changes_at is not None:
            expires = min(expires, principal.changes_at.timestamp())
        last_used = principal.last_used_at.timestamp() if principal.last_used_at is not None else now
        entries.put(_Entry(digest, epoch, _copy(principal), expires, last_used))
    if principal is not None and reserved is not None and entry is not None:
        if principal.token_id == entry.principal.token_id:
            principal.preflight = reserved
    return principal


# --- invalidation (in whichever process and thread commits the write) ----------------------------------

_sync_client: Any = None
_sync_lock = threading.Lock()


def bump() -> None:
    """Move the auth epoch on: every process's cached Principals stop being served. Never raises."""
    global _sync_client
    entries.clear()  # this process at once, whatever Redis says
    if not enabled() or not redis_guard.circuit.available(settings.REDIS_URL):
        if enabled():
            logger.warning("principal cache: Redis unavailable, other processes keep Principals up to their age bound")
        return
    try:
        with _sync_lock:
            if _sync_client is None:
                import redis

                timeout = float(settings.REDIS_SOCKET_TIMEOUT)
                client = redis.Redis.from_url(
                    settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout
                )
                _sync_client = client.register_script(_LUA_BUMP)
            script = _sync_client
        script(keys=[epoch_key()], args=[_random_start()])
        redis_tracking.barrier(script.registered_client)  # every tracking process has seen it now
    except redis_guard.UNAVAILABLE as exc:
        redis_guard.circuit.trip(settings.REDIS_URL, exc, who="principal cache")
        logger.warning("principal cache: auth epoch not bumped; other processes keep Principals up to their age bound")
    except Exception:
        logger.exception("principal cache: could not bump the auth epoch")


def _bump_on_commit() -> None:
    bump()


# The tables a Principal is built from (see load_principal), and per table the columns whose writes are
# bookkeeping only.
_BOOKKEEPING: dict[str, frozenset[str]] = {}
_TARGET = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?([\w.]+)"?', re.IGNORECASE)
_ASSIGNED = re.compile(r'"?(\w+)"?\s*=')


def _watched() -> dict[str, frozenset[str]]:
    if not _BOOKKEEPING:
        from accounts.models import BillingAccount, McpToken, User
        from coaching.models import CoachApiKey, CoachGrant, RosterAthlete
        from integrations.intervals.models import IntervalsLink

        bookkeeping = {McpToken: {"last_used_at"}, User: {"last_login"}}
        for model in (McpToken, User, IntervalsLink, BillingAccount, CoachGrant, CoachApiKey, RosterAthlete):
            columns = {model._meta.get_field(name).column for name in bookkeeping.get(model, set())}  # type: ignore[union-attr]
            _BOOKKEEPING[model._meta.db_table] = frozenset(c for c in columns if c)
    return _BOOKKEEPING


def changes_access(sql: str) -> bool:
    """Whether a statement may change what some Principal is built from (errs towards True)."""
    verb = sql.lstrip()[:8].upper()
    if not verb.startswith(("INSERT", "UPDATE", "DELETE", "TRUNCATE")):
        return False
    watched = _watched()
    if verb.startswith("TRUNCATE"):
        return any(table in sql for table in watched)
    match = _TARGET.match(sql)
    if match is None:
        return any(table in sql for table in watched)  # a shape not parsed here: count it
    table = match.group(1)
    if table not in watched:
        return False
    bookkeeping = watched[table]
    if bookkeeping and verb.startswith("UPDATE"):
        head, _, _where = sql.partition(" WHERE ")
        _, _, assignments = head.partition(" SET ")
        assigned = set(_ASSIGNED.findall(assignments))
        if assigned and assigned <= bookkeeping:
            return False
    return True


def watch_writes(execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """Execute wrapper: after a statement that may change access, bump the epoch once the transaction
    commits (at once in autocommit). A rolled-back transaction bumps nothing."""
    result = execute(sql, params, many, context)
    if isinstance(sql, str) and changes_access(sql):
        connection: BaseDatabaseWrapper = context["connection"]
        if connection.in_atomic_block:
            if not any(pending[1] is _bump_on_commit for pending in connection.run_on_commit):
                connection.on_commit(_bump_on_commit)
        else:
            bump()
    return result


def install(connection: BaseDatabaseWrapper, **_: Any) -> None:
    """connection_created receiver: watch this connection's writes (once: pooled connections repeat it)."""
    if watch_writes not in connection.execute_wrappers:
        connection.execute_wrappers.append(watch_writes)
