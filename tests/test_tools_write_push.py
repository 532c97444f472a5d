"""push_workout and schedule_library_workout end to end: real HTTP, the official client, the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from coaching.models import AccessLogEntry
from integrations.intervals.workouts import Thresholds, parse_workout, workout_metrics
from tests.conftest import DIEGO, MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.test_tools_write_helpers import (
    THRESHOLD_STEPS,
    THRESHOLD_TEXT,
    error_text,
    events_on,
    future_day,
    ok,
    unique,
    upstream,
)

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

MARA_TZ = "Europe/Stockholm"
MARA_ECHO = {"id": MARA, "name": {"untrusted": "Mara Lindqvist"}, "timezone": MARA_TZ}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


@pytest.fixture
def diego_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox))


def mara_ride_thresholds(sandbox: Sandbox) -> Thresholds:
    athlete = upstream(sandbox, MARA, "GET", f"/athlete/{MARA}")
    ride = next(s for s in athlete["sportSettings"] if "Ride" in s["types"])
    return Thresholds(
        ftp=ride["ftp"],
        lthr=ride["lthr"],
        max_hr=ride["max_hr"],
        power_zones=tuple(ride["power_zones"]),
        hr_zones=tuple(ride["hr_zones"]),
    )


def push_args(day: Any, name: str, **extra: Any) -> dict[str, Any]:
    return {"date": day.isoformat(), "sport": "Ride", "name": name, "steps": THRESHOLD_STEPS, **extra}


async def test_it_pushes_mara_a_threshold_ride_with_the_load_the_sandbox_computes(
    mara_url: str, sandbox: Sandbox
) -> None:
    day = future_day(MARA_TZ, 30)
    name = unique("Threshold 3x12")
    data = await ok(mara_url, "push_workout", push_args(day, name, time="17:30"))

    assert data["athlete"] == MARA_ECHO
    assert data["status"] == "created"
    event = data["event"]
    assert event["text"] == {"untrusted": THRESHOLD_TEXT}
    assert event["date"] == f"{day:%a} {day.isoformat()}"
    assert event["time"] == "17:30"
    expected = workout_metrics(parse_workout(THRESHOLD_TEXT), "Ride", mara_ride_thresholds(sandbox))
    assert expected.load is not None and expected.intensity is not None
    assert event["load"] == round(expected.load)
    assert event["intensity_pct"] == round(expected.intensity)
    assert event["duration"] == "1:19:00"

    stored = [e for e in events_on(sandbox, MARA, day) if e["name"] == name]
    assert len(stored) == 1
    assert stored[0]["id"] == event["id"]
    assert stored[0]["category"] == "WORKOUT" and stored[0]["type"] == "Ride"
    assert stored[0]["start_date_local"] == f"{day.isoformat()}T17:30:00"
    assert stored[0]["description"] == THRESHOLD_TEXT
    assert stored[0]["icu_training_load"] == event["load"]  # the sandbox's own computation agrees

    projection = data["projection"]
    assert projection["date"] == event["date"]
    assert abs(projection["form"] - (projection["fitness"] - projection["fatigue"])) <= 1  # rounding
    assert projection["form"] < projection["form_without"]  # a hard session costs form that day
    # The sandbox projects the same fitness model through its planned events: the same CTL that day.
    wellness = upstream(sandbox, MARA, "GET", f"/athlete/{MARA}/wellness/{day.isoformat()}")
    assert abs(round(wellness["ctl"]) - projection["fitness"]) <= 1
    assert abs(round(wellness["atl"]) - projection["fatigue"]) <= 1

    row = await AccessLogEntry.objects.aget(tool="push_workout", athlete_id=MARA, outcome="ok")
    assert row.is_write and row.write_kind == "event.create" and row.write_target == str(event["id"])
    assert row.pre_image is None
    assert row.post_image is not None and row.post_image["description"] == THRESHOLD_TEXT
    upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{event['id']}")


async def test_it_previews_with_dry_run_and_writes_nothing(mara_url: str, sandbox: Sandbox) -> None:
    day = future_day(MARA_TZ, 31)
    name = unique("Preview only")
    before = events_on(sandbox, MARA, day)
    mark = len(sandbox.state.requests)

    data = await ok(mara_url, "push_workout", push_args(day, name, dry_run=True))

    assert data["status"] == "preview"
    assert data["event"]["text"] == {"untrusted": THRESHOLD_TEXT}
    assert data["event"]["load"] > 0 and "id" not in data["event"]
    assert "projection" in data
    assert events_on(sandbox, MARA, day) == before
    assert not [r for r in sandbox.state.requests[mark:] if r[0] in ("POST", "PUT", "DELETE")]
    row = await AccessLogEntry.objects.aget(tool="push_workout", athlete_id=MARA)
    assert row.outcome == "preview" and not row.write_kind


async def test_it_does_not_duplicate_a_retried_push(mara_url: str, sandbox: Sandbox) -> None:
    day = future_day(MARA_TZ, 32)
    args = push_args(day, unique("Retry me"))
    first = await ok(mara_url, "push_workout", args)
    mark = len(sandbox.state.requests)
    second = await ok(mara_url, "push_workout", args)

    assert second["status"] == "unchanged"
    assert second["event"]["id"] == first["event"]["id"]
    assert [e["id"] for e in events_on(sandbox, MARA, day) if e["name"] == args["name"]] == [first["event"]["id"]]
    assert not [r for r in sandbox.state.requests[mark:] if r[0] == "POST"]
    kinds = [r.write_kind async for r in AccessLogEntry.objects.filter(tool="push_workout").order_by("pk")]
    assert kinds == ["event.create", ""]  # the retry is logged, but it wrote nothing to undo

    # The same workout at another start time: a create never moves an event (edit_workout does, confirmed).
    moved = await ok(mara_url, "push_workout", {**args, "time": "06:15"})
    assert moved["status"] == "unchanged" and moved["event"]["id"] == first["event"]["id"]
    assert "edit_workout" in moved["note"] and not [r for r in sandbox.state.requests[mark:] if r[0] != "GET"]
    upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{first['event']['id']}")


async def test_it_refuses_a_date_in_mara_s_past(mara_url: str, sandbox: Sandbox) -> None:
    day = future_day(MARA_TZ, -1)
    mark = len(sandbox.state.requests)
    message = await error_text(mara_url, "push_workout", push_args(day, "Too late"))
    assert f"in the past for athlete {MARA}" in message and f"{day:%a} {day.isoformat()}" in message
    assert sandbox.state.requests[mark:] == []  # refused before any upstream call


async def test_it_explains_an_unknown_sport_with_the_athlete_s_own(mara_url: str) -> None:
    day = future_day(MARA_TZ, 33)
    message = await error_text(mara_url, "push_workout", {**push_args(day, "Oops"), "sport": "Cycling race"})
    assert "'Cycling race' is not an Intervals.icu sport" in message
    assert "Ride, VirtualRide" in message


async def test_it_refuses_a_cue_intervals_would_misread(mara_url: str) -> None:
    steps = [{"seconds": 30, "cue": "sprint 10s", "target": {"type": "watts", "value": 600}}]
    message = await error_text(
        mara_url,
        "push_workout",
        {"date": future_day(MARA_TZ, 34).isoformat(), "sport": "Ride", "name": "x", "steps": steps},
    )
    assert "steps[0]" in message and "sprint 10s" in message


async def test_it_writes_a_strength_session_as_plain_text(mara_url: str, sandbox: Sandbox) -> None:
    day = future_day(MARA_TZ, 35)
    name = unique("Gym")
    text = "Strength A\nSquat 4x6 @ RPE 8\nRomanian deadlift 3x8\nPlank 3 x 45 s"
    data = await ok(
        mara_url, "push_workout", {"date": day.isoformat(), "sport": "strength", "name": name, "description": text}
    )
    assert data["event"]["sport"] == "WeightTraining"
    assert data["event"]["text"] == {"untrusted": text + "\n"}
    assert "load" not in data["event"]
    (stored,) = [e for e in events_on(sandbox, MARA, day) if e["name"] == name]
    assert stored["description"] == text + "\n" and stored["type"] == "WeightTraining"
    upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{stored['id']}")


async def test_it_plans_diego_s_run_with_pace_targets(diego_url: str, sandbox: Sandbox) -> None:
    day = future_day("America/Denver", 30)
    name = unique("5x1k")
    steps = [
        {"seconds": 900, "phase": "warmup", "target": {"type": "pace_zone", "value": 1, "to": 2}},
        {
            "repeat": 5,
            "steps": [
                {"meters": 1000, "target": {"type": "pace", "value": "3:50/km"}},
                {"seconds": 120, "phase": "rest", "target": {"type": "%pace", "value": 70}},
            ],
        },
        {"seconds": 600, "phase": "cooldown", "target": {"type": "hr_zone", "value": 1}},
    ]
    data = await ok(diego_url, "push_workout", {"date": day.isoformat(), "sport": "run", "name": name, "steps": steps})
    event = data["event"]
    assert data["athlete"]["name"] == {"untrusted": "Diego Alvarez"}
    assert event["sport"] == "Run"
    assert "- 1km 3:50/km Pace" in event["text"]["untrusted"] and "Main Set 5x" in event["text"]["untrusted"]
    assert event["distance_km"] > 5
    (stored,) = [e for e in events_on(sandbox, DIEGO, day) if e["name"] == name]
    assert stored["icu_training_load"] == event["load"]
    upstream(sandbox, DIEGO, "DELETE", f"/athlete/{DIEGO}/events/{stored['id']}")


async def test_it_schedules_a_library_workout_idempotently(mara_url: str, sandbox: Sandbox) -> None:
    library = upstream(sandbox, MARA, "GET", f"/athlete/{MARA}/workouts")
    item = library[0]
    day = future_day(MARA_TZ, 36)
    data = await ok(mara_url, "schedule_library_workout", {"workout_id": item["id"], "date": day.isoformat()})
    assert data["status"] == "created"
    assert data["event"]["name"] == {"untrusted": item["name"]}
    assert data["event"]["text"] == {"untrusted": item["description"]}
    (stored,) = [e for e in events_on(sandbox, MARA, day) if e["id"] == data["event"]["id"]]
    assert stored["icu_training_load"] == data["event"]["load"] == item["icu_training_load"]
    again = await ok(mara_url, "schedule_library_workout", {"workout_id": item["id"], "date": day.isoformat()})
    assert again["status"] == "unchanged" and again["event"]["id"] == data["event"]["id"]
    upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{stored['id']}")

    diego_item = upstream(sandbox, DIEGO, "GET", f"/athlete/{DIEGO}/workouts")[0]
    message = await error_text(
        mara_url, "schedule_library_workout", {"workout_id": diego_item["id"], "date": day.isoformat()}
    )
    assert message == f"No library workout {diego_item['id']} for athlete {MARA}."
