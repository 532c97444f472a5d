"""edit_workout and delete_workout end to end, and undoing them: ownership, past events, pre-images."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from coaching.models import AccessLogEntry
from tests.conftest import DIEGO, MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.test_tools_write_helpers import (
    THRESHOLD_STEPS,
    THRESHOLD_TEXT,
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
SHOWN = ("name", "type", "category", "description", "start_date_local")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


async def pushed(url: str, days: int, name: str) -> dict[str, Any]:
    day = future_day(MARA_TZ, days)
    data = await ok(
        url, "push_workout", {"date": day.isoformat(), "sport": "Ride", "name": name, "steps": THRESHOLD_STEPS}
    )
    return dict(data["event"])


def stored(sandbox: Sandbox, event_id: int) -> dict[str, Any]:
    return dict(upstream(sandbox, MARA, "GET", f"/athlete/{MARA}/events/{event_id}"))


def shown(event: dict[str, Any]) -> dict[str, Any]:
    return {k: event.get(k) for k in SHOWN}


async def test_it_edits_mara_s_workout_and_undo_puts_it_back(mara_url: str, sandbox: Sandbox) -> None:
    event = await pushed(mara_url, 40, unique("Edit me"))
    original = stored(sandbox, event["id"])
    new_day = future_day(MARA_TZ, 41)
    steps = [{"seconds": 3600, "target": {"type": "power_zone", "value": 2}, "cadence": 90}]

    preview = await ok(mara_url, "edit_workout", {"event_id": event["id"], "steps": steps, "dry_run": True})
    assert preview["status"] == "preview" and preview["event"]["text"] == {"untrusted": "- 1h Z2 90rpm\n"}
    assert stored(sandbox, event["id"]) == original

    data = await ok_confirmed(
        mara_url,
        "edit_workout",
        {"event_id": event["id"], "name": "Endurance hour", "date": new_day.isoformat(), "steps": steps},
    )
    assert data["status"] == "updated"
    assert data["event"]["name"] == {"untrusted": "Endurance hour"}
    assert data["event"]["date"].endswith(new_day.isoformat())
    assert data["event"]["text"] == {"untrusted": "- 1h Z2 90rpm\n"}
    assert data["before"]["text"] == {"untrusted": THRESHOLD_TEXT}
    assert data["event"]["load"] < data["before"]["load"]
    after = stored(sandbox, event["id"])
    assert after["name"] == "Endurance hour" and after["description"] == "- 1h Z2 90rpm\n"
    assert after["icu_training_load"] == data["event"]["load"]

    row = await AccessLogEntry.objects.aget(tool="edit_workout", outcome="ok")
    assert row.write_kind == "event.update" and row.write_target == str(event["id"])
    assert row.pre_image is not None and shown(row.pre_image) == shown(original)

    undo = await ok_confirmed(mara_url, "undo_last_write", {})
    assert undo["status"] == "undone" and undo["undone"]["entry_id"] == row.pk
    assert shown(stored(sandbox, event["id"])) == shown(original)
    assert stored(sandbox, event["id"])["icu_training_load"] == original["icu_training_load"]
    await row.arefresh_from_db()
    assert row.undone_at is not None
    undo_row = await AccessLogEntry.objects.aget(tool="undo_last_write", outcome="ok")
    assert undo_row.undo_of_id == row.pk and undo_row.write_kind == "event.update"
    upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{event['id']}")


async def test_it_deletes_and_undo_brings_the_event_back(mara_url: str, sandbox: Sandbox) -> None:
    name = unique("Delete me")
    event = await pushed(mara_url, 42, name)
    day = future_day(MARA_TZ, 42)
    original = stored(sandbox, event["id"])

    preview = await ok(mara_url, "delete_workout", {"event_id": event["id"], "dry_run": True})
    assert preview["status"] == "preview"
    assert [e["id"] for e in events_on(sandbox, MARA, day) if e["name"] == name] == [event["id"]]

    data = await ok_confirmed(mara_url, "delete_workout", {"event_id": event["id"]})
    assert data["status"] == "deleted" and data["event"]["id"] == event["id"]
    assert not [e for e in events_on(sandbox, MARA, day) if e["name"] == name]
    row = await AccessLogEntry.objects.aget(tool="delete_workout", outcome="ok")
    assert row.write_kind == "event.delete" and row.pre_image is not None
    assert row.pre_image["description"] == THRESHOLD_TEXT

    undo = await ok_confirmed(mara_url, "undo_last_write", {})
    assert undo["undone"]["tool"] == "delete_workout"
    (back,) = [e for e in events_on(sandbox, MARA, day) if e["name"] == name]
    assert shown(back) == shown(original)
    assert back["icu_training_load"] == original["icu_training_load"]
    upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{back['id']}")


async def test_it_refuses_to_delete_or_edit_a_past_event(mara_url: str, sandbox: Sandbox) -> None:
    today = local_today(MARA_TZ)
    window = {"oldest": today - timedelta(days=14), "newest": today - timedelta(days=2)}
    past = [
        e
        for e in upstream(sandbox, MARA, "GET", f"/athlete/{MARA}/events", params=window)
        if e["category"] == "WORKOUT"
    ]
    assert past, "the sandbox seeds past planned workouts"
    event = past[-1]
    mark = len(sandbox.state.requests)
    message = await error_text(mara_url, "delete_workout", {"event_id": event["id"]})
    assert f"in the past for athlete {MARA}" in message and "does not delete history" in message
    message = await error_text(mara_url, "edit_workout", {"event_id": event["id"], "name": "Rewrite history"})
    assert f"in the past for athlete {MARA}" in message
    assert not [r for r in sandbox.state.requests[mark:] if r[0] != "GET"]
    assert stored(sandbox, event["id"])["name"] == event["name"]


async def test_it_answers_not_found_for_diego_s_event_on_mara_s_url(mara_url: str, sandbox: Sandbox) -> None:
    window = {"oldest": future_day("America/Denver", 2), "newest": future_day("America/Denver", 20)}
    diego_event = next(
        e
        for e in upstream(sandbox, DIEGO, "GET", f"/athlete/{DIEGO}/events", params=window)
        if e["category"] == "WORKOUT"
    )
    mark = len(sandbox.state.requests)
    expected = f"No event {diego_event['id']} for athlete {MARA}."
    assert await error_text(mara_url, "delete_workout", {"event_id": diego_event["id"]}) == expected
    assert await error_text(mara_url, "edit_workout", {"event_id": diego_event["id"], "name": "x"}) == expected
    assert not [r for r in sandbox.state.requests[mark:] if r[0] != "GET"]
    assert (
        upstream(sandbox, DIEGO, "GET", f"/athlete/{DIEGO}/events/{diego_event['id']}")["name"] == diego_event["name"]
    )


async def test_it_refuses_to_undo_over_a_later_change(mara_url: str, sandbox: Sandbox) -> None:
    event = await pushed(mara_url, 43, unique("Changed later"))
    upstream(sandbox, MARA, "PUT", f"/athlete/{MARA}/events/{event['id']}", json={"name": "Renamed in Intervals"})
    message = await error_text(mara_url, "undo_last_write", {})
    assert "was changed after this write (name)" in message
    assert stored(sandbox, event["id"])["name"] == "Renamed in Intervals"
    row = await AccessLogEntry.objects.aget(tool="push_workout", outcome="ok")
    assert row.undone_at is None  # nothing was undone, so it stays undoable
    upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{event['id']}")
