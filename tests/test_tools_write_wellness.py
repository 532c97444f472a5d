"""log_wellness, add_activity_comment, add_calendar_note and add_race end to end, with undo where it applies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from coaching.models import AccessLogEntry
from tests.conftest import DIEGO, MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.test_tools_write_helpers import (
    error_text,
    events_on,
    future_day,
    local_today,
    ok,
    ok_confirmed,
    unique,
    upstream,
)

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

MARA_TZ = "Europe/Stockholm"
WELLNESS_KEYS = ("weight", "hrv", "restingHR", "sleepSecs", "sleepQuality", "soreness", "mood", "comments")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


@pytest.fixture
def mara_read_only_wellness_url(product: ServerThread, sandbox: Sandbox) -> str:
    user = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox, scopes="WELLNESS:READ,CALENDAR:WRITE")
    return mcp_url(product, user)


def wellness(sandbox: Sandbox, day: Any) -> dict[str, Any]:
    row = upstream(sandbox, MARA, "GET", f"/athlete/{MARA}/wellness/{day.isoformat()}")
    return {k: row.get(k) for k in WELLNESS_KEYS}


async def test_it_logs_mara_s_morning_and_undo_restores_the_day(mara_url: str, sandbox: Sandbox) -> None:
    day = local_today(MARA_TZ) - timedelta(days=120)  # an old day nobody else's test reads for these fields
    before = wellness(sandbox, day)
    args = {
        "date": day.isoformat(),
        "weight_kg": 61.4,
        "hrv_ms": 81,
        "resting_hr": 44,
        "sleep_hours": 7.5,
        "sleep_quality": 2,
        "soreness": 3,
        "mood": 1,
        "notes": unique("Legs heavy after the long ride"),
    }
    preview = await ok(mara_url, "log_wellness", {**args, "dry_run": True})
    assert preview["status"] == "preview"
    assert wellness(sandbox, day) == before

    # The day already has values (the sandbox's devices logged them): replacing them needs a go-ahead.
    data = await ok_confirmed(mara_url, "log_wellness", args)
    assert data["athlete"]["name"] == {"untrusted": "Mara Lindqvist"}
    assert data["logged"]["notes"] == {"untrusted": args["notes"]}
    assert data["status"] == "updated" and data["date"] == f"{day:%a} {day.isoformat()}"
    assert data["logged"]["sleep_hours"] == 7.5 and data["units"]["soreness"] == "1-4, 1 = best"
    stored = wellness(sandbox, day)
    assert stored == {
        "weight": 61.4,
        "hrv": 81,
        "restingHR": 44,
        "sleepSecs": 27000,
        "sleepQuality": 2,
        "soreness": 3,
        "mood": 1,
        "comments": args["notes"],
    }
    row = await AccessLogEntry.objects.aget(tool="log_wellness", outcome="ok")
    assert row.write_kind == "wellness.update" and row.write_target == day.isoformat()
    assert row.pre_image == before  # only the fields it changed, as they were (None = was empty)

    again = await ok(mara_url, "log_wellness", args)
    assert again["status"] == "unchanged"

    await ok_confirmed(mara_url, "undo_last_write", {})
    restored = wellness(sandbox, day)
    assert {k: restored[k] or None for k in WELLNESS_KEYS} == {k: before[k] or None for k in WELLNESS_KEYS}


async def test_it_refuses_wellness_for_a_future_day_and_without_the_permission(mara_url: str, sandbox: Sandbox) -> None:
    tomorrow = future_day(MARA_TZ, 1)
    message = await error_text(mara_url, "log_wellness", {"date": tomorrow.isoformat(), "weight_kg": 60})
    assert f"in the future for athlete {MARA}" in message
    assert "Nothing to log" in await error_text(mara_url, "log_wellness", {})


async def test_it_hides_log_wellness_without_wellness_write(mara_read_only_wellness_url: str) -> None:
    from mcp.client import Client

    async with Client(mara_read_only_wellness_url, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert "log_wellness" not in names and "push_workout" in names and "add_activity_comment" not in names


async def test_it_comments_on_mara_s_activity_once_and_refuses_diego_s(mara_url: str, sandbox: Sandbox) -> None:
    activity = next(a for a in reversed(sandbox.state.athletes[MARA].activities) if not a.stub)
    text = unique("Great pacing on the climbs")
    data = await ok(mara_url, "add_activity_comment", {"activity_id": activity.id, "text": text})
    assert data["status"] == "created" and data["comment"]["text"] == text
    assert data["activity"]["id"] == activity.id
    messages = upstream(sandbox, MARA, "GET", f"/activity/{activity.id}/messages")
    assert [m["content"] for m in messages].count(text) == 1

    retry = await ok(mara_url, "add_activity_comment", {"activity_id": activity.id, "text": text})
    assert retry["status"] == "unchanged"
    messages = upstream(sandbox, MARA, "GET", f"/activity/{activity.id}/messages")
    assert [m["content"] for m in messages].count(text) == 1

    diego_activity = next(a for a in sandbox.state.athletes[DIEGO].activities if not a.stub)
    mark = len(sandbox.state.requests)
    message = await error_text(mara_url, "add_activity_comment", {"activity_id": diego_activity.id, "text": "hi"})
    assert message == f"No activity {diego_activity.id} for athlete {MARA}."
    assert not [r for r in sandbox.state.requests[mark:] if r[0] == "POST"]


async def test_it_adds_a_note_and_a_race_idempotently(mara_url: str, sandbox: Sandbox) -> None:
    day = future_day(MARA_TZ, 60)
    title = unique("Altitude camp")
    note = await ok(mara_url, "add_calendar_note", {"date": day.isoformat(), "title": title, "text": "Sleep high"})
    assert note["status"] == "created" and note["event"]["category"] == "NOTE"
    again = await ok(mara_url, "add_calendar_note", {"date": day.isoformat(), "title": title, "text": "Sleep high"})
    assert again["status"] == "unchanged" and again["event"]["id"] == note["event"]["id"]

    race_day = future_day(MARA_TZ, 61)
    name = unique("Mallorca 312")
    race = await ok(
        mara_url,
        "add_race",
        {
            "date": race_day.isoformat(),
            "name": name,
            "sport": "ride",
            "priority": "A",
            "distance_km": 312,
            "goal": "Sub 10 h",
        },
    )
    assert race["event"]["category"] == "RACE_A" and race["event"]["sport"] == "Ride"
    assert race["event"]["distance_km"] == 312
    (stored,) = [e for e in events_on(sandbox, MARA, race_day) if e["name"] == name]
    assert stored["category"] == "RACE_A" and stored["description"] == "Sub 10 h" and stored["distance"] == 312000

    message = await error_text(
        mara_url,
        "add_race",
        {"date": future_day(MARA_TZ, -3).isoformat(), "name": "x", "sport": "Ride", "priority": "B"},
    )
    assert f"in the past for athlete {MARA}" in message

    await ok_confirmed(mara_url, "undo_last_write", {})  # the race
    await ok_confirmed(mara_url, "undo_last_write", {})  # the note
    assert not [e for e in events_on(sandbox, MARA, race_day) if e["name"] == name]
    assert not [e for e in events_on(sandbox, MARA, day) if e["name"] == title]
