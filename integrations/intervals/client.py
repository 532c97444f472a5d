"""The one seam through which Threshold talks to Intervals.icu.

Every upstream request goes through `IntervalsClient.request`: async httpx, a timeout on every call, an
overall deadline, the deployment-wide rate limiter, retries on 429 (honouring Retry-After) for any
method and on 5xx / lost responses for idempotent methods only, and typed errors
(`integrations.intervals.errors`). Credentials travel only in the Authorization header and never
appear in exceptions or logs.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import functools
import logging
import math
import random
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from django.conf import settings

from integrations.intervals import cache, errors
from integrations.intervals.ratelimit import RateLimitExceeded, acquire_upstream
from integrations.intervals.schemas import (
    Activity,
    Athlete,
    CurveSet,
    Event,
    Folder,
    Message,
    OAuthToken,
    SportSettings,
    Stream,
    Wellness,
    parse_list,
    parse_tuple,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_BIG_BODY_BYTES = 256 * 1024  # answers larger than this are decoded in a worker thread

_http_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def _http() -> httpx.AsyncClient:
    """One pooled AsyncClient per event loop (connections cannot cross loops)."""
    loop = asyncio.get_running_loop()
    client = _http_clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            headers={"User-Agent": f"Threshold/0.1 (+{settings.SITE_URL})", "Accept": "application/json"},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            follow_redirects=False,
        )
        _http_clients[loop] = client
    return client


class CircuitBreaker:
    """Fail fast while Intervals.icu is down, instead of every tool call waiting out its own deadline.

    After `threshold` consecutive failed logical requests (5xx, timeouts, connection errors, each already
    retried), the breaker opens for `cooldown` seconds: calls fail at once with a clear "retry in N s".
    Then one probe request is let through; success closes the breaker, failure opens it again. State is
    per process (each worker learns on its own within `threshold` calls), which keeps it free of Redis.
    """

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        self.open_until = 0.0
        self.probing = False
        self._lock = threading.Lock()

    def before_call(self) -> None:
        with self._lock:
            now = time.monotonic()
            if self.open_until == 0.0:
                return
            if now < self.open_until or self.probing:
                wait = max(1, math.ceil(self.open_until - now))
                raise errors.UpstreamUnavailable(f"circuit open; retry in {wait} s", retry_in=wait)
            self.probing = True  # half-open: this call is the probe

    def succeeded(self) -> None:
        with self._lock:
            self.failures, self.open_until, self.probing = 0, 0.0, False

    def failed(self) -> None:
        with self._lock:
            self.failures += 1
            if self.probing or self.failures >= self.threshold:
                self.open_until = time.monotonic() + self.cooldown
            self.probing = False


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(base_url: str) -> CircuitBreaker:
    with _breakers_lock:
        breaker = _breakers.get(base_url)
        if breaker is None:
            breaker = _breakers[base_url] = CircuitBreaker(
                settings.INTERVALS_BREAKER_FAILURES, settings.INTERVALS_BREAKER_COOLDOWN_SECONDS
            )
        return breaker


def reset_breakers() -> None:
    """Forget breaker state (tests)."""
    with _breakers_lock:
        _breakers.clear()


@dataclass(frozen=True)
class Bearer:
    """An OAuth access token (reaches only the athlete who granted it)."""

    token: str

    def header(self) -> str:
        return f"Bearer {self.token}"

    def __repr__(self) -> str:  # never print the secret
        return "Bearer(***)"


@dataclass(frozen=True)
class ApiKey:
    """A personal API key (HTTP Basic, username literally API_KEY)."""

    key: str

    def header(self) -> str:
        return "Basic " + base64.b64encode(f"API_KEY:{self.key}".encode()).decode()

    def __repr__(self) -> str:
        return "ApiKey(***)"


Credential = Bearer | ApiKey


class DeferredCredential:
    """A credential made only when a request really goes upstream: decrypting one costs CPU that a read
    served from the cache never needs. `make` is called at most once."""

    def __init__(self, make: Callable[[], Credential]) -> None:
        self._make = make
        self._made: Credential | None = None

    def header(self) -> str:
        if self._made is None:
            self._made = self._make()
        return self._made.header()

    def __repr__(self) -> str:  # never print the secret
        return "DeferredCredential(***)"


def _retry_after_seconds(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _backoff(attempt: int) -> float:
    # Full jitter: spread retries of concurrent callers.
    return random.uniform(0, min(4.0, 0.25 * (2 ** (attempt - 1))))


def _upstream_message(response: httpx.Response) -> str:
    """A short, credential-free excerpt of an upstream error body."""
    try:
        body = response.json()
        text = str(body.get("error") or body.get("message") or "") if isinstance(body, dict) else ""
    except ValueError:
        text = response.text
    return text.strip().replace("\n", " ")[:200]


@functools.cache
def _activity_list_fields() -> str:
    """The `fields=` for activity lists: only what `Activity` reads. Intervals.icu then also drops nulls,
    so a list of full ~180-field activities shrinks to the few dozen we use (smaller transfer, cache
    entry and parse). Intervals and groups never come in lists."""
    skip = {"icu_intervals", "icu_groups"}
    return ",".join(f.alias or name for name, f in Activity.model_fields.items() if name not in skip)


# Parsers for memoised reads (module-level, so each is one stable function): immutable results.
def _activities(payload: Any) -> tuple[Activity, ...]:
    return parse_tuple(Activity, payload)


def _wellness(payload: Any) -> tuple[Wellness, ...]:
    return parse_tuple(Wellness, payload)


def _events(payload: Any) -> tuple[Event, ...]:
    return parse_tuple(Event, payload)


def _sport_settings(payload: Any) -> tuple[SportSettings, ...]:
    return parse_tuple(SportSettings, payload)


def _folders(payload: Any) -> tuple[Folder, ...]:
    return parse_tuple(Folder, payload)


def _curves(payload: Any) -> CurveSet:
    return CurveSet.model_validate(payload if isinstance(payload, dict) else {})


class IntervalsClient:
    """Calls for one credential. Cheap to construct; the HTTP pool is shared per event loop.

    `cache_athlete`: the athlete this client acts for, as resolved from the caller's grant (never a
    model-supplied value). When set, GETs about that athlete go through the shared read cache
    (`integrations.intervals.cache`) and every write invalidates that athlete's cached entries.
    """

    def __init__(
        self,
        credential: Credential | DeferredCredential | None = None,
        *,
        base_url: str | None = None,
        cache_athlete: str | None = None,
    ) -> None:
        self.credential = credential
        self.base_url = (base_url or settings.INTERVALS_BASE_URL).rstrip("/")
        self.cache_athlete = cache_athlete or None
        self.calls = 0  # upstream HTTP attempts made by this client (for tests and benchmarks)
        self.cache_hits = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        authenticated: bool = True,
        owned: bool = False,
    ) -> Any:
        """Send one logical request with retries; return the decoded JSON body (or None).

        `owned=True`: the caller vouches that a GET outside `/athlete/<id>/` (e.g. an activity's
        messages, by an id it listed for this athlete) is about `cache_athlete`, so it may be cached.
        """
        method = method.upper()
        athlete = self.cache_athlete
        cache.note_uncached()  # raw answers are not tracked per read: an answer built on one is not memoised
        if athlete is None or not cache.enabled():
            return await self._send(method, path, params=params, json=json, data=data, authenticated=authenticated)
        if method != "GET":
            try:
                return await self._send(method, path, params=params, json=json, data=data, authenticated=authenticated)
            finally:
                await cache.invalidate(athlete)
        # A write tool reading what it is about to change (its undo pre-image) always reads fresh.
        if cache.bypass.get() or not (owned or cache.cacheable_path(athlete, path)):
            return await self._send(method, path, params=params, json=json, data=data, authenticated=authenticated)
        key = cache.entry_key(athlete, self.base_url, path, params)
        hit, payload, version = await cache.lookup(athlete, key)
        if hit:
            self.cache_hits += 1
            return payload
        payload = await self._send(method, path, params=params, json=json, data=data, authenticated=authenticated)
        await cache.store(key, version, payload)
        return payload

    async def read(
        self, path: str, parse: Callable[[Any], T], *, params: dict[str, Any] | None = None, owned: bool = False
    ) -> T:
        """A GET whose decoded answer `parse` turns into an immutable value (frozen models in a tuple).

        Cached exactly like `request`; a cached answer's parsed value is also memoised in this process
        (`cache.read_parsed`), so repeated reads skip the fetch, unpickling and validation.
        """
        athlete = self.cache_athlete

        async def fetch() -> Any:
            return await self._send("GET", path, params=params, json=None, data=None, authenticated=True)

        if (
            athlete is None
            or not cache.enabled()
            or cache.bypass.get()
            or not (owned or cache.cacheable_path(athlete, path))
        ):
            cache.note_uncached()
            return parse(await fetch())
        key = cache.entry_key(athlete, self.base_url, path, params)
        hit, value = await cache.read_parsed(athlete, key, parse, fetch)
        if hit:
            self.cache_hits += 1
        return value  # type: ignore[no-any-return]

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None,
        json: Any,
        data: dict[str, str] | None,
        authenticated: bool,
    ) -> Any:
        """One logical request behind the circuit breaker (see `CircuitBreaker`)."""
        breaker = breaker_for(self.base_url)
        breaker.before_call()
        try:
            result = await self._send_with_retries(
                method, path, params=params, json=json, data=data, authenticated=authenticated
            )
        except errors.UpstreamUnavailable:
            breaker.failed()
            raise
        except BaseException:
            breaker.succeeded()  # the upstream answered (4xx, 429) or the caller went away: not an outage
            raise
        breaker.succeeded()
        return result

    async def _send_with_retries(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None,
        json: Any,
        data: dict[str, str] | None,
        authenticated: bool,
    ) -> Any:
        idempotent = method in IDEMPOTENT_METHODS
        timeout_s: float = settings.INTERVALS_TIMEOUT_SECONDS
        deadline = time.monotonic() + settings.INTERVALS_DEADLINE_SECONDS
        max_attempts: int = settings.INTERVALS_MAX_ATTEMPTS
        headers = {}
        if authenticated:
            if self.credential is None:
                raise errors.UpstreamAuthError("no credential")
            headers["Authorization"] = self.credential.header()
        url = self.base_url + path
        last_exc: errors.IntervalsError | None = None

        for attempt in range(1, max_attempts + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await acquire_upstream(remaining, self.cache_athlete)
            except RateLimitExceeded as exc:
                raise errors.UpstreamRateLimited(
                    "local upstream budget exhausted", retry_after=exc.wait_seconds
                ) from None
            remaining = deadline - time.monotonic()
            per_try = max(0.05, min(timeout_s, remaining))
            self.calls += 1
            try:
                response = await _http().request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    timeout=httpx.Timeout(per_try, connect=min(3.0, per_try)),
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # The request never reached the server: safe to retry whatever the method.
                last_exc = errors.UpstreamUnavailable(f"connect failed: {type(exc).__name__}")
            except httpx.TimeoutException as exc:
                last_exc = errors.UpstreamUnavailable(f"timed out: {type(exc).__name__}")
                if not idempotent:
                    raise last_exc from None
            except httpx.TransportError as exc:
                last_exc = errors.UpstreamUnavailable(f"transport error: {type(exc).__name__}")
                if not idempotent:
                    raise last_exc from None
            else:
                status = response.status_code
                if status == 429:
                    wait = _retry_after_seconds(response)
                    wait = _backoff(attempt) if wait is None else wait
                    last_exc = errors.UpstreamRateLimited("upstream 429", retry_after=wait)
                    if attempt == max_attempts or time.monotonic() + wait >= deadline:
                        raise last_exc
                    logger.info("intervals: 429 on %s %s, retrying in %.2fs", method, path, wait)
                    await asyncio.sleep(wait)
                    continue
                if status >= 500:
                    last_exc = errors.UpstreamUnavailable(f"upstream {status}", status=status)
                    if not idempotent:
                        raise last_exc
                elif status >= 400:
                    raise self._client_error(response)
                else:
                    if not response.content:
                        return None
                    try:
                        if len(response.content) > _BIG_BODY_BYTES:
                            # Megabytes (a day-long activity's streams) decode beside the event loop.
                            return await asyncio.to_thread(response.json)
                        return response.json()
                    except ValueError:
                        raise errors.UpstreamUnavailable("upstream sent a non-JSON body", status=status) from None
            if attempt < max_attempts:
                pause = _backoff(attempt)
                if time.monotonic() + pause >= deadline:
                    break
                logger.info("intervals: %s on %s %s, retry %d", last_exc, method, path, attempt)
                await asyncio.sleep(pause)
        raise last_exc or errors.UpstreamUnavailable("deadline exceeded")

    @staticmethod
    def _client_error(response: httpx.Response) -> errors.IntervalsError:
        status = response.status_code
        detail = _upstream_message(response)
        if status == 401:
            return errors.UpstreamAuthError(detail, status=status)
        if status == 403:
            return errors.UpstreamForbidden(detail, status=status)
        if status == 404:
            return errors.UpstreamNotFound(detail, status=status)
        return errors.UpstreamInvalid(detail, status=status)

    # --- OAuth ---------------------------------------------------------------------------------------
    async def exchange_code(self, code: str) -> OAuthToken:
        """Trade an authorization code for a token (single use, so never retried on 5xx)."""
        payload = await self.request(
            "POST",
            "/api/oauth/token",
            data={
                "client_id": settings.INTERVALS_CLIENT_ID,
                "client_secret": settings.INTERVALS_CLIENT_SECRET,
                "code": code,
            },
            authenticated=False,
        )
        return OAuthToken.model_validate(payload)

    async def disconnect_app(self) -> None:
        await self.request("DELETE", "/api/v1/disconnect-app")

    # --- Reads ---------------------------------------------------------------------------------------
    async def get_athlete(self, athlete_id: str = "0") -> Athlete:
        return await self.read(f"/api/v1/athlete/{athlete_id}", Athlete.model_validate)

    async def get_connections(self, athlete_id: str = "0") -> dict[str, Any]:
        payload = await self.request("GET", f"/api/v1/athlete/{athlete_id}/connections")
        return payload if isinstance(payload, dict) else {}

    async def list_activities(
        self, athlete_id: str, oldest: str, newest: str, limit: int | None = None
    ) -> list[Activity]:
        params: dict[str, Any] = {"oldest": oldest, "newest": newest, "fields": _activity_list_fields()}
        if limit:
            params["limit"] = limit
        return list(await self.read(f"/api/v1/athlete/{athlete_id}/activities", _activities, params=params))

    async def get_athlete_activity(
        self, athlete_id: str, activity_id: str, *, intervals: bool = False
    ) -> Activity | None:
        """One activity, asked through its athlete: an id of another athlete comes back as None, never as data."""
        params = {"intervals": "true"} if intervals else None
        payload = await self.request("GET", f"/api/v1/athlete/{athlete_id}/activities/{activity_id}", params=params)
        found = [a for a in parse_list(Activity, payload) if a.id == activity_id]
        return found[0] if found else None

    async def get_streams(self, activity_id: str, types: list[str]) -> dict[str, Stream]:
        payload = await self.request(
            "GET", f"/api/v1/activity/{activity_id}/streams", params={"types": ",".join(types)}
        )
        # Validated beside the event loop too: a stream holds one value per second of the activity.
        parsed = await asyncio.to_thread(parse_list, Stream, payload)
        return {s.type: s for s in parsed}

    async def list_activity_messages(self, activity_id: str, *, owned: bool = False) -> list[Message]:
        """`owned=True` only for an activity id listed for `cache_athlete` (lets the answer be cached)."""
        payload = await self.request("GET", f"/api/v1/activity/{activity_id}/messages", owned=owned)
        return parse_list(Message, payload)

    async def list_wellness(self, athlete_id: str, oldest: str, newest: str) -> list[Wellness]:
        params = {"oldest": oldest, "newest": newest}
        return list(await self.read(f"/api/v1/athlete/{athlete_id}/wellness", _wellness, params=params))

    async def list_events(
        self, athlete_id: str, oldest: str, newest: str, categories: list[str] | None = None
    ) -> list[Event]:
        params: dict[str, Any] = {"oldest": oldest, "newest": newest}
        if categories:
            params["category"] = ",".join(categories)
        return list(await self.read(f"/api/v1/athlete/{athlete_id}/events", _events, params=params))

    async def list_sport_settings(self, athlete_id: str) -> list[SportSettings]:
        return list(await self.read(f"/api/v1/athlete/{athlete_id}/sport-settings", _sport_settings))

    async def list_folders(self, athlete_id: str) -> list[Folder]:
        return list(await self.read(f"/api/v1/athlete/{athlete_id}/folders", _folders))

    async def get_curves(self, athlete_id: str, kind: str, curves: list[str], sport: str | None = None) -> CurveSet:
        """Athlete best-effort curves; kind is "power", "pace" or "hr"; curves like "42d", "s0", "r.A.B"."""
        params: dict[str, Any] = {"curves": ",".join(curves)}
        if sport:
            params["type"] = sport
        return await self.read(f"/api/v1/athlete/{athlete_id}/{kind}-curves", _curves, params=params)
