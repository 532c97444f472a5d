"""Fairness of the shared Intervals.icu budget (issue #13): three athletes whose assistants call flat out
cannot make a fourth wait behind them. Each athlete has its own small share (4/s, burst 4) besides the
deployment's 10/s; one over its share steps back instead of booking slots ahead of the others.

People: Mara, Diego and Aroha each keep a dozen upstream requests waiting at all times; Sam asks for one
now and then. The limiter is the real one, through this test run's Redis.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from typing import Any

import pytest
from django.conf import settings as dj_settings

from integrations.intervals import ratelimit
from tests.conftest import AROHA, DIEGO, MARA, SAM

pytestmark = pytest.mark.anyio

NOISY = (MARA, DIEGO, AROHA)
IN_FLIGHT = 12  # requests each noisy athlete keeps waiting
SECONDS = 4.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def budget(settings: Any) -> Any:
    """The production budget: 10/s burst 5 for everyone, 4/s burst 4 per athlete; fresh buckets in Redis."""
    settings.INTERVALS_RATE_PER_SECOND = 10.0
    settings.INTERVALS_RATE_BURST = 5
    settings.INTERVALS_ATHLETE_RATE_PER_SECOND = 4.0
    settings.INTERVALS_ATHLETE_BURST = 4
    if dj_settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(dj_settings.REDIS_URL)
        for key in client.scan_iter("thr:intervals:gcra*"):
            client.delete(key)
    ratelimit.reset_limiter()
    return settings


async def run(seconds: float) -> tuple[list[float], Counter[str]]:
    """Noisy athletes flat out, Sam once every 300 ms: (Sam's waits, grants per noisy athlete)."""
    stop = time.monotonic() + seconds
    granted: Counter[str] = Counter()

    async def noisy(athlete: str) -> None:
        while time.monotonic() < stop:
            try:
                await ratelimit.acquire_upstream(10.0, athlete)
            except ratelimit.RateLimitExceeded:
                continue
            if time.monotonic() < stop:
                granted[athlete] += 1

    async def quiet(waits: list[float]) -> None:
        await asyncio.sleep(1.0)  # the noisy ones have filled the queue by now
        while time.monotonic() < stop:
            waits.append(await ratelimit.acquire_upstream(10.0, SAM))
            await asyncio.sleep(0.3)

    waits: list[float] = []
    tasks = [asyncio.create_task(noisy(a)) for a in NOISY for _ in range(IN_FLIGHT)]
    await quiet(waits)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return waits, granted


async def test_it_lets_sam_through_while_three_athletes_call_flat_out(budget: Any) -> None:
    waits, granted = await run(SECONDS)
    assert len(waits) >= 5
    print(f"Sam's waits with fairness: median {statistics.median(waits):.3f} s, max {max(waits):.3f} s; {granted}")
    assert statistics.median(waits) < 0.5, waits  # a few slots of 100 ms at most (3.6 s without fairness)
    # Each noisy athlete got no more than its own share, and together no more than the deployment's budget.
    for athlete in NOISY:
        assert granted[athlete] <= 4 * SECONDS + 4 + 1, granted
    assert sum(granted.values()) <= 10 * SECONDS + 5 + 1, granted
    assert sum(granted.values()) >= 6 * SECONDS, "slots Sam leaves go to the busy ones: nothing idles"


async def test_it_made_sam_wait_behind_them_without_fairness(budget: Any) -> None:
    budget.INTERVALS_ATHLETE_RATE_PER_SECOND = 0  # the limiter before issue #13: one queue, first come first served
    ratelimit.reset_limiter()
    waits, _ = await run(SECONDS)
    print(f"Sam's waits without fairness: median {statistics.median(waits):.3f} s")
    assert statistics.median(waits) > 1.0, waits
