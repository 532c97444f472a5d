"""get_fitness end to end: CTL/ATL/form from the wellness endpoint, weekly rows, projection through the plan."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from integrations.intervals import load
from tests.conftest import MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.read_tools_helpers import error_text, mara_today, ok, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


def wellness(sandbox: Sandbox, oldest: Any, newest: Any) -> dict[str, dict[str, Any]]:
    rows = upstream(sandbox, MARA, f"/athlete/{MARA}/wellness", oldest=str(oldest), newest=str(newest))
    return {r["id"]: r for r in rows}


async def test_it_reads_fitness_fatigue_and_form_by_day(mara_url: str, sandbox: Sandbox) -> None:
    today = mara_today()
    start = today - timedelta(days=13)
    truth = wellness(sandbox, start, today)
    data = await ok(mara_url, "get_fitness", {"start": start.isoformat(), "end": today.isoformat()}, mode="auto")
    assert data["athlete"]["id"] == MARA
    assert len(data["rows"]) == 14
    for row in data["rows"][:-1]:  # today's row is today as done so far (tests/test_done_vs_planned.py)
        w = truth[row["date"][4:]]
        assert row["ctl"] == round(w["ctl"], 1)
        assert row["atl"] == round(w["atl"], 1)
        assert row["form"] == round(w["ctl"] - w["atl"], 1)
        assert row["form_zone"] == load.FORM_ZONE_LABELS[load.form_zone(w["ctl"] - w["atl"], w["ctl"])]
        assert row["ramp_rate"] == round(w["rampRate"], 1)
    assert data["current"]["date"].endswith(today.isoformat())


async def test_it_groups_by_week_with_the_weeks_load(mara_url: str, sandbox: Sandbox) -> None:
    today = mara_today()
    monday = today - timedelta(days=today.weekday()) - timedelta(weeks=4)
    sunday = monday + timedelta(days=27)
    truth = wellness(sandbox, monday, sunday)
    data = await ok(mara_url, "get_fitness", {"start": monday.isoformat(), "end": sunday.isoformat(), "by": "week"})
    assert len(data["rows"]) == 4
    for i, row in enumerate(data["rows"]):
        days = [monday + timedelta(days=7 * i + k) for k in range(7)]  # all before today: done load
        assert row["load"] == round(sum(truth[d.isoformat()]["ctlLoad"] for d in days))
        assert row["ctl"] == round(truth[days[-1].isoformat()]["ctl"], 1)


async def test_it_projects_through_the_planned_calendar(mara_url: str, sandbox: Sandbox) -> None:
    today = mara_today()
    target = today + timedelta(days=10)
    truth = wellness(sandbox, today, target)  # the sandbox's own projection from the same planned loads
    data = await ok(mara_url, "get_fitness", {"project_to": target.isoformat(), "by": "day"})
    projected = {r["date"][4:]: r for r in data["projection"]}
    assert len(projected) == 10
    for day, row in projected.items():
        assert abs(row["ctl"] - truth[day]["ctl"]) <= 0.2, day
        assert abs(row["atl"] - truth[day]["atl"]) <= 0.2, day
    assert data["projected_end"]["date"].endswith(target.isoformat())
    message = await error_text(mara_url, "get_fitness", {"project_to": (today - timedelta(days=1)).isoformat()})
    assert "must be after today" in message
