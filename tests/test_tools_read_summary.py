"""get_training_summary end to end: weekly/monthly totals and plan compliance, checked against the sandbox."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tests.conftest import DIEGO, MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.read_tools_helpers import error_text, mara_today, ok, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


def week_of(sandbox: Sandbox, weeks_back: int) -> tuple[date, date]:
    today = mara_today()
    monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks_back)
    return monday, monday + timedelta(days=6)


def activities(sandbox: Sandbox, start: date, end: date) -> list[dict[str, Any]]:
    return list(
        upstream(sandbox, MARA, f"/athlete/{MARA}/activities", oldest=start.isoformat(), newest=f"{end}T23:59:59")
    )


async def test_it_totals_each_week_like_the_sum_of_its_activities(mara_url: str, sandbox: Sandbox) -> None:
    start, _ = week_of(sandbox, 3)
    _, end = week_of(sandbox, 1)
    data = await ok(mara_url, "get_training_summary", {"start": start.isoformat(), "end": end.isoformat()})
    assert data["athlete"]["id"] == MARA
    assert len(data["periods"]) == 3
    for i, period in enumerate(data["periods"]):
        lo, hi = week_of(sandbox, 3 - i)
        acts = [a for a in activities(sandbox, lo, hi) if a.get("type")]
        assert period["period"] == f"{lo:%a} {lo} to {hi:%a} {hi}"
        assert period["sessions"] == len(acts)
        assert period["load"] == round(sum(a.get("icu_training_load", 0) for a in acts))
        assert period["distance_km"] == round(sum(a.get("distance", 0) for a in acts) / 1000, 1)


async def test_it_reports_compliance_with_the_planned_workouts(mara_url: str, sandbox: Sandbox) -> None:
    lo, hi = week_of(sandbox, 1)
    # Races are planned sessions too: the done side counts the race activities paired to them.
    events = upstream(
        sandbox,
        MARA,
        f"/athlete/{MARA}/events",
        oldest=lo.isoformat(),
        newest=hi.isoformat(),
        category="WORKOUT,RACE_A,RACE_B,RACE_C",
    )
    acts = activities(sandbox, lo - timedelta(days=1), hi)
    paired = {a.get("paired_event_id") for a in acts}
    strava_days = {a["start_date_local"][:10] for a in acts if a.get("source") == "STRAVA" and not a.get("type")}
    done = [e for e in events if e["id"] in paired]
    on_strava_day = [e for e in events if e["id"] not in paired and e["start_date_local"][:10] in strava_days]
    assert events, "the sandbox plans workouts every week"
    data = await ok(mara_url, "get_training_summary", {"start": lo.isoformat(), "end": hi.isoformat()})
    plan = data["periods"][0]["plan"]
    assert plan["planned"] == len(events)
    assert plan["done"] == len(done)
    assert plan["missed"] == len(events) - len(done) - len(on_strava_day)
    assert plan.get("strava_day", 0) == len(on_strava_day)
    assert plan["planned_load"] == round(sum(e.get("icu_training_load", 0) for e in events))


@pytest.fixture
def diego_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox))


async def test_it_gives_time_in_pace_zones_per_sport_for_a_runner(diego_url: str, sandbox: Sandbox) -> None:
    url = diego_url
    lo, _ = week_of(sandbox, 3)
    _, hi = week_of(sandbox, 1)
    runs = [
        a
        for a in upstream(
            sandbox, DIEGO, f"/athlete/{DIEGO}/activities", oldest=lo.isoformat(), newest=f"{hi}T23:59:59"
        )
        if a.get("type") == "Run" and a.get("pace_zone_times")
    ]
    assert runs, "the sandbox's runs carry pace zone times"
    data = await ok(url, "get_training_summary", {"start": lo.isoformat(), "end": hi.isoformat()})
    total = [0] * max(len(a["pace_zone_times"]) for a in runs)
    for a in runs:
        for i, secs in enumerate(a["pace_zone_times"]):
            total[i] += secs
    joined = "; ".join(p["pace_zones"] for p in data["periods"] if "pace_zones" in p)
    assert joined.startswith("Run: Z")
    assert sum(int(secs) for p in data["periods"] for secs in _zone_seconds(p.get("pace_zones", ""))) == sum(total)


def _zone_seconds(text: str) -> list[int]:
    """Seconds of every 'Zn: h:mm:ss (p%)' part of a zones line."""
    out = []
    for part in text.replace(";", ",").split(","):
        if ": " not in part:
            continue
        clock = part.rsplit(": ", 1)[1].split(" ")[0]
        seconds = 0
        for piece in clock.split(":"):
            seconds = seconds * 60 + int(piece)
        out.append(seconds)
    return out


async def test_it_groups_by_month_and_caps_the_window(mara_url: str, sandbox: Sandbox) -> None:
    today = mara_today()
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    data = await ok(mara_url, "get_training_summary", {"period": "month", "start": first.isoformat()})
    assert len(data["periods"]) == 2
    acts = [a for a in activities(sandbox, first, today) if a.get("type")]
    assert sum(p["sessions"] for p in data["periods"]) == len(acts)
    message = await error_text(mara_url, "get_training_summary", {"start": "2020-01-01", "end": today.isoformat()})
    assert "maximum" in message


@pytest.fixture
def activity_only_url(product: ServerThread, sandbox: Sandbox) -> str:
    user = make_athlete("activity-only@example.com", athlete_id=MARA, sandbox=sandbox, scopes="ACTIVITY:READ")
    return mcp_url(product, user)


async def test_it_summarises_without_compliance_when_the_calendar_was_not_granted(
    activity_only_url: str, sandbox: Sandbox
) -> None:
    mark = len(sandbox.state.requests)
    data = await ok(activity_only_url, "get_training_summary", {})
    assert "CALENDAR:READ" in data["note"]
    assert all("plan" not in p for p in data["periods"])
    assert not any("/events" in r[1] for r in sandbox.state.requests[mark:])
