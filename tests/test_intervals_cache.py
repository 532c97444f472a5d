"""The shared read cache: shared across tokens reaching one athlete, invalidated by Threshold's writes,
scoped to the athlete resolved from the grant."""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta
from typing import Any

import anyio
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from pydantic import ValidationError

from accounts.actions import reveal_token
from coaching.actions import accept_invite, grantable_tools, invite_coach
from integrations.intervals import cache
from integrations.intervals.client import Bearer, IntervalsClient, _activity_list_fields
from tests.conftest import MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.read_tools_helpers import mara_today, ok, requests_since

# The sandbox's athletes train up to today.
RECENT = ((date.today() - timedelta(days=60)).isoformat(), date.today().isoformat())

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
    one = accept_invite(invite_coach(mara, "one@coach.example", reads))
    two = accept_invite(invite_coach(mara, "two@coach.example", reads))
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
    # get_events reads the activities of its own window too (done / missed status): the digest that follows
    # must find everything it needs already cached.
    mark = len(sandbox.state.requests)
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
    assert any(r.get("name") == {"untrusted": title} for r in after["next_2_weeks"])


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


async def test_a_repeated_read_is_answered_from_the_parsed_memo(cached: None, sandbox: Sandbox) -> None:
    client = IntervalsClient(Bearer(sandbox.state.demo_token(MARA)), base_url=sandbox.url, cache_athlete=MARA)
    first = await client.list_activities(MARA, *RECENT)
    assert first and client.calls == 1
    # The shared entry is gone (evicted, say): the memo still answers while the athlete's version holds.
    params = {"oldest": RECENT[0], "newest": RECENT[1], "fields": _activity_list_fields()}
    entry = cache.entry_key(MARA, sandbox.url, f"/api/v1/athlete/{MARA}/activities", params)
    assert await sync_to_async(cache._store().delete)(entry)
    second = await client.list_activities(MARA, *RECENT)
    assert client.calls == 1 and client.cache_hits == 1
    assert [a.id for a in second] == [a.id for a in first]
    assert second is not first and second[0] is first[0], "the same frozen models, in a fresh list"
    with pytest.raises(ValidationError):
        second[0].name = "changed"  # type: ignore[misc]  # memoised models are shared: they cannot change


async def test_a_write_makes_the_memo_stale(cached: None, sandbox: Sandbox) -> None:
    client = IntervalsClient(Bearer(sandbox.state.demo_token(MARA)), base_url=sandbox.url, cache_athlete=MARA)
    await client.list_wellness(MARA, *RECENT)
    await client.list_wellness(MARA, *RECENT)
    assert (client.calls, client.cache_hits) == (1, 1)
    await cache.invalidate(MARA)  # what every write through a client bound to Mara does
    await client.list_wellness(MARA, *RECENT)
    assert client.calls == 2


async def test_a_lost_version_never_revives_memoised_answers(cached: None, sandbox: Sandbox) -> None:
    client = IntervalsClient(Bearer(sandbox.state.demo_token(MARA)), base_url=sandbox.url, cache_athlete=MARA)
    await client.list_events(MARA, *RECENT)
    # Redis restarted (or evicted the counter): a new counter never restarts where an old one was.
    await sync_to_async(cache._store().delete)(cache._version_key(MARA))
    await client.list_events(MARA, *RECENT)
    assert (client.calls, client.cache_hits) == (2, 0)


async def test_the_memo_expires_with_the_entry_it_came_from(cached: None, settings: Any, sandbox: Sandbox) -> None:
    settings.INTERVALS_CACHE_SECONDS = 1
    client = IntervalsClient(Bearer(sandbox.state.demo_token(MARA)), base_url=sandbox.url, cache_athlete=MARA)
    await client.list_sport_settings(MARA)
    await client.list_sport_settings(MARA)
    assert (client.calls, client.cache_hits) == (1, 1)
    await anyio.sleep(1.1)
    await client.list_sport_settings(MARA)
    assert client.calls == 2


def test_the_memo_keeps_a_bounded_amount_of_answers(settings: Any) -> None:
    settings.INTERVALS_CACHE_SECONDS = 300
    memo = cache.ParsedMemo(max_weight=100)  # KB of upstream JSON; no one answer over 10
    memo.put("a", 1, ("x",), fetched_at=time.time(), weight=8)
    memo.put("b", 1, ("y",), fetched_at=time.time(), weight=8)
    assert memo.get("a", 1)[0]  # touched: now the most recently used
    for i in range(11):
        memo.put(f"filler{i}", 1, ("z",), fetched_at=time.time(), weight=8)
    # 104 KB asked for: the least recently used answer (b, not the touched a) made room.
    assert [memo.get(k, 1)[0] for k in ("a", "b")] == [True, False]
    assert memo.get("filler10", 1)[0]
    memo.put("huge", 1, ("w",), fetched_at=time.time(), weight=11)  # over a tenth of the whole memo
    assert not memo.get("huge", 1)[0]
    assert not memo.get("filler10", 2)[0], "another version of the athlete is another entry"
    # Weights are the size of the upstream answer: a long list weighs more than a short one.
    short = [{"id": f"i{n}", "name": "Easy run", "distance": 8000.0} for n in range(10)]
    assert cache._weight(short) == 1 and cache._weight(short * 100) > 30


def test_the_shared_store_keeps_one_redis_client_for_its_pool() -> None:
    store = cache._store()
    client = store._cache.get_client(write=True)  # type: ignore[attr-defined]
    assert store._cache.get_client() is client  # type: ignore[attr-defined]  # not one per operation
    store.set("thr:test:one-client", 1, 5)
    assert store.get("thr:test:one-client") == 1 and store._cache.get_client() is client  # type: ignore[attr-defined]


@pytest.fixture
def handler_runs(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often each read tool's handler really ran (an answer from the memo runs none)."""
    from dataclasses import replace

    from mcpserver.catalogue import REGISTRY

    runs: dict[str, int] = {}
    for name in ("get_training_history", "get_wellness", "get_activity_detail"):
        spec = REGISTRY[name]

        def counting(handler: Any, name: str = name) -> Any:
            async def run(call: Any, args: Any) -> Any:
                runs[name] = runs.get(name, 0) + 1
                return await handler(call, args)

            return run

        monkeypatch.setitem(REGISTRY, name, replace(spec, handler=counting(spec.handler)))
    return runs


async def test_a_repeated_question_is_answered_from_memory_until_a_write(
    urls: dict[str, str], sandbox: Sandbox, handler_runs: dict[str, int]
) -> None:
    """The same read tool, arguments, athlete and day on unchanged data: the answer built and checked the
    first time, for any token reaching the athlete; a write through Threshold makes it stale."""
    first = await ok(urls["one"], "get_wellness", {"athlete": MARA})
    mark = len(sandbox.state.requests)
    again = await ok(urls["two"], "get_wellness", {"athlete": MARA})
    assert again == first and handler_runs["get_wellness"] == 1
    assert not requests_since(sandbox, mark)
    week = (mara_today() - timedelta(days=6)).isoformat()
    await ok(urls["one"], "get_wellness", {"athlete": MARA, "start": week})
    assert handler_runs["get_wellness"] == 2, "other arguments: built anew"
    logged = {"date": mara_today().isoformat(), "resting_hr": 47}
    preview = await ok(urls["mara"], "log_wellness", logged)
    if preview["status"] == "preview":  # the day had a resting HR already: replacing it takes the go-ahead
        await ok(urls["mara"], "log_wellness", {**logged, "confirm": preview["confirm"]})
    after = await ok(urls["two"], "get_wellness", {"athlete": MARA})
    assert handler_runs["get_wellness"] == 3, "the write moved the athlete's version on"
    assert after != first


async def test_an_answer_resting_on_an_uncached_read_is_never_remembered(
    urls: dict[str, str], handler_runs: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    await ok(urls["one"], "get_training_history", {"athlete": MARA})
    await ok(urls["one"], "get_training_history", {"athlete": MARA})
    assert handler_runs["get_training_history"] == 1
    # One read now bypasses the versioned cache (as a raw request() does): nothing built on it is kept.
    real_read = IntervalsClient.read

    async def uncached_read(self: IntervalsClient, path: str, parse: Any, **kw: Any) -> Any:
        cache.note_uncached()
        return await real_read(self, path, parse, **kw)

    monkeypatch.setattr(IntervalsClient, "read", uncached_read)
    week = (mara_today() - timedelta(days=6)).isoformat()
    for _ in range(2):
        await ok(urls["one"], "get_training_history", {"athlete": MARA, "start": week})
    assert handler_runs["get_training_history"] == 3
