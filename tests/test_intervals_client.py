"""The client seam against the sandbox's fault knobs: retries, Retry-After, deadlines, the shared limiter."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from integrations.intervals import errors
from integrations.intervals.client import ApiKey, Bearer, IntervalsClient
from integrations.intervals.ratelimit import RateLimitExceeded, UpstreamLimiter
from tests.conftest import DIEGO, MARA, SAM, Sandbox

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def mara(sandbox: Sandbox) -> IntervalsClient:
    return IntervalsClient(Bearer(sandbox.state.demo_token(MARA)))


def calls_to(sandbox: Sandbox, fragment: str) -> list[Any]:
    return [r for r in sandbox.state.requests if fragment in r[1]]


async def test_it_reads_the_athlete_through_the_seam(sandbox: Sandbox) -> None:
    athlete = await mara(sandbox).get_athlete("0")
    assert athlete.name == "Mara Lindqvist" and athlete.timezone == "Europe/Stockholm"
    assert any(s.ftp for s in athlete.sportSettings)


async def test_it_retries_429_honouring_retry_after(sandbox: Sandbox) -> None:
    sandbox.state.faults.set(status=429, retry_after=1, times=1)
    client = mara(sandbox)
    started = time.monotonic()
    athlete = await client.get_athlete("0")
    elapsed = time.monotonic() - started
    assert athlete.id == MARA
    assert client.calls == 2
    assert elapsed >= 0.95, "the Retry-After of 1 s must be waited out"


async def test_it_gives_up_on_429_when_retry_after_passes_the_deadline(sandbox: Sandbox, settings: Any) -> None:
    settings.INTERVALS_DEADLINE_SECONDS = 2.0
    sandbox.state.faults.set(status=429, retry_after=30)
    client = mara(sandbox)
    started = time.monotonic()
    with pytest.raises(errors.UpstreamRateLimited) as exc:
        await client.get_athlete("0")
    assert time.monotonic() - started < 1.0, "no point waiting when the answer would come too late"
    assert exc.value.retry_after == 30
    assert "retry after about 30 s" in errors.retry_after_text(exc.value)


async def test_it_retries_5xx_for_reads_with_bounded_attempts(sandbox: Sandbox, settings: Any) -> None:
    settings.INTERVALS_MAX_ATTEMPTS = 3
    sandbox.state.faults.set(status=502, times=2)
    client = mara(sandbox)
    assert (await client.get_athlete("0")).id == MARA
    assert client.calls == 3
    sandbox.state.faults.set(status=500)
    client = mara(sandbox)
    with pytest.raises(errors.UpstreamUnavailable):
        await client.get_athlete("0")
    assert client.calls == 3


async def test_it_never_retries_a_post_on_5xx(sandbox: Sandbox) -> None:
    sandbox.state.faults.set(status=500, path_contains="/events")
    client = mara(sandbox)
    with pytest.raises(errors.UpstreamUnavailable):
        await client.request(
            "POST",
            f"/api/v1/athlete/{MARA}/events",
            json={"category": "NOTE", "start_date_local": "2026-12-01T00:00:00", "name": "x"},
        )
    assert client.calls == 1


async def test_it_bounds_a_hanging_upstream_by_the_deadline(sandbox: Sandbox, settings: Any) -> None:
    settings.INTERVALS_TIMEOUT_SECONDS = 0.3
    settings.INTERVALS_DEADLINE_SECONDS = 1.0
    sandbox.state.faults.set(hang=True)
    started = time.monotonic()
    with pytest.raises(errors.UpstreamUnavailable):
        await mara(sandbox).get_athlete("0")
    assert time.monotonic() - started < 1.6


async def test_it_maps_upstream_refusals_to_typed_errors(sandbox: Sandbox) -> None:
    with pytest.raises(errors.UpstreamForbidden):
        await mara(sandbox).get_athlete(DIEGO)  # a bearer token reaches only its own athlete
    with pytest.raises(errors.UpstreamAuthError):
        await IntervalsClient(Bearer("0" * 32)).get_athlete("0")


async def test_it_keeps_credentials_out_of_errors(sandbox: Sandbox) -> None:
    token = sandbox.state.demo_token(MARA)
    sandbox.state.faults.set(status=500)
    with pytest.raises(errors.UpstreamUnavailable) as exc:
        await IntervalsClient(Bearer(token)).get_athlete("0")
    assert token not in str(exc.value) and token not in repr(exc.value.__dict__)
    assert token not in repr(Bearer(token)) and "key" not in repr(ApiKey("key"))


async def test_it_reads_a_coach_roster_with_an_api_key_only(sandbox: Sandbox) -> None:
    roster = await IntervalsClient(ApiKey(sandbox.state.api_key(SAM))).request("GET", "/api/v1/athletes")
    ids = {a["id"] for a in roster}
    assert {MARA, DIEGO} <= ids
    with pytest.raises(errors.UpstreamForbidden):
        await mara(sandbox).request("GET", "/api/v1/athletes")


async def test_it_shares_one_budget_across_workers_through_redis(settings: Any) -> None:
    """Two limiter instances (two workers) on one Redis key never exceed the deployment-wide rate."""
    key = f"thr:test:gcra:{uuid.uuid4().hex}"  # private to this test, whatever else shares Redis
    workers = [UpstreamLimiter(20.0, 2, settings.REDIS_URL, key=key) for _ in range(2)]
    stamps: list[float] = []

    async def one(limiter: UpstreamLimiter) -> None:
        await limiter.acquire(max_wait=10)
        stamps.append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*(one(workers[i % 2]) for i in range(30)))
    elapsed = time.monotonic() - started
    # 30 slots at 20/s with a burst of 2: the last slot is due after (30 - 2) / 20 = 1.4 s.
    assert elapsed >= 1.3
    stamps.sort()
    busiest = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
    assert busiest <= 20 + 2


async def test_it_keeps_using_redis_at_very_high_configured_rates(settings: Any) -> None:
    """Sub-millisecond intervals once made Redis refuse a zero expiry and sent the limiter to its fallback."""
    limiter = UpstreamLimiter(100_000.0, 1000, settings.REDIS_URL, key=f"thr:test:gcra:{uuid.uuid4().hex}")
    for _ in range(5):
        await limiter.acquire(max_wait=1)
    assert limiter._redis_failed_at == 0.0


async def test_it_reserves_by_script_digest_and_survives_redis_forgetting_the_script(settings: Any) -> None:
    import redis.asyncio as aioredis

    key = f"thr:test:gcra:{uuid.uuid4().hex}"
    limiter = UpstreamLimiter(1.0, 1, settings.REDIS_URL, key=key)
    server = aioredis.from_url(settings.REDIS_URL)
    try:
        await limiter.acquire(max_wait=0)
        await server.script_flush()  # a Redis restart or failover forgets loaded scripts
        with pytest.raises(RateLimitExceeded):
            await limiter.acquire(max_wait=0)  # still counted in Redis: the bucket is spent for a second
        assert limiter._redis_failed_at == 0.0, "never fell back to the per-process bucket"
        assert await server.exists(key)
    finally:
        await server.aclose()


async def test_it_reads_keys_in_the_limiters_own_round_trip_and_says_when_it_could_not(settings: Any) -> None:
    """The per-token limit, the auth epoch and the athlete's cache version travel in one Redis call."""
    import redis.asyncio as aioredis

    from config import redis_guard
    from integrations.intervals.ratelimit import NOT_READ

    bucket, held = f"thr:test:gcra:{uuid.uuid4().hex}", f"thr:test:read:{uuid.uuid4().hex}"
    limiter = UpstreamLimiter(1000.0, 10, settings.REDIS_URL, key=bucket)
    server = aioredis.from_url(settings.REDIS_URL)
    try:
        await server.set(held, b"41")
        wait, values = await limiter.reserve_reading(0, read=(held, held + ":absent"))
        assert wait == 0 and values == [b"41", None]
        assert (await limiter.reserve_reading(0))[1] == []
        for _ in range(20):  # once the bucket is spent it refuses, and still reads
            wait, values = await limiter.reserve_reading(0, read=(held,))
            if wait < 0:
                assert values == [b"41"]
                with pytest.raises(RateLimitExceeded):
                    await limiter.settle(wait)
                break
        else:
            pytest.fail("the bucket never ran out")
        redis_guard.circuit.trip(settings.REDIS_URL, ConnectionError("test"), who="test")
        _, values = await limiter.reserve_reading(0, key=bucket + ":local", read=(held,))
        assert values == [NOT_READ], "the per-process bucket cannot read Redis: the caller reads for itself"
    finally:
        await server.aclose()


async def test_it_fails_fast_while_the_circuit_is_open_and_recovers_after_a_probe(
    sandbox: Sandbox, settings: Any
) -> None:
    settings.INTERVALS_BREAKER_FAILURES = 2
    settings.INTERVALS_BREAKER_COOLDOWN_SECONDS = 1.0
    settings.INTERVALS_MAX_ATTEMPTS = 1
    sandbox.state.faults.set(status=503)
    for _ in range(2):
        with pytest.raises(errors.UpstreamUnavailable):
            await mara(sandbox).get_athlete("0")
    before = sandbox.state.request_count
    started = time.monotonic()
    with pytest.raises(errors.UpstreamUnavailable) as fast:
        await mara(sandbox).get_athlete("0")
    assert time.monotonic() - started < 0.05 and sandbox.state.request_count == before  # no upstream call
    assert "Retry in about 1 s" in fast.value.user_message
    sandbox.state.faults.clear()
    await asyncio.sleep(1.05)
    assert (await mara(sandbox).get_athlete("0")).id == MARA  # the probe succeeds and closes the circuit
    assert (await mara(sandbox).get_athlete("0")).id == MARA


async def test_it_lists_activities_with_only_the_fields_it_reads(sandbox: Sandbox) -> None:
    """`fields=` keeps the ~180-field activities (nulls included) out of the wire, the cache and the parse."""
    import datetime as dt

    today = dt.date.today()
    activities = await mara(sandbox).list_activities("0", str(today - dt.timedelta(days=120)), str(today))
    real = [a for a in activities if not a.is_strava_stub]
    assert real and all(a.icu_training_load is not None and a.moving_time for a in real)
    assert all(not a.model_extra for a in activities), "only allow-listed fields come back"
    assert any(a.is_strava_stub for a in activities), "Strava stubs stay recognisable"
