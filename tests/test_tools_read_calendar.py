"""get_events and get_workout_library end to end: planned workouts with readable, resolved steps."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.read_tools_helpers import error_text, mara_today, ok, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


async def test_it_lists_the_next_two_weeks_with_resolved_steps(mara_url: str, sandbox: Sandbox) -> None:
    today = mara_today()
    end = today + timedelta(days=13)
    raw = upstream(sandbox, MARA, f"/athlete/{MARA}/events", oldest=str(today), newest=str(end))
    data = await ok(mara_url, "get_events", {})
    assert data["athlete"]["id"] == MARA
    assert data["window"] == f"{today:%a} {today} to {end:%a} {end}"
    assert [e["id"] for e in data["events"]] == [e["id"] for e in raw]
    by_id = {e["id"]: e for e in raw}
    for row in data["events"]:
        e = by_id[row["id"]]
        assert row["name"] == {"untrusted": e["name"]}  # free text: marked as data, not instructions
        if e["category"] == "WORKOUT":
            assert row["category"] == "workout" and row["load"] == round(e["icu_training_load"])
            steps = row["steps"]["untrusted"]
            assert "% FTP (" in steps and " W)" in steps, steps
    assert any(r["category"] == "note" for r in data["events"])
    assert data["planned_load"] == round(sum(e.get("icu_training_load", 0) for e in raw if e["category"] == "WORKOUT"))


async def test_it_resolves_a_known_workout_to_watts(mara_url: str, sandbox: Sandbox) -> None:
    today = mara_today()
    raw = upstream(
        sandbox,
        MARA,
        f"/athlete/{MARA}/events",
        oldest=str(today),
        newest=str(today + timedelta(days=20)),
        category="WORKOUT",
    )
    ride = next(e for e in raw if "Warmup\n- 10m ramp 50%-75%" in (e.get("description") or ""))
    day = ride["start_date_local"][:10]
    data = await ok(mara_url, "get_events", {"start": day, "end": day, "category": "workouts"})
    row = next(r for r in data["events"] if r["id"] == ride["id"])
    # FTP 265: 50 % = 132.5 W, rounded half up as Intervals rounds its targets (Python's round() gives 132)
    assert row["steps"]["untrusted"].startswith("Warmup 10m ramp 50→75% FTP (133→199 W)")


async def test_it_lists_races_only_when_asked(mara_url: str, sandbox: Sandbox) -> None:
    today = mara_today()
    data = await ok(mara_url, "get_events", {"end": str(today + timedelta(days=60)), "category": "races"})
    assert data["events"] and {r["category"] for r in data["events"]} <= {"A race", "B race", "C race"}
    assert any(r["category"] == "A race" for r in data["events"])
    too_long = await error_text(mara_url, "get_events", {"end": str(today + timedelta(days=400))})
    assert "maximum" in too_long


async def test_it_searches_the_library_by_name(mara_url: str, sandbox: Sandbox) -> None:
    folders = upstream(sandbox, MARA, f"/athlete/{MARA}/folders")
    everything = await ok(mara_url, "get_workout_library", {})
    assert everything["workouts"] == sum(len(f["children"]) for f in folders)
    assert {f["name"]["untrusted"] for f in everything["folders"]} == {f["name"] for f in folders}
    wanted = folders[0]["children"][0]
    word = wanted["name"].split()[0]
    found = await ok(mara_url, "get_workout_library", {"query": word.lower(), "with_steps": True})
    rows = [w for f in found["folders"] for w in f["workouts"]]
    assert rows and all(word.lower() in w["name"]["untrusted"].lower() for w in rows)
    row = next(w for w in rows if w["id"] == wanted["id"])
    assert row["load"] == round(wanted["icu_training_load"]) and row["sport"] == wanted["type"]
    assert "% FTP (" in row["steps"]["untrusted"]
