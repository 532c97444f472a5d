"""Private notes, catch_up, get_conversations and search_roster end to end over a coach URL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest

from accounts.actions import reveal_token
from coaching.actions import accept_invite, grantable_tools, invite_coach
from mcpserver import present
from tests.conftest import DIEGO, MARA, Sandbox, ServerThread, make_athlete
from tests.read_tools_helpers import error_text, ok, requests_since, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Urls:
    coach: str
    other: str
    mara: str


@pytest.fixture
def urls(product: ServerThread, sandbox: Sandbox) -> Urls:
    from tests.conftest import mcp_url

    reads = grantable_tools()["read"]
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    diego = make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox)
    grant = accept_invite(invite_coach(mara, "coach@example.com", [*reads, "add_calendar_note"]))
    accept_invite(invite_coach(diego, "coach@example.com", ["get_events"]))
    other = accept_invite(invite_coach(mara, "other@example.com", reads))
    assert grant.coach_token is not None and other.coach_token is not None
    return Urls(
        f"{product.url}/mcp/{reveal_token(grant.coach_token)}",
        f"{product.url}/mcp/{reveal_token(other.coach_token)}",
        mcp_url(product, mara),
    )


async def test_private_notes_stay_with_the_coach_and_never_go_upstream(urls: Urls, sandbox: Sandbox) -> None:
    mark = len(sandbox.state.requests)
    await ok(urls.coach, "add_private_note", {"athlete": MARA, "text": "Prefers long rides on Sunday."})
    saved = await ok(urls.coach, "add_private_note", {"athlete": "Mara", "text": "Knee niggle: no big gears."})
    assert saved["athlete"]["id"] == MARA and saved["notes"] == 2
    assert requests_since(sandbox, mark) == [], "notes never reach Intervals.icu"
    notes = await ok(urls.coach, "get_private_notes", {"athlete": MARA})
    assert [n[1] for n in notes["notes"]] == [
        {"untrusted": "Knee niggle: no big gears."},  # the coach's own words, handed back as data
        {"untrusted": "Prefers long rides on Sunday."},
    ]
    assert notes["notes"][0][0].split(" ")[1] == present.local_today("Europe/Stockholm").isoformat()
    assert (await ok(urls.other, "get_private_notes", {"athlete": MARA}))["total"] == 0
    assert "No athlete" in await error_text(urls.other, "get_private_notes", {"athlete": DIEGO})
    # The athlete's own access log never shows the note.
    from coaching.models import AccessLogEntry

    rows = await AccessLogEntry.objects.filter(athlete_user__email="mara@example.com").acount()
    assert rows == 0 or not await AccessLogEntry.objects.filter(summary__icontains="knee").aexists()


async def test_catch_up_reports_the_last_week_then_only_what_changed(urls: Urls, sandbox: Sandbox) -> None:
    first = await ok(urls.coach, "catch_up", {})
    mara = next(r for r in first["athletes"] if r["athlete"]["id"] == MARA)
    today = present.local_today("Europe/Stockholm")
    since = today - timedelta(days=6)
    assert mara["since"] == present.day_label(since)
    acts = upstream(sandbox, MARA, f"/athlete/{MARA}/activities", oldest=since.isoformat(), newest=f"{today}T23:59:59")
    assert len(mara.get("activities", [])) + mara.get("activities_more", 0) == len(acts)
    diego = next((r for r in first["athletes"] if r["athlete"]["id"] == DIEGO), None)
    assert diego is not None or any(q.startswith(DIEGO) for q in first.get("quiet", []))
    assert diego is None or "activities" not in diego  # Diego granted only get_events
    second = await ok(urls.coach, "catch_up", {"athlete": MARA})
    assert second.get("athletes", []) == [] or "activities" not in second["athletes"][0]
    title = f"Call Thursday {uuid.uuid4().hex[:6]}"
    await ok(urls.mara, "add_calendar_note", {"date": (today + timedelta(days=2)).isoformat(), "title": title})
    third = await ok(urls.coach, "catch_up", {"athlete": MARA})
    assert {"untrusted": title} in [item.get("name") for item in third["athletes"][0]["calendar"]["added"]]


async def test_conversations_put_unanswered_threads_first(urls: Urls, sandbox: Sandbox) -> None:
    data = await ok(urls.coach, "get_conversations", {"days": 14})
    rows = data["threads"]["rows"]
    columns = data["threads"]["columns"]
    assert columns[:2] == ["athlete_id", "athlete"] and columns[-2:] == ["last_by", "last"]
    assert rows and all(r[0] == MARA and r[1] == {"untrusted": "Mara Lindqvist"} for r in rows)
    flags = [r[6] for r in rows]
    assert flags == sorted(flags, reverse=True)
    for r in rows:
        msgs = upstream(sandbox, MARA, f"/activity/{r[3]}/messages")
        assert r[5] == len(msgs)
        assert r[6] == (str(msgs[-1]["athlete_id"]).removeprefix("i") == MARA.removeprefix("i"))
        assert r[8] == {"untrusted": msgs[-1]["content"][:139] + ("…" if len(msgs[-1]["content"]) > 140 else "")}
    assert DIEGO in data["skipped"]


async def test_search_roster_by_email_and_last_activity(urls: Urls) -> None:
    found = await ok(urls.coach, "search_roster", {"query": "diego@"})
    rows = found["athletes"]["rows"]
    assert found["total"] == 1 and rows[0][:3] == [DIEGO, {"untrusted": "Diego Alvarez"}, "America/Denver"]
    ranked = await ok(urls.coach, "search_roster", {"sort": "last_activity", "page_size": 1, "page": 2})
    assert ranked["pages"] == 2 and ranked["athletes"]["rows"][0][0] == DIEGO
    assert ranked["athletes"]["rows"][0][-1] == "not granted"
