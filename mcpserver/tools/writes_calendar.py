"""Calendar notes and races: add_calendar_note, add_race. Idempotent like push_workout, never in the past."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mcpserver.bounds import BoundedDate
from mcpserver.catalogue import ToolCall, ToolResult, ToolSpec, register
from mcpserver.tools.writes_common import (
    EventOnlyOutput,
    WriteInput,
    choose_sport,
    commit_create,
    external_id_for,
    find_external,
    refuse_past,
    sport_settings,
    start_local,
)


class NoteInput(WriteInput):
    date: BoundedDate = Field(description="Athlete-local, today or later.")
    title: str = Field(min_length=1, max_length=120)
    text: str | None = Field(default=None, max_length=4000)


class RaceInput(WriteInput):
    date: BoundedDate = Field(description="Athlete-local, today or later.")
    name: str = Field(min_length=1, max_length=120)
    sport: str = Field(max_length=40, description="Ride, Run, Swim, ...")
    priority: Literal["A", "B", "C"] = Field(description="A = main goal.")
    distance_km: float | None = Field(default=None, gt=0, le=10000)
    goal: str | None = Field(default=None, max_length=2000, description="Target time, pacing, notes.")


async def add_calendar_note(call: ToolCall, args: NoteInput) -> ToolResult:
    access = call.athlete(args.athlete)
    client = access.client()
    refuse_past(access, args.date, "add notes")
    title = " ".join(args.title.split())
    text = (args.text or "").strip()
    body: dict[str, Any] = {
        "category": "NOTE",
        "name": title,
        "description": text,
        "start_date_local": start_local(args.date, None),
        "external_id": external_id_for(access.athlete_id, args.date, title, text, "NOTE"),
    }
    existing = await find_external(client, access, args.date, body["external_id"], "NOTE")
    return await commit_create(access, client, body=body, existing=existing, dry_run=args.dry_run)


async def add_race(call: ToolCall, args: RaceInput) -> ToolResult:
    access = call.athlete(args.athlete)
    client = access.client()
    refuse_past(access, args.date, "add races")
    settings = await sport_settings(client, access) if access.allows_scope("SETTINGS:READ") else None
    sport = choose_sport(settings, args.sport, access).sport if settings is not None else args.sport.strip()
    name = " ".join(args.name.split())
    category = f"RACE_{args.priority}"
    goal = (args.goal or "").strip()
    body: dict[str, Any] = {
        "category": category,
        "type": sport,
        "name": name,
        "description": goal,
        "start_date_local": start_local(args.date, None),
        "external_id": external_id_for(access.athlete_id, args.date, name, goal, category),
    }
    if args.distance_km:
        body["distance"] = round(args.distance_km * 1000, 1)
    existing = await find_external(client, access, args.date, body["external_id"], category)
    return await commit_create(access, client, body=body, existing=existing, dry_run=args.dry_run)


register(
    ToolSpec(
        name="add_calendar_note",
        title="Add calendar note",
        description="Put a note (title, text) on the athlete's calendar, today or later. Undoable.",
        input_model=NoteInput,
        output_model=EventOnlyOutput,
        handler=add_calendar_note,
        scope="CALENDAR:WRITE",
        read_only=False,
        group="write",
    )
)

register(
    ToolSpec(
        name="add_race",
        title="Add race",
        description="Put a race on the calendar: name, date, sport, priority A/B/C, distance, goal. Undoable.",
        input_model=RaceInput,
        output_model=EventOnlyOutput,
        handler=add_race,
        scope="CALENDAR:WRITE",
        read_only=False,
        group="write",
    )
)
