"""Option B: a coach who already coaches on Intervals.icu links their personal API key; their roster
reaches their coach URL next to the athletes who invited them (a mixed roster), limited by the
permission Intervals.icu gives the coach."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.test import Client as DjangoClient

from accounts import crypto
from accounts.actions import reveal_token
from accounts.models import McpToken
from coaching.actions import (
    CoachKeyError,
    _roster_members,
    accept_invite,
    grantable_tools,
    invite_coach,
    link_coach_api_key,
    refresh_roster,
    unlink_coach_api_key,
)
from coaching.models import CoachApiKey, RosterAthlete
from tests.conftest import AROHA, DIEGO, MARA, PASSWORD, SAM, Sandbox, ServerThread, make_athlete
from tests.read_tools_helpers import call, ok

pytestmark = pytest.mark.django_db(transaction=True)

READ = grantable_tools()["read"]
EVERY = sorted(READ + grantable_tools()["write"])


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def roster(user: Any) -> dict[str, str]:
    return dict(RosterAthlete.objects.filter(coach=user).values_list("athlete_id", "permission"))


def database_dump() -> str:
    """Every row of every table in the database as text (what a leaked backup would show)."""
    from django.db import connection

    out: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')  # noqa: S608 - names from pg_tables
            out.extend(row[0] for row in cursor.fetchall())
    return "\n".join(out)


def coach_url(product: ServerThread, user: Any) -> str:
    token = McpToken.objects.get(kind=McpToken.Kind.COACH, user=user, revoked_at=None)
    return f"{product.url}/mcp/{reveal_token(token)}"


# --- Linking the key and reading the roster ------------------------------------------------------------


def test_it_refuses_a_wrong_key_and_stores_nothing(sandbox: Sandbox) -> None:
    sam = make_athlete("sam@example.com", athlete_id=None)
    for bad in ("SECRETnot-a-real-key", "", "two words"):
        with pytest.raises(CoachKeyError, match="API key"):
            link_coach_api_key(sam, bad)
    assert not CoachApiKey.objects.exists()
    assert not RosterAthlete.objects.exists()
    assert not McpToken.objects.filter(kind=McpToken.Kind.COACH).exists()


def test_it_stores_the_key_encrypted_and_reads_the_roster(sandbox: Sandbox) -> None:
    sam = make_athlete("sam@example.com", athlete_id=None)
    key = sandbox.state.api_key(SAM)
    row = link_coach_api_key(sam, key)

    assert row.athlete_id == SAM
    assert key not in row.key_encrypted
    assert crypto.decrypt(row.key_encrypted, context=CoachApiKey.context(sam.pk)) == key
    with pytest.raises(crypto.DecryptionError):  # bound to its owner: another user's context fails
        crypto.decrypt(row.key_encrypted, context=CoachApiKey.context(sam.pk + 1))
    assert key not in database_dump()

    assert roster(sam) == {MARA: "WRITE", DIEGO: "READ", AROHA: "WRITE", SAM: "WRITE"}
    members = {r.athlete_id: r for r in RosterAthlete.objects.filter(coach=sam)}
    assert members[MARA].name == "Mara Lindqvist" and members[MARA].timezone == "Europe/Stockholm"
    assert members[DIEGO].timezone == "America/Denver"
    # The coach gets a coach URL of their own, which they own.
    assert McpToken.objects.filter(kind=McpToken.Kind.COACH, user=sam, revoked_at=None).count() == 1
    assert row.roster_refreshed_at is not None


def test_refresh_upserts_and_drops_athletes_who_left(sandbox: Sandbox) -> None:
    sam = make_athlete("sam@example.com", athlete_id=None)
    link_coach_api_key(sam, sandbox.state.api_key(SAM))
    RosterAthlete.objects.filter(coach=sam, athlete_id=DIEGO).update(permission="WRITE", name="stale")
    RosterAthlete.objects.create(coach=sam, athlete_id="i100099", name="Gone", permission="WRITE")
    assert refresh_roster(sam.pk) == 4
    assert roster(sam) == {MARA: "WRITE", DIEGO: "READ", AROHA: "WRITE", SAM: "WRITE"}
    assert RosterAthlete.objects.get(coach=sam, athlete_id=DIEGO).name == "Diego Alvarez"


def test_a_key_refused_upstream_empties_the_roster_and_needs_attention(sandbox: Sandbox) -> None:
    sam = make_athlete("sam@example.com", athlete_id=None)
    link_coach_api_key(sam, sandbox.state.api_key(SAM))
    # The coach regenerated the key on Intervals.icu: the stored one no longer works.
    CoachApiKey.objects.filter(coach=sam).update(
        key_encrypted=crypto.encrypt("SECRETrevoked0000000", context=CoachApiKey.context(sam.pk))
    )
    assert refresh_roster(sam.pk) == 0
    key = CoachApiKey.objects.get(coach=sam)
    assert key.needs_attention_at is not None and "Intervals.icu" in key.last_error
    assert roster(sam) == {}
    # A working key clears the flag and brings the roster back.
    link_coach_api_key(sam, sandbox.state.api_key(SAM))
    key.refresh_from_db()
    assert key.needs_attention_at is None and len(roster(sam)) == 4


def test_followed_athletes_without_coach_permission_are_skipped() -> None:
    rows = [
        {"id": "i1", "name": "Me", "icu_permission": "NONE", "timezone": "UTC"},
        {"id": "2", "name": "Read", "icu_permission": "READ"},
        {"id": "i3", "name": "Followed", "icu_permission": "NONE"},
        {"id": "i4", "firstname": "Wri", "lastname": "Te", "icu_permission": "write"},
    ]
    members = _roster_members("i1", rows)
    assert {k: v["permission"] for k, v in members.items()} == {"i1": "WRITE", "i2": "READ", "i4": "WRITE"}
    assert members["i4"]["name"] == "Wri Te"


def test_beat_refreshes_every_roster(sandbox: Sandbox, settings: Any) -> None:
    from coaching.tasks import refresh_all_rosters

    schedule = {v["task"] for v in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "coaching.tasks.refresh_all_rosters" in schedule
    sam = make_athlete("sam@example.com", athlete_id=None)
    link_coach_api_key(sam, sandbox.state.api_key(SAM))
    RosterAthlete.objects.filter(coach=sam).delete()
    assert refresh_all_rosters() == 1  # eager in tests: the queued refresh has run
    assert len(roster(sam)) == 4


# --- The coach dashboard --------------------------------------------------------------------------------


def logged_in(email: str) -> DjangoClient:
    client = DjangoClient()
    assert client.login(email=email, password=PASSWORD)
    return client


def test_the_coach_dashboard_adds_refreshes_and_removes_the_key(sandbox: Sandbox) -> None:
    sam = make_athlete("sam@example.com", athlete_id=None)
    web = logged_in("sam@example.com")
    page = web.get("/coach/").content.decode()
    assert "Developer Settings" in page and 'type="password" name="api_key"' in page

    wrong = web.post("/coach/api-key/", {"api_key": "SECRETwrong"}, follow=True).content.decode()
    assert "did not accept that API key" in wrong and not CoachApiKey.objects.exists()

    page = web.post("/coach/api-key/", {"api_key": sandbox.state.api_key(SAM)}, follow=True).content.decode()
    assert "Diego Alvarez" in page and "read only" in page and "read &amp; write" in page
    assert "Your coach MCP URL" in page and sandbox.state.api_key(SAM) not in page

    RosterAthlete.objects.filter(coach=sam, athlete_id=AROHA).delete()
    page = web.post("/coach/roster/refresh/", follow=True).content.decode()
    assert "Aroha Ngata" in page and len(roster(sam)) == 4

    page = web.post("/coach/api-key/remove/", follow=True).content.decode()
    assert "API key removed" in page and not CoachApiKey.objects.exists() and roster(sam) == {}
    # Without a key there is nothing to refresh or remove: 404, like any object that is not yours.
    assert web.post("/coach/roster/refresh/").status_code == 404
    assert web.post("/coach/api-key/remove/").status_code == 404
    assert DjangoClient().post("/coach/api-key/", {"api_key": "x"}).status_code == 302  # login first


# --- A mixed roster over real HTTP ----------------------------------------------------------------------


@pytest.fixture
def mixed(product: ServerThread, sandbox: Sandbox) -> dict[str, Any]:
    """Mara invites Sam with one tool; Sam's Intervals.icu roster brings Diego (READ), Aroha (WRITE), himself."""
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    sam = make_athlete("sam@example.com", athlete_id=None)
    accept_invite(invite_coach(mara, "sam@example.com", ["get_training_history"]))
    link_coach_api_key(sam, sandbox.state.api_key(SAM))
    return {"sam": sam, "mara": mara, "url": coach_url(product, sam)}


def test_a_mixed_roster_lists_every_athlete_with_the_right_tools(mixed: dict[str, Any]) -> None:
    data = run(ok(mixed["url"], "list_athletes", {}))
    rows = {a["id"]: a for a in data["athletes"]}
    assert set(rows) == {MARA, DIEGO, AROHA, SAM}
    # The invite is the athlete's own, narrower rule: it wins over the Intervals.icu roster.
    assert rows[MARA]["tools"] == ["get_training_history"] and "via" not in rows[MARA]
    assert rows[DIEGO]["tools"] == READ and rows[DIEGO]["via"] == "Intervals.icu roster (read only)"
    assert rows[AROHA]["tools"] == EVERY and rows[AROHA]["via"] == "Intervals.icu roster"
    assert rows[SAM]["tools"] == EVERY
    assert rows[AROHA]["timezone"] == "Pacific/Auckland" and rows[DIEGO]["name"] == {"untrusted": "Diego Alvarez"}


def test_an_invite_waiting_for_the_coach_narrows_the_roster_at_once_and_grants_nothing_more(
    product: ServerThread, sandbox: Sandbox
) -> None:
    # Mara is on Sam's Intervals.icu roster with WRITE. Her invite asks for less: that applies before Sam
    # answers (a restriction needs no one's consent); what it grants only applies once he accepts.
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    sam = make_athlete("sam@example.com", athlete_id=None)
    link_coach_api_key(sam, sandbox.state.api_key(SAM))
    url = coach_url(product, sam)
    rows = {a["id"]: a for a in run(ok(url, "list_athletes", {}))["athletes"]}
    assert rows[MARA]["tools"] == EVERY
    grant = invite_coach(mara, "sam@example.com", ["get_fitness"], hidden=["hrv"])
    rows = {a["id"]: a for a in run(ok(url, "list_athletes", {}))["athletes"]}
    assert rows[MARA]["tools"] == ["get_fitness"] and rows[MARA]["via"] == "Intervals.icu roster"
    assert rows[MARA]["hidden_data"] == ["hrv"]
    accept_invite(grant)
    rows = {a["id"]: a for a in run(ok(url, "list_athletes", {}))["athletes"]}
    assert rows[MARA]["tools"] == ["get_fitness"] and "via" not in rows[MARA]


def test_a_read_permission_athlete_gets_reads_and_writes_are_refused_like_an_unknown_athlete(
    mixed: dict[str, Any], sandbox: Sandbox
) -> None:
    url = mixed["url"]
    history = run(ok(url, "get_training_history", {"athlete": DIEGO}))
    assert history["athlete"]["id"] == DIEGO and history["athlete"]["name"] == {"untrusted": "Diego Alvarez"}

    note = {"date": "2099-01-01", "title": "Easy week"}
    before = len(sandbox.state.requests)
    refused = run(call(url, "add_calendar_note", {**note, "athlete": DIEGO}))
    assert len(sandbox.state.requests) == before  # refused before any upstream request
    unknown = run(call(url, "add_calendar_note", {**note, "athlete": "i999999"}))
    assert refused.is_error and unknown.is_error
    refused_text, unknown_text = refused.content[0].text, unknown.content[0].text
    assert refused_text.startswith(f"No athlete '{DIEGO}' with add_calendar_note on this MCP URL.")
    assert refused_text.replace(DIEGO, "?") == unknown_text.replace("i999999", "?")
    assert DIEGO not in refused_text.split("Available")[1]  # not offered where it is not allowed
    # Mara invited Sam for history only: her calendar is not writable either, though the roster says WRITE.
    narrow = run(call(url, "add_calendar_note", {**note, "athlete": MARA}))
    assert narrow.is_error and narrow.content[0].text.startswith(f"No athlete '{MARA}' with add_calendar_note")


def test_roster_athletes_are_read_with_the_coachs_api_key(mixed: dict[str, Any], sandbox: Sandbox) -> None:
    start = len(sandbox.state.requests)
    data = run(ok(mixed["url"], "get_training_history", {"athlete": "Aroha"}))
    assert data["athlete"] == {"id": AROHA, "name": {"untrusted": "Aroha Ngata"}, "timezone": "Pacific/Auckland"}
    assert data["count"] > 0
    upstream = [r for r in sandbox.state.requests[start:] if "/activities" in r[1]]
    assert upstream and all(r[2] == "api_key" and r[3] == SAM for r in upstream), upstream
    # The invited athlete is read through her own OAuth link, never the coach's key.
    start = len(sandbox.state.requests)
    run(ok(mixed["url"], "get_training_history", {"athlete": MARA}))
    upstream = [r for r in sandbox.state.requests[start:] if "/activities" in r[1]]
    assert upstream and all(r[2] == "bearer" and r[3] == MARA for r in upstream), upstream


def test_removing_the_key_removes_the_roster_at_the_next_request(mixed: dict[str, Any]) -> None:
    url = mixed["url"]
    assert len(run(ok(url, "list_athletes", {}))["athletes"]) == 4
    unlink_coach_api_key(mixed["sam"])
    data = run(ok(url, "list_athletes", {}))
    assert [a["id"] for a in data["athletes"]] == [MARA]
    gone = run(call(url, "get_training_history", {"athlete": AROHA}))
    assert gone.is_error and gone.content[0].text.startswith(f"No athlete '{AROHA}'")
