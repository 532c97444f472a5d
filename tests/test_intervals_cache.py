"""The shared read cache: shared across tokens reaching one athlete, invalidated by Threshold's writes,
scoped to the athlete resolved from the grant."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from accounts.actions import reveal_token
from coaching.actions import grantable_tools, invite_coach
from integrations.intervals import cache
from integrations.intervals.client import Bearer, IntervalsClient
from tests.conftest import MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.read_tools_helpers import ok, requests_since

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def cached(settings: Any) -> None:
    settings.INTERVALS_CACHE_SECONDS = 300
    async_to_sync(cache.invalidate)(MARA)  # nothing from an earlier test


@pytest.fixture
def urls(product: ServerThread, sandbox: Sandbox, cached: None) -> dict[str, str]:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    reads = grantable_tools()["read"]
    one = invite_coach(mara, "one@coach.example", reads)
    two = invite_coach(mara, "two@coach.example", reads)
    assert one.coach_token is not None and two.coach_token is not None
    return {
        "mara": mcp_url(product, mara),
        "one": f"{product.url}/mcp/{reveal_token(one.coach_token)}",
        "two": f"{product.url}/mcp/{reveal_token(two.coach_token)}",
    }


def mara_calls(sandbox: Sandbox, mark: int) -> list[Any]:
    return [r for r in requests_since(sandbox, mark) if r[3] == MARA]


async def test_a_second_token_reads_the_same_athlete_from_the_cache(urls: dict[str, str], sandbox: Sandbox) -> None:
    mark = len(sandbox.state.requests)
    first = await ok(urls["one"], "athlete_overview", {"athlete": MARA})
    assert mara_calls(sandbox, mark), "the first call reads upstream"
    mark = len(sandbox.state.requests)
    second = await ok(urls["two"], "athlete_overview", {"athlete": MARA})
    assert mara_calls(sandbox, mark) == []
    assert second["load"] == first["load"] and second["next_2_weeks"] == first["next_2_weeks"]
    # The athlete's own URL asking the same range shares it too.
    mark = len(sandbox.state.requests)
    await ok(urls["mara"], "get_events", {"start": first["today"][4:]})
    await ok(urls["one"], "roster_digest", {})
    paths = [r[1] for r in mara_calls(sandbox, mark)]
    assert not any(p.endswith("/wellness") or p.endswith("/activities") for p in paths), paths


async def test_a_write_through_threshold_invalidates_the_athlete(urls: dict[str, str], sandbox: Sandbox) -> None:
    before = await ok(urls["one"], "athlete_overview", {"athlete": MARA})
    day = before["next_2_weeks"][-1]["date"][4:]
    title = f"Cache check {uuid.uuid4().hex[:6]}"
    await ok(urls["mara"], "add_calendar_note", {"date": day, "title": title})
    mark = len(sandbox.state.requests)
    after = await ok(urls["two"], "athlete_overview", {"athlete": MARA})
    assert mara_calls(sandbox, mark), "the write made the cached entries stale"
    assert any(r.get("name") == title for r in after["next_2_weeks"])


async def test_only_the_athletes_own_paths_are_cached_unless_vouched_for(cached: None, sandbox: Sandbox) -> None:
    assert cache.cacheable_path(MARA, f"/api/v1/athlete/{MARA}/activities")
    assert cache.cacheable_path(MARA, f"/api/v1/athlete/{MARA}")
    assert not cache.cacheable_path(MARA, f"/api/v1/athlete/{MARA}0/activities")
    assert not cache.cacheable_path(MARA, "/api/v1/activity/123/messages")
    assert not cache.cacheable_path(MARA, "/api/v1/athlete/0/activities")
    # Keys ignore parameter order and credentials, and differ per athlete.
    k1 = cache.entry_key(MARA, "u", "/p", {"a": 1, "b": 2})
    assert k1 == cache.entry_key(MARA, "u", "/p", {"b": 2, "a": 1})
    assert k1 != cache.entry_key("i100002", "u", "/p", {"a": 1, "b": 2})
    token = sandbox.state.demo_token(MARA)
    client = IntervalsClient(Bearer(token), base_url=sandbox.url, cache_athlete=MARA)
    other = IntervalsClient(Bearer(token), base_url=sandbox.url, cache_athlete=MARA)
    path = f"/api/v1/athlete/{MARA}/sport-settings"
    await client.request("GET", path)
    await other.request("GET", path)
    assert (client.calls, other.calls, other.cache_hits) == (1, 0, 1)
    await other.request("GET", "/api/v1/athlete/0")  # not the bound athlete's path: never cached
    await other.request("GET", "/api/v1/athlete/0")
    assert other.calls == 2


async def test_a_ttl_of_zero_disables_the_cache(settings: Any, sandbox: Sandbox) -> None:
    settings.INTERVALS_CACHE_SECONDS = 0
    client = IntervalsClient(Bearer(sandbox.state.demo_token(MARA)), base_url=sandbox.url, cache_athlete=MARA)
    for _ in range(2):
        await client.request("GET", f"/api/v1/athlete/{MARA}/sport-settings")
    assert client.calls == 2 and client.cache_hits == 0
