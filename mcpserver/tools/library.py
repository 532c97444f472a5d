"""get_workout_library: the athlete's folders and plans with their workouts, searchable by name."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from integrations.intervals.schemas import LibraryWorkout, SportSettings
from mcpserver import present
from mcpserver.bounds import ShortText
from mcpserver.catalogue import AthleteEcho, AthleteInput, ToolCall, ToolResult, ToolSpec, Untrusted, register
from mcpserver.tools.activity import tidy
from mcpserver.tools.events import Rendering, describe_workout, sport_settings

MAX_WITH_STEPS = 10


class LibraryInput(AthleteInput):
    query: ShortText | None = Field(default=None, description="Name contains")
    with_steps: bool = False


class LibraryRow(BaseModel):
    id: int
    name: Untrusted | None = None
    sport: str | None = None
    duration: str | None = None
    load: int | None = None
    intensity_pct: int | None = None
    plan_day: int | None = None
    steps: Untrusted | None = None


class FolderRow(BaseModel):
    id: int
    name: Untrusted | None = None
    kind: str
    weeks: int | None = None
    workouts: list[LibraryRow] = []


class LibraryOutput(BaseModel):
    athlete: AthleteEcho
    workouts: int
    folders: list[FolderRow] = []
    note: str | None = None
    units: dict[str, str]


UNITS = {
    "duration": "planned moving time h:mm:ss",
    "load": "planned training load (1 h at threshold = 100)",
    "plan_day": "day of the plan the workout falls on (1 = first)",
}


def library_row(w: LibraryWorkout, settings: list[SportSettings], steps: bool) -> dict[str, object]:
    rendering = Rendering.for_sport(settings, w.type, w.workout_doc) if steps else None
    return tidy(
        {
            "id": w.id,
            "name": present.untrusted(w.name),
            "sport": w.type,
            "duration": present.hms(w.moving_time) if w.moving_time else None,
            "load": present.rnd(w.icu_training_load),
            "intensity_pct": present.rnd(w.icu_intensity),
            "plan_day": w.day,
            "steps": present.untrusted(describe_workout(w.description, rendering)) if rendering else None,
        }
    )


async def get_workout_library(call: ToolCall, args: LibraryInput) -> ToolResult:
    access = call.athlete(args.athlete)
    client = access.client()
    needle = (args.query or "").strip().lower()
    if args.with_steps:
        folders, settings = await asyncio.gather(client.list_folders(access.athlete_id), sport_settings(client, access))
    else:
        folders, settings = await client.list_folders(access.athlete_id), []
    matches = {
        f.id: [
            w for w in f.children if not needle or needle in (w.name or "").lower() or needle in (f.name or "").lower()
        ]
        for f in folders
    }
    total = sum(len(ws) for ws in matches.values())
    steps = args.with_steps and total <= MAX_WITH_STEPS
    rows = []
    for f in folders:
        if needle and not matches[f.id]:
            continue
        rows.append(
            tidy(
                {
                    "id": f.id,
                    "name": present.untrusted(f.name),
                    "kind": "plan" if (f.type or "").upper() == "PLAN" else "folder",
                    "weeks": f.duration_weeks,
                    "workouts": [library_row(w, settings, steps) for w in matches[f.id]],
                }
            )
        )
    data = {"athlete": access.echo(), "workouts": total, "folders": rows, "units": UNITS}
    if args.with_steps and not steps:
        data["note"] = f"{total} workouts match: steps are given for at most {MAX_WITH_STEPS}; narrow the query."
    text = f"{present.fence(access.name)} library: {total} workouts in {len(rows)} folders" + (
        f" matching '{args.query}'." if args.query else "."
    )
    return ToolResult(data=tidy(data), text=text)


register(
    ToolSpec(
        name="get_workout_library",
        title="Workout library",
        description="Library folders and plans with workouts (id, sport, duration, load); name search; optional steps.",
        input_model=LibraryInput,
        output_model=LibraryOutput,
        handler=get_workout_library,
        scope="LIBRARY:READ",
    )
)
