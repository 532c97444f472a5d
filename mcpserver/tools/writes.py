"""Planned workouts on the calendar: push_workout, schedule_library_workout, edit_workout, delete_workout.

Safe writes: the athlete is resolved and the grant checked first; events are read back (and must be
the athlete's) before they are changed; nothing is written in the athlete's past; `dry_run` previews;
creation is idempotent and additive (a deterministic `external_id` looked up first; an event already there is
never changed by a create); edit_workout and delete_workout show a preview and need its `confirm` code;
every write returns what was written and hands its pre-image to the access log, so it can be undone.

Load-aware: the server renders the workout text itself, computes duration, distance, load and
intensity with the athlete's thresholds for that sport, and projects fitness, fatigue and form for the
day, with and without the workout.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema, model_validator

from coaching.actions import WriteRecord
from integrations.intervals import errors
from integrations.intervals.client import IntervalsClient
from integrations.intervals.workouts import Workout, parse_workout, render_workout
from mcpserver import present
from mcpserver.bounds import PROJECTION_DAYS, BoundedDate
from mcpserver.catalogue import ToolCall, ToolFailure, ToolResult, ToolSpec, register
from mcpserver.principal import AthleteAccess
from mcpserver.tools.writes_common import (
    UNDO_HINT,
    EventDeleteOutput,
    EventEditOutput,
    EventWriteOutput,
    Planned,
    SportChoice,
    WriteInput,
    calendar_of,
    choose_sport,
    commit_create,
    event_day,
    event_line,
    event_out,
    event_result,
    external_id_for,
    find_external,
    get_own_event,
    keep,
    metrics_of_text,
    plan_metrics,
    project_day,
    projection_text,
    refuse_past,
    same_event,
    sport_settings,
    start_local,
    today_for,
    who,
)
from mcpserver.tools.writes_confirm import ConfirmInput, confirm_note, confirmed, issue
from mcpserver.workout_input import StepIn, WorkoutInputError, plain_text, render

TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
EDITABLE = ("WORKOUT", "NOTE", "RACE_A", "RACE_B", "RACE_C")

DATE_DESC = "Athlete-local, today or later."
TIME_DESC = "Start HH:MM, athlete-local."


class PushWorkoutInput(WriteInput):
    date: BoundedDate = Field(description=DATE_DESC)
    time: str | None = Field(default=None, pattern=TIME_PATTERN, description=TIME_DESC)
    sport: str = Field(max_length=40, description="Ride, Run, Swim, WeightTraining, ...")
    name: str = Field(min_length=1, max_length=120)
    steps: list[StepIn] | None = Field(default=None, max_length=40)
    description: str | None = Field(
        default=None,
        max_length=4000,
        description="Notes above the steps; alone: a plain-text session (strength).",
    )

    @model_validator(mode="after")
    def _content(self) -> PushWorkoutInput:
        if not self.steps and not (self.description or "").strip():
            raise ValueError("give steps, or a description for a plain-text session")
        return self


class ScheduleLibraryInput(WriteInput):
    workout_id: int = Field(description="Library workout id.")
    date: BoundedDate = Field(description=DATE_DESC)
    time: str | None = Field(default=None, pattern=TIME_PATTERN, description=TIME_DESC)


class EditWorkoutInput(ConfirmInput):
    event_id: int
    date: BoundedDate | None = Field(default=None, description="New date, athlete-local.")
    time: str | None = Field(default=None, pattern=TIME_PATTERN, description=TIME_DESC)
    sport: str | None = Field(default=None, max_length=40)
    name: str | None = Field(default=None, min_length=1, max_length=120)
    steps: Annotated[
        list[StepIn] | None, WithJsonSchema({"type": "array", "description": "New steps, as in push_workout."})
    ] = Field(default=None, max_length=40)
    description: str | None = Field(default=None, max_length=4000, description="New notes / plain text.")


class DeleteWorkoutInput(ConfirmInput):
    event_id: int


# ----------------------------------------------------------------------------------------------------
# Shared flow


async def _choice(client: IntervalsClient, access: AthleteAccess, sport: str, notes: list[str]) -> SportChoice:
    settings = None
    if access.allows_scope("SETTINGS:READ"):
        settings = await sport_settings(client, access)
    if settings is None:
        notes.append("Sport settings not readable with this connection: load computed without thresholds.")
    return choose_sport(settings, sport, access)


def _metric_notes(workout: Workout | None, planned: Planned, choice: SportChoice, notes: list[str]) -> None:
    if workout is None or not planned.steps:
        return  # plain text (e.g. strength): no structure, no load, nothing to explain
    if planned.load is None:
        notes.append(
            f"Load unknown: these targets cannot be resolved with the athlete's {choice.sport} thresholds "
            "(e.g. %FTP without an FTP); Intervals.icu will not count it either."
        )
    elif not choice.dedicated:
        notes.append(f"No {choice.sport} sport settings: computed with the athlete's general (Other) thresholds.")


async def _projection(
    client: IntervalsClient,
    access: AthleteAccess,
    day: dt.date,
    planned: Planned,
    replacing: dict[str, Any] | None,
    notes: list[str],
) -> dict[str, Any] | None:
    if not access.allows_scope("WELLNESS:READ"):
        notes.append("No fitness projection: the connection may not read wellness (fitness) data.")
        return None
    if (day - today_for(access)).days > PROJECTION_DAYS:
        # The model runs day by day from today: bounded like get_fitness's projections.
        notes.append(f"No fitness projection: {present.day_label(day)} is more than {PROJECTION_DAYS} days ahead.")
        return None
    projection = await project_day(client, access, day, planned.load, replacing=replacing)
    if projection is None:
        notes.append("No fitness projection: no recent fitness data.")
    return projection


def _render(steps: list[StepIn] | None, description: str | None) -> tuple[Workout | None, str]:
    try:
        if steps:
            return render(steps, description or "")
    except WorkoutInputError as exc:
        raise ToolFailure(f"Invalid steps: {exc}") from None
    return None, plain_text(description or "")


async def create_workout_event(
    access: AthleteAccess,
    client: IntervalsClient,
    *,
    day: dt.date,
    body: dict[str, Any],
    workout: Workout | None,
    choice: SportChoice,
    dry_run: bool,
    notes: list[str],
) -> ToolResult:
    """The idempotent create of push_workout and schedule_library_workout, with load and projection."""
    planned = plan_metrics(workout, choice)
    _metric_notes(workout, planned, choice, notes)
    existing = await find_external(client, access, day, body["external_id"], body["category"])
    projection = await _projection(client, access, day, planned, existing, notes)
    return await commit_create(
        access,
        client,
        body=body,
        existing=existing,
        dry_run=dry_run,
        planned=planned,
        projection=projection,
        notes=notes,
    )


# ----------------------------------------------------------------------------------------------------
# Tools


async def push_workout(call: ToolCall, args: PushWorkoutInput) -> ToolResult:
    access = call.athlete(args.athlete)
    client = access.client()
    refuse_past(access, args.date, "plan workouts")
    notes: list[str] = []
    choice = await _choice(client, access, args.sport, notes)
    workout, text = _render(args.steps, args.description)
    if workout is None:
        workout = parse_workout(text)  # plain text: whatever Intervals.icu will read in it
    body = workout_body(access, choice.sport, " ".join(args.name.split()), text, args.date, args.time)
    return await create_workout_event(
        access, client, day=args.date, body=body, workout=workout, choice=choice, dry_run=args.dry_run, notes=notes
    )


def workout_body(
    access: AthleteAccess, sport: str, name: str, text: str, day: dt.date, time: str | None
) -> dict[str, Any]:
    """The WORKOUT event we create; its external_id makes a retried call land on the same event."""
    return {
        "category": "WORKOUT",
        "type": sport,
        "name": name,
        "description": text,
        "start_date_local": start_local(day, time),
        "external_id": external_id_for(access.athlete_id, day, name, text),
    }


async def schedule_library_workout(call: ToolCall, args: ScheduleLibraryInput) -> ToolResult:
    access = call.athlete(args.athlete)
    client = access.client()
    refuse_past(access, args.date, "plan workouts")
    if not access.allows_scope("LIBRARY:READ"):
        raise ToolFailure(
            "Reading the athlete's workout library needs the Intervals.icu permission LIBRARY:READ, which was "
            "not granted. Reconnect Intervals.icu from the Threshold dashboard and tick it."
        )
    missing = ToolFailure(f"No library workout {args.workout_id} for athlete {access.athlete_id}.")
    try:
        item = await client.request("GET", f"/api/v1/athlete/{access.athlete_id}/workouts/{args.workout_id}")
    except (errors.UpstreamNotFound, errors.UpstreamForbidden, errors.UpstreamInvalid):
        raise missing from None
    owner = item.get("athlete_id") if isinstance(item, dict) else None
    if not isinstance(item, dict) or (owner and str(owner).removeprefix("i") != access.athlete_id.removeprefix("i")):
        raise missing
    notes: list[str] = []
    choice = await _choice(client, access, str(item.get("type") or "Ride"), notes)
    text = str(item.get("description") or "")
    workout, _ = metrics_of_text(text, choice)
    name = str(item.get("name") or f"Workout {args.workout_id}")
    body = workout_body(access, choice.sport, name, text, args.date, args.time)
    if item.get("indoor") is not None:
        body["indoor"] = bool(item["indoor"])
    return await create_workout_event(
        access, client, day=args.date, body=body, workout=workout, choice=choice, dry_run=args.dry_run, notes=notes
    )


def _existing_time(ev: dict[str, Any]) -> str | None:
    raw = str(ev.get("start_date_local") or "")
    hhmm = raw[11:16]
    return hhmm if len(hhmm) == 5 and hhmm != "00:00" else None


async def edit_workout(call: ToolCall, args: EditWorkoutInput) -> ToolResult:
    access = call.athlete(args.athlete)
    client = access.client()
    ev = await get_own_event(client, access, args.event_id)
    category = str(ev.get("category") or "")
    old_day = event_day(ev) or today_for(access)
    refuse_past(access, old_day, "edit events")
    if category not in EDITABLE:
        raise ToolFailure(f"Event {args.event_id} is a {category}; Threshold edits workouts, notes and races only.")
    if args.steps and category != "WORKOUT":
        raise ToolFailure(f"Event {args.event_id} is a {category}, not a workout: it has no steps.")
    day = args.date or old_day
    refuse_past(access, day, "move events")
    notes: list[str] = []
    body: dict[str, Any] = {}
    name = " ".join(args.name.split()) if args.name else str(ev.get("name") or "")
    if args.name and name != ev.get("name"):
        body["name"] = name
    sport = args.sport or ev.get("type")
    choice: SportChoice | None = None
    if sport and (category == "WORKOUT" or args.sport):
        choice = await _choice(client, access, str(sport), notes)
        if choice.sport != ev.get("type"):
            body["type"] = choice.sport
    old_text = str(ev.get("description") or "")
    text = old_text
    if args.steps:
        notes_text = args.description if args.description is not None else parse_workout(old_text).description
        _, text = _render(args.steps, notes_text)
    elif args.description is not None:
        parsed = parse_workout(old_text)
        if category == "WORKOUT" and parsed.items:
            prose = args.description.strip()
            text = render_workout(Workout(parsed.items, prose))
            if parse_workout(text).description != prose:
                raise ToolFailure("description: a line of it would be read as a workout step; reword it.")
        else:
            text = plain_text(args.description)
    if text.strip() != old_text.strip():
        body["description"] = text
    if args.date or args.time:
        start = start_local(day, args.time or _existing_time(ev))
        if start[:16] != str(ev.get("start_date_local") or "")[:16]:
            body["start_date_local"] = start
    if not any(v is not None for v in (args.date, args.time, args.sport, args.name, args.steps, args.description)):
        raise ToolFailure("Nothing to change: pass date, time, sport, name, steps or description.")
    ext = str(ev.get("external_id") or "")
    if ext.startswith("thr-") and body.keys() & {"name", "description", "start_date_local"}:
        body["external_id"] = external_id_for(access.athlete_id, day, name, text, category)
    workout = planned = None
    projection = None
    if category == "WORKOUT" and choice is not None:
        workout, planned = metrics_of_text(text, choice)
        _metric_notes(workout, planned, choice, notes)
        projection = await _projection(client, access, day, planned, ev, notes)
    before = event_out(ev)
    name_tz = who(access)
    changes = bool(body) and not same_event(ev, body)
    state = keep(ev)  # the code fits this event as previewed: once it changes, a new preview is needed
    if args.dry_run or (changes and not confirmed(call, access, args, state)):
        event = event_out({**ev, **body}, planned)
        code = issue(call, access, args, state) if changes else None
        notes += [n for n in [confirm_note(args, code)] if n]
        text_out = f"Preview for {name_tz}, nothing written: {event_line(event)}.{projection_text(projection)}"
        return event_result(
            access, "preview", event, text=text_out, before=before, projection=projection, notes=notes, confirm=code
        )
    if not changes:
        event = event_out(ev, planned)
        text_out = f"Nothing to change for {name_tz}: {event_line(event)} (event {args.event_id}) already says that."
        return event_result(access, "unchanged", event, text=text_out, projection=projection, notes=notes)
    saved = await client.request("PUT", f"/api/v1/athlete/{access.athlete_id}/events/{args.event_id}", json=body)
    if not isinstance(saved, dict):
        saved = {**ev, **body}
    event = event_out(saved, planned)
    write = WriteRecord(kind="event.update", target=str(args.event_id), before=keep(ev), after=keep(saved))
    text_out = (
        f"Updated on {calendar_of(access)}: {event_line(event)} (event {args.event_id}; was {event_line(before)})."
        f"{projection_text(projection)}{UNDO_HINT}"
    )
    return event_result(
        access, "updated", event, text=text_out, before=before, projection=projection, notes=notes, write=write
    )


async def delete_workout(call: ToolCall, args: DeleteWorkoutInput) -> ToolResult:
    access = call.athlete(args.athlete)
    client = access.client()
    ev = await get_own_event(client, access, args.event_id)
    day = event_day(ev)
    category = str(ev.get("category") or "")
    if day is None or day < today_for(access):
        label = present.day_label(day) if day else "an unknown date"
        raise ToolFailure(
            f"Event {args.event_id} ({category or 'event'}) is on {label}, in the past for athlete "
            f"{access.athlete_id}: Threshold does not delete history."
        )
    if category not in EDITABLE:
        raise ToolFailure(f"Event {args.event_id} is a {category}; Threshold deletes workouts, notes and races only.")
    event = event_out(ev)
    name_tz = who(access)
    state = keep(ev)
    if args.dry_run or not confirmed(call, access, args, state):
        code = issue(call, access, args, state)
        text = f"Preview for {name_tz}, nothing deleted: would delete {event_line(event)} (event {args.event_id})."
        notes = [n for n in [confirm_note(args, code)] if n]
        return event_result(access, "preview", event, text=text, notes=notes, confirm=code)
    await client.request("DELETE", f"/api/v1/athlete/{access.athlete_id}/events/{args.event_id}")
    write = WriteRecord(kind="event.delete", target=str(args.event_id), before=keep(ev), after=None)
    text = f"Deleted from {calendar_of(access)}: {event_line(event)} (event {args.event_id}).{UNDO_HINT}"
    return event_result(access, "deleted", event, text=text, write=write)


register(
    ToolSpec(
        name="push_workout",
        title="Push workout",
        description=(
            "Plan a workout from typed steps; returns its Intervals.icu text, duration, load, intensity and the "
            "projected fitness/fatigue/form that day. Strength: description only. Retry-safe."
        ),
        input_model=PushWorkoutInput,
        output_model=EventWriteOutput,
        handler=push_workout,
        scope="CALENDAR:WRITE",
        read_only=False,
        group="write",
    )
)

register(
    ToolSpec(
        name="schedule_library_workout",
        title="Schedule library workout",
        description="Plan a workout from the athlete's library on a date; returns load and projected form.",
        input_model=ScheduleLibraryInput,
        output_model=EventWriteOutput,
        handler=schedule_library_workout,
        scope="CALENDAR:WRITE",
        read_only=False,
        group="write",
    )
)

register(
    ToolSpec(
        name="edit_workout",
        title="Edit workout",
        description=(
            "Change a planned workout, note or race by event id (date, time, sport, name, steps, description); "
            "recomputes load and projected form."
        ),
        input_model=EditWorkoutInput,
        output_model=EventEditOutput,
        handler=edit_workout,
        scope="CALENDAR:WRITE",
        read_only=False,
        destructive=True,  # it overwrites the event: preview, then the call with its confirm code
        idempotent=True,
        group="write",
    )
)

register(
    ToolSpec(
        name="delete_workout",
        title="Delete workout",
        description="Delete an upcoming workout, note or race; undoable.",
        input_model=DeleteWorkoutInput,
        output_model=EventDeleteOutput,
        handler=delete_workout,
        scope="CALENDAR:WRITE",
        read_only=False,
        destructive=True,
        idempotent=True,
        group="write",
    )
)
