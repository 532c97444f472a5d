"""Principals kept between requests (mcpserver/principal_cache.py): served again only while nothing they
were built from changed, the clock has not reached their own expiry, and Redis vouches for the epoch.

People: Mara (athlete) invites a coach; Diego is another athlete; an outsider holds no token at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from asgiref.sync import async_to_sync
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from mcp.client import Client

from accounts.actions import ensure_athlete_token, regenerate_token, reveal_token
from accounts.models import BillingAccount, McpToken, User
from coaching.actions import accept_invite, invite_coach, revoke_coach, select_athlete
from coaching.models import CoachGrant
from config import redis_guard
from mcpserver import principal_cache
from mcpserver.principal import Principal, load_principal
from tests.conftest import DIEGO, MARA, Sandbox, ServerThread, make_athlete

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every database load of a Principal the cache makes (the cache's fallback), in order."""
    made: list[str] = []

    def counting(raw: str) -> Principal | None:
        made.append(raw)
        return load_principal(raw)

    principal_cache.entries.clear()
    monkeypatch.setattr(principal_cache, "load_principal", counting)
    yield made
    principal_cache.entries.clear()


def authenticate(raw: str) -> Principal | None:
    return async_to_sync(principal_cache.authenticate)(raw)


def epoch() -> int:
    import redis
    from django.conf import settings

    return int(redis.Redis.from_url(settings.REDIS_URL).get(principal_cache.epoch_key()) or 0)


def whoami(url: str) -> Any:
    async def go() -> Any:
        async with Client(url, mode="legacy") as client:
            return await client.call_tool("whoami", {})

    return async_to_sync(go)()


def athlete_token(user: User) -> str:
    row = ensure_athlete_token(user)
    assert row is not None
    return reveal_token(row)


def test_it_serves_repeat_requests_without_loading_the_principal_again(
    product: ServerThread, sandbox: Sandbox, loads: list[str]
) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    raw = athlete_token(mara)
    for _ in range(3):
        assert whoami(f"{product.url}/mcp/{raw}").structured_content["role"] == "athlete"
    # Three sessions of several HTTP requests each (initialize, notifications, the call): one load.
    assert loads == [raw]


def test_it_stops_a_revoked_coach_with_the_very_next_request(
    product: ServerThread, sandbox: Sandbox, loads: list[str]
) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    grant = accept_invite(invite_coach(mara, "coach@example.com", ["get_training_history"]))
    assert grant.coach_token is not None
    url = f"{product.url}/mcp/{reveal_token(grant.coach_token)}"
    assert [a["id"] for a in whoami(url).structured_content["athletes"]] == [MARA]
    assert [a["id"] for a in whoami(url).structured_content["athletes"]] == [MARA]
    assert len(loads) == 1, "the second call was served from memory"
    revoke_coach(grant, actor=mara)  # a QuerySet.update(): no model signal fires, the SQL still counts
    assert whoami(url).structured_content["athletes"] == []
    assert len(loads) == 2


def test_it_kills_a_regenerated_token_and_moves_a_coach_to_the_selected_athlete_at_once(
    sandbox: Sandbox, loads: list[str]
) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    diego = make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox)
    grant = accept_invite(invite_coach(mara, "coach@example.com", ["get_training_history"]))
    accept_invite(invite_coach(diego, "coach@example.com", ["get_training_history"]))
    assert grant.coach_token is not None
    coach_raw = reveal_token(grant.coach_token)
    assert authenticate(coach_raw) is not None and authenticate(coach_raw) is not None
    select_athlete(grant.coach_token.pk, DIEGO)
    selected = authenticate(coach_raw)
    assert selected is not None and selected.default_athlete_id == DIEGO

    own_raw = athlete_token(mara)
    assert authenticate(own_raw) is not None
    row = McpToken.objects.get(user=mara, kind=McpToken.Kind.ATHLETE, revoked_at__isnull=True)
    _, new_raw = regenerate_token(row, actor=mara)
    assert authenticate(own_raw) is None, "the old URL is dead with the next request"
    assert authenticate(new_raw) is not None


def test_it_serves_nothing_from_memory_once_redis_lost_the_epoch_or_is_down(sandbox: Sandbox, loads: list[str]) -> None:
    import redis
    from django.conf import settings

    raw = athlete_token(make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))
    authenticate(raw)
    authenticate(raw)
    assert len(loads) == 1
    redis.Redis.from_url(settings.REDIS_URL).delete(principal_cache.epoch_key())  # a Redis restart
    authenticate(raw)
    assert len(loads) == 2, "a recreated epoch starts at random: it never matches an entry made before"
    redis_guard.circuit.trip(settings.REDIS_URL, ConnectionError("test"), who="test")
    for _ in range(2):
        assert authenticate(raw) is not None, "without Redis every request loads from the database"
    assert len(loads) == 4


def test_it_reloads_when_the_clock_reaches_the_principals_own_expiry(
    sandbox: Sandbox, loads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = athlete_token(make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))
    authenticate(raw)
    authenticate(raw)
    assert len(loads) == 1
    later = principal_cache.time.time() + 61  # past MCP_PRINCIPAL_CACHE_SECONDS (60)
    monkeypatch.setattr(principal_cache.time, "time", lambda: later)
    authenticate(raw)
    assert len(loads) == 2


def test_it_knows_when_a_grant_or_a_grace_period_runs_out_on_its_own(sandbox: Sandbox) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)  # Europe/Stockholm
    grant = accept_invite(invite_coach(mara, "coach@example.com", ["get_training_history"]))
    assert grant.coach_token is not None
    coach_raw = reveal_token(grant.coach_token)
    no_expiry = load_principal(coach_raw)
    assert no_expiry is not None and no_expiry.changes_at is None
    CoachGrant.objects.filter(pk=grant.pk).update(expires_on=dt.date(2030, 3, 9))
    expiring = load_principal(coach_raw)
    assert expiring is not None and expiring.changes_at is not None
    # The grant works through the 9th, Mara's time: it stops at her midnight, 23:00 UTC in winter.
    assert expiring.changes_at == dt.datetime(2030, 3, 9, 23, 0, tzinfo=dt.UTC)

    with override_settings(BILLING_ENABLED=True, GRACE_DAYS=7):
        failed = timezone.now() - dt.timedelta(days=2)
        BillingAccount.objects.update_or_create(user=mara, defaults={"status": "past_due", "payment_failed_at": failed})
        own = load_principal(athlete_token(mara))
        assert own is not None and not own.blocked_reason
        assert own.changes_at == failed + dt.timedelta(days=7)


def test_it_counts_committed_writes_that_change_access_and_nothing_else(sandbox: Sandbox) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    raw = athlete_token(mara)
    row = McpToken.objects.get(user=mara, revoked_at__isnull=True)
    before = epoch()
    McpToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())  # bookkeeping
    User.objects.filter(pk=mara.pk).update(last_login=timezone.now())  # bookkeeping
    assert epoch() == before
    with transaction.atomic():
        McpToken.objects.filter(pk=row.pk).update(default_athlete_id=MARA)
        User.objects.filter(pk=mara.pk).update(name="Mara K.")
        assert epoch() == before, "nothing moves before the commit"
    assert epoch() == before + 1, "one bump per committed transaction"
    with pytest.raises(RuntimeError), transaction.atomic():
        User.objects.filter(pk=mara.pk).update(is_active=False)
        raise RuntimeError("rolled back")
    assert epoch() == before + 1, "a rolled-back write changes nothing"
    assert load_principal(raw) is not None


@pytest.mark.parametrize(
    ("sql", "counts"),
    [
        ('UPDATE "accounts_mcptoken" SET "last_used_at" = %s WHERE "accounts_mcptoken"."id" = %s', False),
        ('UPDATE "accounts_user" SET "last_login" = %s WHERE "accounts_user"."id" = %s', False),
        ('UPDATE "accounts_mcptoken" SET "revoked_at" = %s WHERE "accounts_mcptoken"."id" = %s', True),
        ('UPDATE "accounts_mcptoken" SET "last_used_at" = %s, "user_id" = %s WHERE "id" = %s', True),
        ('INSERT INTO "coaching_coachgrant" ("athlete_id") VALUES (%s)', True),
        ('DELETE FROM "coaching_rosterathlete" WHERE "coaching_rosterathlete"."coach_id" = %s', True),
        ('TRUNCATE "coaching_accesslogentry", "accounts_billingaccount" RESTART IDENTITY', True),
        ('INSERT INTO "coaching_accesslogentry" ("tool") VALUES (%s)', False),
        ('SELECT "accounts_mcptoken"."id" FROM "accounts_mcptoken"', False),
    ],
)
def test_it_tells_access_changing_statements_from_the_rest(sql: str, counts: bool) -> None:
    assert principal_cache.changes_access(sql) is counts


def test_it_gives_every_request_its_own_principal(sandbox: Sandbox, loads: list[str]) -> None:
    raw = athlete_token(make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))
    first, second = authenticate(raw), authenticate(raw)
    assert first is not None and second is not None and first is not second
    first.deferred_log = [{"tool": "get_wellness"}]
    third = authenticate(raw)
    assert third is not None and third.deferred_log is None, "one request's log rows never reach another"


def test_it_keeps_last_used_at_fresh_on_long_lived_entries(
    sandbox: Sandbox, loads: list[str], monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.MCP_PRINCIPAL_CACHE_SECONDS = 3600
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    raw = athlete_token(mara)
    authenticate(raw)
    stamped = McpToken.objects.get(user=mara, revoked_at__isnull=True).last_used_at
    assert stamped is not None
    later = principal_cache.time.time() + 301
    monkeypatch.setattr(principal_cache.time, "time", lambda: later)

    async def served_then_settled() -> Principal | None:
        principal = await principal_cache.authenticate(raw)
        for task in list(principal_cache._background):
            await task
        return principal

    assert async_to_sync(served_then_settled)() is not None
    assert len(loads) == 1, "served from memory"
    assert McpToken.objects.get(user=mara, revoked_at__isnull=True).last_used_at > stamped  # type: ignore[operator]


def post_call(url: str, tool: str, arguments: dict[str, Any]) -> httpx.Response:
    """One stateless tools/call, as assistants send them after initialize."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-11-25",
    }
    return httpx.post(url, json=body, headers=headers, timeout=30)


def redis_commands() -> dict[str, int]:
    import redis
    from django.conf import settings

    stats = redis.Redis.from_url(settings.REDIS_URL).info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def redis_made_by_calls(url: str, calls: int) -> dict[str, int]:
    """Redis commands (name -> count) made while `calls` get_training_history calls for Mara are answered."""
    ours = {"info", "hello", "select", "client|setinfo"}  # this test's own connection to read the stats
    before = redis_commands()
    for _ in range(calls):
        answer = post_call(url, "get_training_history", {}).json()["result"]
        assert not answer["isError"] and answer["structuredContent"]["athlete"]["id"] == MARA
    after = redis_commands()
    return {n: after[n] - before.get(n, 0) for n in after if after[n] != before.get(n, 0) and n not in ours}


def test_it_checks_a_cached_tool_call_in_at_most_one_redis_command(
    product: ServerThread, sandbox: Sandbox, loads: list[str], settings: Any
) -> None:
    """Without tracking: auth epoch, per-token limit and the athlete's cache version in one EVALSHA per
    call, no other Redis command."""
    settings.INTERVALS_CACHE_SECONDS = 300  # the read cache on, as in production: no upstream call
    settings.REDIS_TRACKING = False
    url = f"{product.url}/mcp/{athlete_token(make_athlete('mara@example.com', athlete_id=MARA, sandbox=sandbox))}"
    for _ in range(2):  # the Principal, then the read cache, warm up
        assert post_call(url, "get_training_history", {}).status_code == 200
    made = redis_made_by_calls(url, 5)
    # Inside the script: GET the epoch and the version, and unless a leased slot is used, TIME and the
    # bucket's GET and SET.
    assert made["evalsha"] == 5 and set(made) <= {"evalsha", "get", "time", "set"}, made
    assert len(loads) == 1


def test_it_answers_a_busy_tokens_cached_calls_without_asking_redis(
    product: ServerThread, sandbox: Sandbox, loads: list[str], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With tracking (the default): the epoch and the version are known in the process, the token's slots
    are leased a few at a time. Most calls make no Redis round trip, and a change is still seen at once."""
    from django.conf import settings as live_settings

    from config import redis_tracking
    from integrations.intervals import ratelimit

    settings.INTERVALS_CACHE_SECONDS = 300
    # However slowly a loaded machine answers: no lease lapses and no heartbeat goes stale mid-test.
    monkeypatch.setattr(ratelimit, "LEASE_SECONDS", 60.0)
    monkeypatch.setattr(redis_tracking, "STALE_AFTER", 60.0)
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    url = f"{product.url}/mcp/{athlete_token(mara)}"
    for _ in range(3):
        assert post_call(url, "get_training_history", {}).status_code == 200
    made = redis_made_by_calls(url, 40)
    assert made.get("evalsha", 0) <= 6, made  # leases of 2, 4, 8, 16, 32 slots
    assert set(made) <= {"evalsha", "get", "time", "set", "ping"}, made  # ping: the tracker's heartbeat
    assert len(loads) == 1
    redis.Redis.from_url(live_settings.REDIS_URL).incr(principal_cache.epoch_key())  # another worker's bump
    post_call(url, "get_training_history", {})
    assert len(loads) == 2, "the bump is seen with the next call"


def test_it_answers_404_to_a_regenerated_token_on_the_one_round_trip_path(
    product: ServerThread, sandbox: Sandbox, loads: list[str]
) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    raw = athlete_token(mara)
    assert post_call(f"{product.url}/mcp/{raw}", "whoami", {}).status_code == 200
    assert post_call(f"{product.url}/mcp/{raw}", "whoami", {}).status_code == 200
    row = McpToken.objects.get(user=mara, revoked_at__isnull=True)
    _, new_raw = regenerate_token(row, actor=mara)
    assert post_call(f"{product.url}/mcp/{raw}", "whoami", {}).status_code == 404
    assert post_call(f"{product.url}/mcp/{new_raw}", "whoami", {}).status_code == 200


def test_it_counts_a_call_once_against_the_token_limit_even_when_its_entry_was_stale(
    product: ServerThread, sandbox: Sandbox, loads: list[str], settings: Any
) -> None:
    from integrations.intervals.ratelimit import reset_limiter

    settings.MCP_TOKEN_CALLS_PER_MINUTE = 1
    settings.MCP_TOKEN_BURST = 3
    reset_limiter()
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    url = f"{product.url}/mcp/{athlete_token(mara)}"
    answers = [post_call(url, "whoami", {}).json()["result"]]
    User.objects.filter(pk=mara.pk).update(name="Mara K.")  # the cached Principal is stale now
    answers += [post_call(url, "whoami", {}).json()["result"] for _ in range(3)]
    assert [a["isError"] for a in answers] == [False, False, False, True], "a burst of 3, each call once"
    assert answers[1]["structuredContent"]["owner"] == {"untrusted": "Mara K."}
    assert "Too many calls" in answers[3]["content"][0]["text"]
    reset_limiter()


def another_worker_writes(sql: str, params: list[Any]) -> None:
    """A change committed by another worker process: straight to PostgreSQL (this process's entries stay),
    then that worker's epoch bump in Redis."""
    import psycopg
    import redis
    from django.conf import settings
    from django.db import connection

    dsn = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in dsn.items() if k != "cursor_factory"}, autocommit=True) as other:
        other.execute(sql, params)
    redis.Redis.from_url(settings.REDIS_URL).incr(principal_cache.epoch_key())


def test_it_sees_another_workers_changes_with_the_next_request(
    product: ServerThread, sandbox: Sandbox, loads: list[str]
) -> None:
    """This worker still holds the Principal; the epoch another worker moved is enough: a renamed user's new
    name, and for a tool call (its epoch read with the limiter) a revoked URL's exact 404."""
    from mcpserver.gate import NOT_FOUND_BODY

    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    url = f"{product.url}/mcp/{athlete_token(mara)}"
    assert post_call(url, "whoami", {}).json()["result"]["structuredContent"]["owner"] == {
        "untrusted": "mara@example.com"
    }
    assert len(loads) == 1
    another_worker_writes('UPDATE "accounts_user" SET "name" = %s WHERE "id" = %s', ["Mara K.", mara.pk])
    assert post_call(url, "whoami", {}).json()["result"]["structuredContent"]["owner"] == {"untrusted": "Mara K."}
    assert len(loads) == 2
    assert post_call(url, "whoami", {}).status_code == 200 and len(loads) == 2, "cached again"
    another_worker_writes(
        'UPDATE "accounts_mcptoken" SET "revoked_at" = now() WHERE "user_id" = %s AND "revoked_at" IS NULL', [mara.pk]
    )
    dead = post_call(url, "get_training_history", {})
    assert dead.status_code == 404 and dead.content == NOT_FOUND_BODY
    assert dead.headers["content-type"] == "application/json"
