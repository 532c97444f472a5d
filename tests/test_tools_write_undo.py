"""undo_last_write end to end: push → undo, walking back, redo, scope, another athlete's entries, the dashboard."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from coaching.models import AccessLogEntry
from tests.conftest import DIEGO, MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.test_tools_write_helpers import THRESHOLD_STEPS, error_text, events_on, future_day, ok, ok_confirmed, unique

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

MARA_TZ = "Europe/Stockholm"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara(product: ServerThread, sandbox: Sandbox) -> Any:
    return make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)


@pytest.fixture
def mara_url(product: ServerThread, mara: Any) -> str:
    return mcp_url(product, mara)


@pytest.fixture
def diego_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox))


def push(day: Any, name: str) -> dict[str, Any]:
    return {"date": day.isoformat(), "sport": "Ride", "name": name, "steps": THRESHOLD_STEPS}


def names_on(sandbox: Sandbox, day: Any) -> list[str]:
    return [e["name"] for e in events_on(sandbox, MARA, day)]


async def test_it_undoes_a_push_then_walks_back_and_redoes(mara_url: str, sandbox: Sandbox) -> None:
    day = future_day(MARA_TZ, 50)
    first, second = unique("First"), unique("Second")
    await ok(mara_url, "push_workout", push(day, first))
    await ok(mara_url, "push_workout", push(day, second))

    preview = await ok(mara_url, "undo_last_write", {"dry_run": True})
    assert preview["status"] == "preview" and preview["result"]["event"]["name"] == {"untrusted": second}
    assert {first, second} <= set(names_on(sandbox, day))

    undo = await ok_confirmed(mara_url, "undo_last_write", {})
    assert undo["action"].startswith("delete") and undo["result"]["event"]["name"] == {"untrusted": second}
    assert second not in names_on(sandbox, day) and first in names_on(sandbox, day)

    again = await ok_confirmed(mara_url, "undo_last_write", {})  # walks back to the first push, not a redo
    assert again["result"]["event"]["name"] == {"untrusted": first}
    assert first not in names_on(sandbox, day)

    redo = await ok_confirmed(mara_url, "undo_last_write", {"entry_id": undo["undone"]["entry_id"]})
    assert redo["action"].startswith("re-create") and redo["result"]["event"]["name"] == {"untrusted": second}
    assert second in names_on(sandbox, day) and first not in names_on(sandbox, day)

    rows = [r async for r in AccessLogEntry.objects.filter(tool="undo_last_write", outcome="ok").order_by("pk")]
    assert [r.write_kind for r in rows] == ["event.delete", "event.delete", "event.create"]
    assert rows[2].undo_of_id == rows[0].pk

    message = await error_text(mara_url, "undo_last_write", {"entry_id": undo["undone"]["entry_id"] + 10_000})
    assert "No access-log entry" in message
    for event in events_on(sandbox, MARA, day):
        if event["name"] == second:
            sandbox_delete(sandbox, event["id"])


def sandbox_delete(sandbox: Sandbox, event_id: int) -> None:
    from tests.test_tools_write_helpers import upstream

    upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{event_id}")


async def test_it_never_undoes_another_athlete_s_write(mara_url: str, diego_url: str, sandbox: Sandbox) -> None:
    day = future_day(MARA_TZ, 51)
    name = unique("Mara only")
    await ok(mara_url, "push_workout", push(day, name))
    row = await AccessLogEntry.objects.aget(tool="push_workout", outcome="ok")

    assert await error_text(diego_url, "undo_last_write", {"entry_id": row.pk}) == (
        f"No access-log entry {row.pk} for athlete {DIEGO}."
    )
    assert f"No write made through Threshold for athlete {DIEGO}" in await error_text(diego_url, "undo_last_write", {})
    assert name in names_on(sandbox, day)
    await ok_confirmed(mara_url, "undo_last_write", {})
    assert name not in names_on(sandbox, day)


async def test_it_says_a_comment_cannot_be_undone(mara_url: str, sandbox: Sandbox) -> None:
    activity = next(
        a for a in sandbox.state.athletes[MARA].activities if not a.stub and a.day < future_day(MARA_TZ, -2)
    )
    await ok(mara_url, "add_activity_comment", {"activity_id": activity.id, "text": unique("Strong finish")})
    row = await AccessLogEntry.objects.aget(tool="add_activity_comment", outcome="ok")
    assert row.write_kind == "comment.create"
    message = await error_text(mara_url, "undo_last_write", {"entry_id": row.pk})
    assert "cannot be undone through the Intervals.icu API" in message
    assert "No write made through Threshold" in await error_text(mara_url, "undo_last_write", {})


async def test_it_undoes_from_the_dashboard_and_journals_it(mara: Any, mara_url: str, sandbox: Sandbox) -> None:
    from mcpserver.undo import undo_from_dashboard

    day = future_day(MARA_TZ, 52)
    name = unique("Dashboard")
    await ok(mara_url, "push_workout", push(day, name))
    row = await AccessLogEntry.objects.aget(tool="push_workout", outcome="ok")

    done, text = await sync_to_async(undo_from_dashboard)(mara, row.pk)
    assert done, text
    assert name not in names_on(sandbox, day)
    undo_row = await AccessLogEntry.objects.aget(tool="undo_last_write")
    assert undo_row.undo_of_id == row.pk and undo_row.actor_label == "You (dashboard)"
    assert undo_row.write_kind == "event.delete" and undo_row.pre_image is not None
    done, text = await sync_to_async(undo_from_dashboard)(mara, row.pk)  # redo, from the same button
    assert done, text
    assert name in names_on(sandbox, day)
    for event in events_on(sandbox, MARA, day):
        if event["name"] == name:
            sandbox_delete(sandbox, event["id"])
