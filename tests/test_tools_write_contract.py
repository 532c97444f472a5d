"""Contract of every write tool: strict input with athlete and dry_run, truthful annotations, a small
schema, and a dry run that sends nothing but GETs upstream while echoing the athlete."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp.client import Client

from tests.conftest import MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.test_tools_write_helpers import THRESHOLD_STEPS, future_day, ok, unique, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

MARA_TZ = "Europe/Stockholm"
# name -> (destructiveHint, idempotentHint)
WRITE_TOOLS = {
    "push_workout": (False, True),
    "schedule_library_workout": (False, True),
    "edit_workout": (True, True),  # overwrites: preview, then the call with its confirm code
    "delete_workout": (True, True),
    "add_calendar_note": (False, True),
    "add_race": (False, True),
    "log_wellness": (True, True),  # may replace a value
    "add_activity_comment": (False, True),
    "undo_last_write": (True, False),
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


async def test_every_write_tool_is_strict_truthfully_annotated_and_small(mara_url: str) -> None:
    async with Client(mara_url, mode="legacy") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    sizes = {}
    for name, (destructive, idempotent) in WRITE_TOOLS.items():
        tool = tools[name]
        hints = tool.annotations
        assert hints is not None and hints.read_only_hint is False, name
        assert (hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint) == (destructive, idempotent, True)
        assert tool.input_schema.get("additionalProperties") is False, name
        assert {"athlete", "dry_run"} <= set(tool.input_schema["properties"]), name
        assert tool.output_schema is not None
        sizes[name] = len(json.dumps(tool.model_dump(by_alias=True, exclude_none=True), separators=(",", ":")))
    assert sizes["push_workout"] <= 2700, sizes
    assert max(v for k, v in sizes.items() if k != "push_workout") <= 1300, sizes
    assert sum(sizes.values()) <= 10_500, sizes


async def test_every_dry_run_writes_nothing_and_echoes_mara(mara_url: str, sandbox: Sandbox) -> None:
    day = future_day(MARA_TZ, 70)
    pushed = await ok(
        mara_url,
        "push_workout",
        {"date": day.isoformat(), "sport": "Ride", "name": unique("Dry"), "steps": THRESHOLD_STEPS},
    )
    event_id = pushed["event"]["id"]
    library_id = upstream(sandbox, MARA, "GET", f"/athlete/{MARA}/workouts")[0]["id"]
    activity = next(a for a in reversed(sandbox.state.athletes[MARA].activities) if not a.stub)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("push_workout", {"date": day.isoformat(), "sport": "Ride", "name": "Other", "steps": THRESHOLD_STEPS}),
        ("schedule_library_workout", {"workout_id": library_id, "date": day.isoformat()}),
        ("edit_workout", {"event_id": event_id, "name": "Renamed"}),
        ("delete_workout", {"event_id": event_id}),
        ("add_calendar_note", {"date": day.isoformat(), "title": "Note"}),
        ("add_race", {"date": day.isoformat(), "name": "Race", "sport": "Ride", "priority": "C"}),
        ("log_wellness", {"weight_kg": 60.1, "mood": 2}),
        ("add_activity_comment", {"activity_id": activity.id, "text": "Nice"}),
        ("undo_last_write", {}),
    ]
    mark = len(sandbox.state.requests)
    for name, args in calls:
        data = await ok(mara_url, name, {**args, "dry_run": True})
        assert data["status"] == "preview", name
        assert data["athlete"] == {"id": MARA, "name": {"untrusted": "Mara Lindqvist"}, "timezone": MARA_TZ}, name
        assert "SECRET" not in json.dumps(data), name
    assert [r for r in sandbox.state.requests[mark:] if r[0] != "GET"] == []
    stored = upstream(sandbox, MARA, "GET", f"/athlete/{MARA}/events/{event_id}")
    assert pushed["event"]["name"] == {"untrusted": stored["name"]}
    upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{event_id}")
