"""Done and planned kept apart in every answer (issue #14): what the corpus cannot show, on a pinned sandbox.

The sandbox's calendar is anchored on Thu 2026-03-12 and the product's clock pinned to that day (13:00 in
Stockholm), so the same facts hold on every day of the year. That day Mara has:

* a Strava import on Wed 2026-03-11 (the API shows five keys: no type, no load, no pairing) done for the
  planned "Endurance ride" of that day, which Intervals.icu paired and counts in her fitness;
* a planned "Tempo 2x20" today, not done yet, whose load Intervals.icu's own fitness line already counts
  (the wellness row of today has ctlLoad 76 = that workout's planned load).

Expected values are read from the sandbox's own records (what the real API would know), not from the code
under test.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from integrations.intervals.sandbox import SandboxConfig, SandboxState, create_app
from mcpserver import present
from tests.conftest import MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.read_tools_helpers import ok, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

TODAY = date(2026, 3, 12)
NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)
STRAVA_DAY = date(2026, 3, 11)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def pinned() -> Iterator[Sandbox]:
    state = SandboxState(SandboxConfig(clients={"threshold-test": ("threshold-test-secret", None)}, today=TODAY))
    server = ServerThread(create_app(state=state)).start()
    yield Sandbox(state=state, url=server.url)
    server.stop()


@pytest.fixture
def mara_url(product: ServerThread, pinned: Sandbox, settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    settings.INTERVALS_BASE_URL = pinned.url
    real_local_today = present.local_today
    monkeypatch.setattr(present, "local_today", lambda tz, now=None: real_local_today(tz, now or NOW))
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=pinned))


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
    assert (rows["Tue 2026-03-10"]["status"], rows["Tue 2026-03-10"]["activity_id"]) == (
        "done",
        paired[date(2026, 3, 10)],
    )
    assert rows["Wed 2026-03-11"]["status"] == "maybe done (Strava import that day)"
    assert "status" not in rows["Thu 2026-03-12"] and "status" not in rows["Fri 2026-03-13"]  # today and ahead
    # The note is the text above the steps, not the title of their first section.
    assert rows["Wed 2026-03-11"]["note"] == "Zone 2, steady."
    assert rows["Wed 2026-03-11"]["steps"].startswith("Warmup 10m ramp")


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
