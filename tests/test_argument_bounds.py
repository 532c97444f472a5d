"""Every date, range and step count a tool takes is bounded where it enters, with a message naming the bound.

People: Mara (cyclist, Europe/Stockholm) asks for the absurd: a workout in the year 9999, a calendar from
the year 1, a 201-step session, a filter as long as a book. Each answer is immediate and says what is allowed.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import pytest

from mcpserver import bounds
from mcpserver.workout_input import MAX_STEP_LINES
from tests.conftest import MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.test_tools_write_helpers import THRESHOLD_STEPS, call, future_day, ok, unique

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

MARA_TZ = "Europe/Stockholm"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


async def refused(url: str, tool: str, args: dict[str, Any]) -> str:
    started = time.monotonic()
    result = await call(url, tool, args)
    assert time.monotonic() - started < 3, "a refusal is immediate"
    assert result.is_error, result.structured_content
    return str(result.content[0].text)


def test_it_names_a_window_from_1970_to_two_years_ahead() -> None:
    assert bounds.window_text(date(2026, 11, 24)) == "1970-01-01 to 2028-11-24 (two years ahead)"
    assert bounds.latest_date(date(2028, 2, 29)) == date(2030, 2, 28)
    assert bounds.parse_bounded("2026-11-24") == date(2026, 11, 24)
    assert bounds.parse_bounded("0001-01-01") is None
    assert bounds.parse_bounded("9999-12-31") is None
    assert bounds.parse_bounded("2026-02-30") is None


async def test_it_refuses_a_workout_in_the_year_9999_at_once_naming_the_window(mara_url: str) -> None:
    args = {"date": "9999-12-30", "sport": "Ride", "name": "Far", "steps": THRESHOLD_STEPS, "dry_run": True}
    text = await refused(mara_url, "push_workout", args)
    assert "date: " in text and "9999-12-30 is outside the dates Threshold accepts: 1970-01-01 to " in text, text
    assert bounds.latest_date().isoformat() in text


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("get_events", {"start": "0001-01-01"}),
        ("get_training_history", {"start": "9999-12-31"}),
        ("get_wellness", {"end": "0001-01-01"}),
        ("get_training_summary", {"end": "9999-12-31", "period": "month"}),
        ("get_best_efforts", {"start": "0001-01-01", "end": "9999-12-31"}),
        ("get_fitness", {"project_to": "9999-12-31"}),
        ("add_race", {"date": "9999-12-31", "name": "Far", "sport": "Run", "priority": "A", "dry_run": True}),
        ("add_calendar_note", {"date": "0001-01-01", "title": "Old", "dry_run": True}),
        ("log_wellness", {"date": "0001-01-01", "weight_kg": 70, "dry_run": True}),
        ("edit_workout", {"event_id": 1, "date": "9999-12-31", "dry_run": True}),
        ("schedule_library_workout", {"workout_id": 1, "date": "9999-12-31", "dry_run": True}),
    ],
)
async def test_it_refuses_year_1_and_year_9999_in_every_date_argument(
    mara_url: str, tool: str, args: dict[str, Any]
) -> None:
    text = await refused(mara_url, tool, args)
    assert "is outside the dates Threshold accepts: 1970-01-01 to" in text, text
    assert "internal error" not in text


async def test_it_refuses_a_curve_period_outside_the_window(mara_url: str) -> None:
    text = await refused(mara_url, "get_power_curves", {"periods": ["0001-01-01..9999-12-31"]})
    assert "dates from 1970-01-01 to" in text, text
    text = await refused(mara_url, "get_power_curves", {"periods": ["2026-05-01..2026-01-01"]})
    assert "the first not after the second" in text, text


async def test_it_previews_a_workout_beyond_180_days_without_running_the_projection(mara_url: str) -> None:
    day = future_day(MARA_TZ, bounds.PROJECTION_DAYS + 20)
    args = {"date": day.isoformat(), "sport": "Ride", "name": unique("Far"), "steps": THRESHOLD_STEPS, "dry_run": True}
    data = await ok(mara_url, "push_workout", args)
    assert "projection" not in data
    assert f"more than {bounds.PROJECTION_DAYS} days ahead" in data["note"], data["note"]
    near = {**args, "date": future_day(MARA_TZ, 30).isoformat()}
    assert "projection" in await ok(mara_url, "push_workout", near)


async def test_it_refuses_more_step_lines_than_a_workout_takes(mara_url: str) -> None:
    step = {"seconds": 60, "target": {"type": "%ftp", "value": 90}}
    blocks = [{"repeat": 2, "steps": [step] * 20} for _ in range(10)] + [step]
    day = future_day(MARA_TZ, 3).isoformat()
    args = {"date": day, "sport": "Ride", "name": "Many", "steps": blocks, "dry_run": True}
    text = await refused(mara_url, "push_workout", args)
    assert f"{MAX_STEP_LINES + 1} steps in all; a workout takes at most {MAX_STEP_LINES}" in text, text
    assert "projection" in await ok(mara_url, "push_workout", {**args, "steps": blocks[:-1]})


async def test_it_refuses_a_filter_as_long_as_a_book(mara_url: str) -> None:
    text = await refused(mara_url, "get_training_history", {"name": "x" * 100_000})
    assert f"name: String should have at most {bounds.SHORT_TEXT} characters" in text, text


async def test_it_still_takes_the_edges_of_the_window(mara_url: str) -> None:
    today = date.today()
    ahead = bounds.latest_date() - timedelta(days=1)
    await ok(mara_url, "get_events", {"start": (ahead - timedelta(days=13)).isoformat(), "end": ahead.isoformat()})
    await ok(mara_url, "get_training_history", {"start": "1970-01-01", "end": "1970-12-31"})
    race = {"date": ahead.isoformat(), "name": "Far race", "sport": "Run", "priority": "A", "dry_run": True}
    await ok(mara_url, "add_race", race)
    assert today <= ahead
