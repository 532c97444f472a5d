"""Done and planned kept apart in every answer (issue #14): what the corpus cannot show, on a sandbox pinned
to Thu 2026-03-12 (tests/pinned_sandbox.py says what Mara has that day). Expected values are read from the
sandbox's own records (what the real API would know), not from the code under test.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pytest

from accounts.actions import reveal_token
from coaching.actions import accept_invite, grantable_tools, invite_coach
from tests import pinned_sandbox
from tests.conftest import MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.pinned_sandbox import STRAVA_DAY, TODAY, pinned
from tests.read_tools_helpers import ok, upstream

__all__ = ["pinned"]  # fixture used by name

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara(product: ServerThread, pinned: Sandbox, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    pinned_sandbox.aim(pinned, settings, monkeypatch)
    return make_athlete("mara@example.com", athlete_id=MARA, sandbox=pinned)


@pytest.fixture
def mara_url(product: ServerThread, mara: Any) -> str:
    return mcp_url(product, mara)


@pytest.fixture
def sam_url(product: ServerThread, mara: Any) -> str:
    """Sam the coach, with every read tool on Mara."""
    grant = accept_invite(invite_coach(mara, "sam@coach.example", grantable_tools()["read"]))
    assert grant.coach_token is not None
    return f"{product.url}/mcp/{reveal_token(grant.coach_token)}"


def events(pinned: Sandbox, lo: date, hi: date) -> list[dict[str, Any]]:
    return list(upstream(pinned, MARA, f"/athlete/{MARA}/events", oldest=lo.isoformat(), newest=hi.isoformat()))


def test_the_pinned_day_has_a_strava_import_on_a_planned_day_and_a_workout_planned_today(pinned: Sandbox) -> None:
    data = pinned.state.athletes[MARA]
    (stub,) = [a for a in data.activities if a.stub and a.day == STRAVA_DAY]
    assert stub.data["paired_event_id"]  # Intervals.icu knows the pairing; the API hides it
    shown = upstream(pinned, MARA, f"/activity/{stub.id}".replace("/activity/", f"/athlete/{MARA}/activities/"))
    assert "paired_event_id" not in (shown[0] if isinstance(shown, list) else shown)
    planned_today = [e for e in events(pinned, TODAY, TODAY) if e["category"] == "WORKOUT"]
    assert [e["name"] for e in planned_today] == ["Tempo 2x20"]
    assert not any(a.day == TODAY for a in data.activities)


async def test_it_does_not_count_a_planned_session_on_a_strava_day_as_missed(mara_url: str, pinned: Sandbox) -> None:
    monday, sunday = date(2026, 3, 9), date(2026, 3, 15)
    planned = [e for e in events(pinned, monday, sunday) if e["category"] in ("WORKOUT", "RACE_A", "RACE_B", "RACE_C")]
    data = await ok(mara_url, "get_training_summary", {"start": monday.isoformat(), "end": sunday.isoformat()})
    plan = data["periods"][0]["plan"]
    assert plan["planned"] == len(planned) == 6  # one WORKOUT a day from Tue to Sun
    # Tue 03-10 done (paired), Wed 03-11 the Strava import's day: not missed; Thu (today) to Sun: ahead.
    assert (plan["done"], plan["missed"], plan["strava_day"], plan["upcoming"]) == (1, 0, 1, 4)
    assert data["periods"][0]["strava_unavailable"] == 1


async def test_it_says_which_planned_workouts_were_done_missed_or_on_a_strava_day(
    mara_url: str, pinned: Sandbox
) -> None:
    data = await ok(mara_url, "get_events", {"start": "2026-03-09", "end": "2026-03-13"})
    rows = {e["date"]: e for e in data["events"] if e["category"] == "workout"}
    paired = {a.day: a.id for a in pinned.state.athletes[MARA].activities if not a.stub}
    assert rows["Tue 2026-03-10"]["status"] == f"done {paired[date(2026, 3, 10)]}"
    assert rows["Wed 2026-03-11"]["status"] == "maybe done (Strava import that day)"
    assert "status" not in rows["Thu 2026-03-12"] and "status" not in rows["Fri 2026-03-13"]  # today and ahead
    # The note is the text above the steps, not the title of their first section.
    assert rows["Wed 2026-03-11"]["note"] == {"untrusted": "Zone 2, steady."}
    assert rows["Wed 2026-03-11"]["steps"]["untrusted"].startswith("Warmup 10m ramp")


async def test_it_gives_a_planned_workout_s_start_time(mara_url: str) -> None:
    steps = [{"seconds": 1800, "target": {"type": "%ftp", "value": 60}}]
    pushed = await ok(
        mara_url,
        "push_workout",
        {
            "date": "2026-03-27",
            "time": "06:30",
            "sport": "Ride",
            "name": "Early spin",
            "steps": steps,
            "dry_run": False,
        },
    )
    data = await ok(mara_url, "get_events", {"start": "2026-03-27", "end": "2026-03-27"})
    (row,) = [e for e in data["events"] if e["id"] == pushed["event"]["id"]]
    assert row["time"] == "06:30"
    assert all("time" not in e for e in data["events"] if e["id"] != row["id"])  # no start time set: none made up


async def test_it_gives_today_s_fitness_as_done_and_today_s_plan_apart(mara_url: str, pinned: Sandbox) -> None:
    rows = {
        r["id"]: r
        for r in upstream(pinned, MARA, f"/athlete/{MARA}/wellness", oldest="2026-03-05", newest=TODAY.isoformat())
    }
    yesterday, today = rows["2026-03-11"], rows["2026-03-12"]
    (plan,) = [e for e in events(pinned, TODAY, TODAY) if e["category"] == "WORKOUT"]
    assert today["ctlLoad"] == plan["icu_training_load"] == 76  # Intervals.icu counts the plan as if done
    # Done so far today: nothing. CTL and ATL decay from yesterday's with a load of 0.
    ctl = yesterday["ctl"] * math.exp(-1 / 42)
    atl = yesterday["atl"] * math.exp(-1 / 7)
    data = await ok(mara_url, "get_fitness", {"start": "2026-03-06", "end": TODAY.isoformat()})
    current = data["current"]
    assert (current["date"], current["load"]) == ("Thu 2026-03-12", 0)  # nothing done yet today
    assert (current["ctl"], current["atl"], current["form"]) == (round(ctl, 1), round(atl, 1), round(ctl - atl, 1))
    assert data["rows"][-1] == current
    # The plan apart: its load, and Intervals.icu's values once it is done.
    planned = data["planned_today"]
    assert (planned["load"], planned["ctl"], planned["atl"]) == (76, round(today["ctl"], 1), round(today["atl"], 1))
    # The Strava import of Wed 03-11 is done training: its load is in that day's load, and said to be.
    wednesday = next(r for r in data["rows"] if r["date"] == "Wed 2026-03-11")
    assert (wednesday["load"], wednesday["strava_imports"]) == (round(yesterday["ctlLoad"]), 1)
    # The week's load is what was done: Mon 03-09 .. today, without today's plan.
    weeks = await ok(mara_url, "get_fitness", {"start": "2026-03-09", "end": TODAY.isoformat(), "by": "week"})
    (week,) = weeks["rows"]
    done = sum(rows[f"2026-03-{d:02d}"]["ctlLoad"] for d in (9, 10, 11))
    assert (week["load"], week["strava_imports"]) == (round(done), 1)


async def test_the_coach_sees_today_as_done_in_the_overview(mara_url: str, sam_url: str, pinned: Sandbox) -> None:
    current = (await ok(mara_url, "get_fitness", {}))["current"]
    overview = await ok(sam_url, "athlete_overview", {"athlete": MARA})
    (yesterday,) = upstream(pinned, MARA, f"/athlete/{MARA}/wellness", oldest="2026-03-11", newest="2026-03-11")
    assert overview["load"]["date"] == "Thu 2026-03-12"
    assert overview["load"]["ctl"] == round(yesterday["ctl"] * math.exp(-1 / 42), 1)  # nothing done yet today
    assert {k: overview["load"][k] for k in ("ctl", "atl", "form")} == {k: current[k] for k in ("ctl", "atl", "form")}
    assert overview["load"]["ramp"] == current["ramp_rate"]
    # This week's last CTL is today's, done so far.
    assert overview["load"]["ctl_weekly"][-1] == current["ctl"]


@pytest.fixture
def calendar_coach_url(product: ServerThread, mara: Any) -> str:
    """A coach granted Mara's calendar, not her activities."""
    grant = accept_invite(invite_coach(mara, "calendar@coach.example", ["get_events"]))
    assert grant.coach_token is not None
    return f"{product.url}/mcp/{reveal_token(grant.coach_token)}"


async def test_it_gives_no_status_where_the_activities_are_not_granted(calendar_coach_url: str) -> None:
    url = calendar_coach_url
    data = await ok(url, "get_events", {"athlete": MARA, "start": "2026-03-09", "end": "2026-03-11"})
    assert data["events"] and not any("status" in e for e in data["events"])
    assert data["units"]["status"] == "none given: activities are not readable with this access"
