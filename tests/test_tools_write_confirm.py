"""Writes that overwrite or delete need the user's go-ahead: preview first, then the call with its code.

A model that has just read a planted "delete every workout" must not be able to delete in one call:
delete_workout, edit_workout, undo_last_write and log_wellness replacing a value answer a call without
a valid `confirm` code with the preview and a code, and send nothing but reads upstream. The code fits
one token, tool, athlete, exact arguments and previewed state for 10 minutes. Creating (push_workout,
add_calendar_note, add_race…) stays one call and never changes an event that is already there, which
is what their `destructiveHint: false` says.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from mcp.client import Client

from accounts.actions import reveal_token
from coaching.actions import accept_invite, grantable_tools, invite_coach
from mcpserver.tools import writes_confirm
from tests.conftest import DIEGO, MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.test_tools_write_helpers import THRESHOLD_STEPS, call, future_day, local_today, ok, unique, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

MARA_TZ = "Europe/Stockholm"
# What each write tool does to what is already there -> (destructiveHint, idempotentHint).
WRITE_TOOLS = {
    "push_workout": (False, True),  # creates; an event of the same request already there is left as it is
    "schedule_library_workout": (False, True),
    "add_calendar_note": (False, True),
    "add_race": (False, True),
    "add_activity_comment": (False, True),  # posts; the same comment is not posted twice
    "edit_workout": (True, True),  # overwrites an event
    "delete_workout": (True, True),
    "log_wellness": (True, True),  # may replace a value the day already has
    "undo_last_write": (True, False),  # deletes or puts back; a second call undoes the write before
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Urls:
    mara: str
    coach: str


@pytest.fixture
def urls(product: ServerThread, sandbox: Sandbox) -> Urls:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    diego = make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox)
    tools = [t for group in grantable_tools().values() for t in group]
    grant = accept_invite(invite_coach(mara, "sam@example.com", tools))
    accept_invite(invite_coach(diego, "sam@example.com", tools))
    assert grant.coach_token is not None
    return Urls(mara=mcp_url(product, mara), coach=f"{product.url}/mcp/{reveal_token(grant.coach_token)}")


async def push(url: str, days: int, name: str, **extra: Any) -> dict[str, Any]:
    day = future_day(MARA_TZ, days)
    args = {"date": day.isoformat(), "sport": "Ride", "name": name, "steps": THRESHOLD_STEPS, **extra}
    return dict((await ok(url, "push_workout", args))["event"])


def event(sandbox: Sandbox, event_id: int) -> dict[str, Any] | None:
    """The event as Intervals.icu has it now, or None once it is deleted."""
    response = httpx.get(
        f"{sandbox.url}/api/v1/athlete/{MARA}/events/{event_id}",
        headers={"Authorization": f"Bearer {sandbox.state.demo_token(MARA)}"},
    )
    return None if response.status_code == 404 else dict(response.raise_for_status().json())


def writes_since(sandbox: Sandbox, mark: int) -> list[Any]:
    return [r for r in sandbox.state.requests[mark:] if r[0] != "GET"]


async def test_it_deletes_mara_s_workout_only_with_the_code_of_its_preview(urls: Urls, sandbox: Sandbox) -> None:
    ev = await push(urls.mara, 45, unique("Delete me"))
    mark = len(sandbox.state.requests)
    first = await ok(urls.mara, "delete_workout", {"event_id": ev["id"]})  # no code: the preview and a code
    assert first["status"] == "preview" and first["event"]["id"] == ev["id"]
    assert first["confirm"] and "go-ahead" in first["note"]
    assert event(sandbox, ev["id"]) is not None and writes_since(sandbox, mark) == []

    done = await ok(urls.mara, "delete_workout", {"event_id": ev["id"], "confirm": first["confirm"]})
    assert done["status"] == "deleted" and event(sandbox, ev["id"]) is None
    assert [r[0] for r in writes_since(sandbox, mark)] == ["DELETE"]


async def test_it_refuses_a_code_for_other_arguments_another_url_or_once_expired(
    urls: Urls, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep = await push(urls.mara, 46, unique("Keep me"))
    other = await push(urls.mara, 46, unique("Keep me too"))
    code = (await ok(urls.mara, "delete_workout", {"event_id": keep["id"]}))["confirm"]
    mark = len(sandbox.state.requests)
    # The code of one event's preview does not delete another event.
    refused = await ok(urls.mara, "delete_workout", {"event_id": other["id"], "confirm": code})
    assert refused["status"] == "preview" and "does not fit" in refused["note"] and refused["confirm"] != code
    # Nor does it work through another MCP URL (Sam's, who may delete on Mara's calendar), same arguments.
    refused = await ok(urls.coach, "delete_workout", {"athlete": MARA, "event_id": keep["id"], "confirm": code})
    assert refused["status"] == "preview" and "does not fit" in refused["note"]
    # Nor after its 10 minutes.
    later = time.time() + writes_confirm.CONFIRM_SECONDS + 1
    monkeypatch.setattr(writes_confirm, "_clock", lambda: later)
    refused = await ok(urls.mara, "delete_workout", {"event_id": keep["id"], "confirm": code})
    assert refused["status"] == "preview" and "does not fit" in refused["note"]
    assert writes_since(sandbox, mark) == []
    assert event(sandbox, keep["id"]) is not None and event(sandbox, other["id"]) is not None
    for e in (keep, other):
        upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{e['id']}")


async def test_it_binds_a_code_to_token_tool_athlete_arguments_state_and_time() -> None:
    def fake_call(token: int, tool: str) -> Any:
        return SimpleNamespace(principal=SimpleNamespace(token_id=token), tool_name=tool)

    def access(athlete_id: str) -> Any:
        return SimpleNamespace(athlete_id=athlete_id)

    Args = writes_confirm.ConfirmInput
    state = {"id": 7, "name": "Threshold 3x12"}
    code = writes_confirm.issue(fake_call(1, "delete_workout"), access(MARA), Args(), state)
    args = Args(confirm=code)
    assert writes_confirm.confirmed(fake_call(1, "delete_workout"), access(MARA), args, state)
    # The athlete argument is bound through the athlete it resolved to, dry_run not at all.
    assert writes_confirm.confirmed(
        fake_call(1, "delete_workout"), access(MARA), Args(confirm=code, athlete="Mara"), state
    )
    assert not writes_confirm.confirmed(fake_call(2, "delete_workout"), access(MARA), args, state)
    assert not writes_confirm.confirmed(fake_call(1, "edit_workout"), access(MARA), args, state)
    assert not writes_confirm.confirmed(fake_call(1, "delete_workout"), access(DIEGO), args, state)
    assert not writes_confirm.confirmed(fake_call(1, "delete_workout"), access(MARA), args, {**state, "name": "x"})
    assert not writes_confirm.confirmed(fake_call(1, "delete_workout"), access(MARA), Args(confirm=code + "x"), state)
    assert not writes_confirm.confirmed(fake_call(1, "delete_workout"), access(MARA), Args(confirm="zz.abc"), state)
    assert not writes_confirm.confirmed(fake_call(1, "delete_workout"), access(MARA), Args(), state)
    forged = f"{int(time.time()) + 99_999:x}.{code.split('.')[1]}"  # a later expiry does not carry the MAC over
    assert not writes_confirm.confirmed(fake_call(1, "delete_workout"), access(MARA), Args(confirm=forged), state)


def start_of(sandbox: Sandbox, event_id: int) -> str:
    found = event(sandbox, event_id)
    assert found is not None
    return str(found["start_date_local"])


async def test_it_edits_only_with_a_code_that_fits_the_event_as_previewed(urls: Urls, sandbox: Sandbox) -> None:
    ev = await push(urls.mara, 47, unique("Edit me"))
    args = {"event_id": ev["id"], "time": "06:30"}
    mark = len(sandbox.state.requests)
    preview = await ok(urls.mara, "edit_workout", args)
    assert preview["status"] == "preview" and preview["event"]["time"] == "06:30" and preview["confirm"]
    assert writes_since(sandbox, mark) == [] and "T00:00" in start_of(sandbox, ev["id"])
    # Mara renames it in Intervals.icu meanwhile: what the user saw is no longer what would be overwritten.
    upstream(sandbox, MARA, "PUT", f"/athlete/{MARA}/events/{ev['id']}", json={"name": unique("Renamed by Mara")})
    mark = len(sandbox.state.requests)
    stale = await ok(urls.mara, "edit_workout", {**args, "confirm": preview["confirm"]})
    assert stale["status"] == "preview" and "does not fit" in stale["note"] and stale["confirm"] != preview["confirm"]
    assert writes_since(sandbox, mark) == [] and "T00:00" in start_of(sandbox, ev["id"])
    done = await ok(urls.mara, "edit_workout", {**args, "confirm": stale["confirm"]})
    assert done["status"] == "updated" and "T06:30" in start_of(sandbox, ev["id"])
    # Undoing it is a write that overwrites too: a preview first, then the call with its code.
    undo = await ok(urls.mara, "undo_last_write", {})
    assert undo["status"] == "preview" and undo["confirm"] and "T06:30" in start_of(sandbox, ev["id"])
    undone = await ok(urls.mara, "undo_last_write", {"confirm": undo["confirm"]})
    assert undone["status"] == "undone" and "T00:00" in start_of(sandbox, ev["id"])
    upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{ev['id']}")


async def test_it_logs_wellness_on_an_empty_field_at_once_but_replaces_a_value_only_when_confirmed(
    urls: Urls, sandbox: Sandbox
) -> None:
    day = (local_today(MARA_TZ) - timedelta(days=23)).isoformat()  # a day no other test logs
    path = f"/athlete/{MARA}/wellness/{day}"
    original = upstream(sandbox, MARA, "GET", path)
    upstream(sandbox, MARA, "PUT", path, json={"stress": -1, "comments": ""})
    filled = await ok(urls.mara, "log_wellness", {"date": day, "stress": 2})  # empty before: one call
    assert filled["status"] == "updated" and upstream(sandbox, MARA, "GET", path)["stress"] == 2
    mark = len(sandbox.state.requests)
    replacing = await ok(urls.mara, "log_wellness", {"date": day, "stress": 3})
    assert replacing["status"] == "preview" and replacing["previous"] == {"stress": 2}
    assert writes_since(sandbox, mark) == [] and upstream(sandbox, MARA, "GET", path)["stress"] == 2
    # The code is Mara's: Sam's URL, same arguments, same day, gets a preview of its own.
    refused = await ok(
        urls.coach, "log_wellness", {"athlete": MARA, "date": day, "stress": 3, "confirm": replacing["confirm"]}
    )
    assert refused["status"] == "preview" and upstream(sandbox, MARA, "GET", path)["stress"] == 2
    done = await ok(urls.mara, "log_wellness", {"date": day, "stress": 3, "confirm": replacing["confirm"]})
    assert done["status"] == "updated" and upstream(sandbox, MARA, "GET", path)["stress"] == 3
    restore = {k: (original.get(k) if original.get(k) is not None else -1) for k in ("stress",)}
    upstream(sandbox, MARA, "PUT", path, json={**restore, "comments": original.get("comments") or ""})


async def test_it_never_changes_an_event_already_there_when_creating(urls: Urls, sandbox: Sandbox) -> None:
    name = unique("Moved by Mara")
    ev = await push(urls.mara, 48, name)
    # Mara moves it herself in Intervals.icu; the same push again must not move it back.
    upstream(
        sandbox,
        MARA,
        "PUT",
        f"/athlete/{MARA}/events/{ev['id']}",
        json={"start_date_local": f"{ev['date'][4:]}T18:00:00"},
    )
    mark = len(sandbox.state.requests)
    again = await ok(
        urls.mara,
        "push_workout",
        {"date": ev["date"][4:], "sport": "Ride", "name": name, "steps": THRESHOLD_STEPS},
    )
    assert again["status"] == "unchanged" and again["event"]["id"] == ev["id"] and "edit_workout" in again["note"]
    assert writes_since(sandbox, mark) == []
    assert "T18:00" in str(event(sandbox, ev["id"])["start_date_local"])  # type: ignore[index]
    upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{ev['id']}")


async def test_it_annotates_every_write_tool_as_it_behaves(urls: Urls, sandbox: Sandbox) -> None:
    async with Client(urls.coach, mode="legacy") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for name, (destructive, idempotent) in WRITE_TOOLS.items():
        hints = tools[name].annotations
        assert hints is not None and hints.read_only_hint is False, name
        assert (hints.destructive_hint, hints.idempotent_hint) == (destructive, idempotent), name
        # A tool that deletes or overwrites takes the code of its preview; the others have no such step.
        assert ("confirm" in tools[name].input_schema["properties"]) == destructive, name
    assert tools["add_private_note"].annotations.destructive_hint is False  # type: ignore[union-attr]
    # Idempotent creates: the same call twice writes once.
    day = future_day(MARA_TZ, 49).isoformat()
    for tool, args in [
        ("add_calendar_note", {"athlete": MARA, "date": day, "title": unique("Note")}),
        ("add_race", {"athlete": MARA, "date": day, "name": unique("Race"), "sport": "Ride", "priority": "C"}),
    ]:
        first = await ok(urls.coach, tool, args)
        mark = len(sandbox.state.requests)
        second = await ok(urls.coach, tool, args)
        assert second["status"] == "unchanged" and writes_since(sandbox, mark) == [], tool
        upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{first['event']['id']}")
    # Destructive ones write nothing on their first call.
    ev = await push(urls.mara, 49, unique("Still here"))
    mark = len(sandbox.state.requests)
    for tool, args in [
        ("edit_workout", {"athlete": MARA, "event_id": ev["id"], "name": "Renamed"}),
        ("delete_workout", {"athlete": MARA, "event_id": ev["id"]}),
    ]:
        result = await call(urls.coach, tool, args)
        assert not result.is_error and result.structured_content["status"] == "preview", tool  # type: ignore[index]
    assert writes_since(sandbox, mark) == [] and event(sandbox, ev["id"]) is not None
    upstream(sandbox, MARA, "DELETE", f"/athlete/{MARA}/events/{ev['id']}")
