"""Shared pieces of the write tools: sports and thresholds, calendar events, idempotency keys, the
fitness projection, past-date guards and the compact presenters. No tool is registered here.

Every upstream call goes through `IntervalsClient.request` (the seam). Events are always verified to
belong to the resolved athlete before they are changed, and that read is also the pre-image kept in
the access log for undo.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from coaching.actions import WriteRecord
from integrations.intervals import errors, load
from integrations.intervals.client import IntervalsClient
from integrations.intervals.workouts import Thresholds, Workout, parse_workout, workout_metrics
from mcpserver import present
from mcpserver.bounds import PROJECTION_DAYS
from mcpserver.catalogue import AthleteEcho, AthleteInput, ToolFailure, ToolResult, Untrusted
from mcpserver.principal import AthleteAccess
from mcpserver.workout_input import lean_schema

# Intervals.icu activity types a planned session may have besides those in the athlete's sport settings
# (those without settings use the athlete's "Other" settings).
STANDARD_SPORTS = (
    "Ride",
    "VirtualRide",
    "GravelRide",
    "MountainBikeRide",
    "EBikeRide",
    "Run",
    "VirtualRun",
    "TrailRun",
    "Swim",
    "OpenWaterSwim",
    "WeightTraining",
    "Workout",
    "Walk",
    "Hike",
    "Rowing",
    "VirtualRow",
    "NordicSki",
    "BackcountrySki",
    "AlpineSki",
    "Yoga",
    "Pilates",
    "Elliptical",
    "StairStepper",
    "Canoeing",
    "Kayaking",
    "RockClimbing",
    "InlineSkate",
    "IceSkate",
    "Other",
)
SPORT_ALIASES = {
    "cycling": "Ride",
    "bike": "Ride",
    "road": "Ride",
    "indoor ride": "VirtualRide",
    "zwift": "VirtualRide",
    "running": "Run",
    "treadmill": "VirtualRun",
    "swimming": "Swim",
    "strength": "WeightTraining",
    "gym": "WeightTraining",
    "weights": "WeightTraining",
    "row": "Rowing",
}
LOAD_CATEGORIES = ("WORKOUT", "RACE_A", "RACE_B", "RACE_C")
EXTERNAL_PREFIX = "thr-"
UNDO_HINT = " Undo with undo_last_write."

# What of an event we keep (pre-/post-images) and show; never the workout_doc or upstream internals.
EVENT_KEEP = (
    "id",
    "category",
    "type",
    "name",
    "description",
    "start_date_local",
    "end_date_local",
    "indoor",
    "color",
    "tags",
    "external_id",
    "moving_time",
    "distance",
    "icu_training_load",
    "icu_intensity",
    "carbs_per_hour",
    "show_as_note",
    "not_on_fitness_chart",
)
# What we send back to restore an event: everything kept but its id and what the server computes.
EVENT_RESTORE = tuple(
    f for f in EVENT_KEEP if f not in ("id", "moving_time", "distance", "icu_training_load", "icu_intensity")
)
EVENT_MANUAL = ("moving_time", "distance", "icu_training_load")


# ----------------------------------------------------------------------------------------------------
# Input base and output models (shared, compact)


class WriteInput(AthleteInput):
    """Base of the write tools' arguments: the same strictness, a leaner published schema."""

    model_config = ConfigDict(json_schema_extra=lean_schema)

    dry_run: bool = False  # described once, in the server instructions


class EventOut(BaseModel):
    id: int | None = None
    date: str
    time: str | None = None
    category: str
    sport: str | None = None
    name: Untrusted | None = None
    text: Untrusted | None = None
    duration: str | None = None
    distance_km: float | None = None
    load: int | None = None
    intensity_pct: int | None = None


class ProjectionOut(BaseModel):
    date: str
    fitness: int
    fatigue: int
    form: int
    form_zone: str
    form_without: int | None = None  # form that day without this change


class EventOnlyOutput(BaseModel):
    athlete: AthleteEcho
    status: str  # created, updated, unchanged, deleted or preview (nothing written)
    event: EventOut
    note: str | None = None


class EventDeleteOutput(EventOnlyOutput):
    confirm: str | None = None  # the code a tool that overwrites or deletes needs to do it (writes_confirm)


class EventWriteOutput(EventOnlyOutput):
    projection: ProjectionOut | None = None


class EventEditOutput(EventWriteOutput):
    before: EventOut | None = None
    confirm: str | None = None


# ----------------------------------------------------------------------------------------------------
# Dates


def today_for(access: AthleteAccess) -> date:
    return present.local_today(access.timezone)


def refuse_past(access: AthleteAccess, day: date, what: str) -> None:
    """Calendar writes go to today or later (athlete-local): history is not rewritten by accident."""
    today = today_for(access)
    if day < today:
        raise ToolFailure(
            f"{present.day_label(day)} is in the past for athlete {access.athlete_id} (today is "
            f"{present.day_label(today)} in {access.timezone or 'UTC'}). Threshold does not {what} in the past; "
            "pick today or a later date."
        )


def event_day(ev: dict[str, Any]) -> date | None:
    raw = ev.get("start_date_local")
    try:
        return date.fromisoformat(str(raw)[:10]) if raw else None
    except ValueError:
        return None


def start_local(day: date, time: str | None) -> str:
    return f"{day.isoformat()}T{time or '00:00'}:00"


# ----------------------------------------------------------------------------------------------------
# Sports and thresholds


@dataclass(frozen=True)
class SportChoice:
    sport: str
    thresholds: Thresholds
    dedicated: bool  # the athlete has sport settings for exactly this sport (not the "Other" fallback)


def _thresholds(s: dict[str, Any]) -> Thresholds:
    def num(key: str) -> float | None:
        v = s.get(key)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and v > 0 else None

    def bounds(key: str) -> tuple[float, ...]:
        v = s.get(key)
        return tuple(float(x) for x in v if isinstance(x, int | float)) if isinstance(v, list) else ()

    return Thresholds(
        ftp=num("ftp"),
        lthr=num("lthr"),
        max_hr=num("max_hr"),
        threshold_pace=num("threshold_pace"),
        power_zones=bounds("power_zones"),
        hr_zones=bounds("hr_zones"),
        pace_zones=bounds("pace_zones"),
    )


async def sport_settings(client: IntervalsClient, access: AthleteAccess) -> list[dict[str, Any]] | None:
    """The athlete's sportSettings, or None when the connection may not read settings."""
    try:
        athlete = await client.request("GET", f"/api/v1/athlete/{access.athlete_id}")
    except errors.UpstreamForbidden:
        return None
    settings = athlete.get("sportSettings") if isinstance(athlete, dict) else None
    return [s for s in settings if isinstance(s, dict)] if isinstance(settings, list) else []


def choose_sport(settings: list[dict[str, Any]] | None, wanted: str, access: AthleteAccess) -> SportChoice:
    """Match `wanted` to an Intervals sport type (case-insensitive, a few aliases) and its thresholds."""
    configured = [t for s in settings or [] for t in (s.get("types") or []) if isinstance(t, str)]
    known = {t.lower(): t for t in (*STANDARD_SPORTS, *configured)}
    key = " ".join(wanted.strip().split()).lower()
    sport = known.get(key) or known.get(SPORT_ALIASES.get(key, "").lower())
    if sport is None:
        own = ", ".join(dict.fromkeys(configured)) or "none"
        raise ToolFailure(
            f"'{wanted}' is not an Intervals.icu sport. The athlete's sports with settings: {own}. Other valid "
            "types include WeightTraining, Walk, Hike, Rowing, Yoga, NordicSki, Workout."
        )
    for s in settings or []:
        if sport in (s.get("types") or []):
            return SportChoice(sport, _thresholds(s), True)
    fallback = next((s for s in settings or [] if "Other" in (s.get("types") or []) or s.get("other")), None)
    return SportChoice(sport, _thresholds(fallback) if fallback else Thresholds(), False)


# ----------------------------------------------------------------------------------------------------
# Events


async def get_own_event(client: IntervalsClient, access: AthleteAccess, event_id: int) -> dict[str, Any]:
    """The event if it is on this athlete's calendar; else the one not-found message (never another's)."""
    missing = ToolFailure(f"No event {event_id} for athlete {access.athlete_id}.")
    try:
        ev = await client.request("GET", f"/api/v1/athlete/{access.athlete_id}/events/{event_id}")
    except (errors.UpstreamNotFound, errors.UpstreamForbidden, errors.UpstreamInvalid):
        raise missing from None
    if not isinstance(ev, dict) or str(ev.get("id")) != str(event_id):
        raise missing
    owner = ev.get("athlete_id")
    if owner is not None and str(owner).removeprefix("i") != access.athlete_id.removeprefix("i"):
        raise missing
    return ev


def keep(ev: dict[str, Any]) -> dict[str, Any]:
    """The allow-listed image of an event (what the access log keeps), plus whether it had structure."""
    image = {k: ev[k] for k in EVENT_KEEP if ev.get(k) is not None}
    if ev.get("workout_doc"):
        image["structured"] = True
    return image


def restore_body(image: dict[str, Any]) -> dict[str, Any]:
    """The request body that puts an event back as in `image`."""
    body = {k: image[k] for k in EVENT_RESTORE if k in image}
    if not image.get("structured"):
        body.update({k: image[k] for k in EVENT_MANUAL if k in image})
    return body


def external_id_for(athlete_id: str, day: date, name: str, text: str, category: str = "WORKOUT") -> str:
    """Deterministic idempotency key: the same write asked twice is the same event."""
    raw = "\x1f".join((athlete_id, day.isoformat(), category, name.strip(), text.strip()))
    return EXTERNAL_PREFIX + hashlib.sha256(raw.encode()).hexdigest()[:24]


async def events_between(
    client: IntervalsClient, access: AthleteAccess, oldest: date, newest: date, categories: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"oldest": oldest.isoformat(), "newest": newest.isoformat()}
    if categories:
        params["category"] = ",".join(categories)
    rows = await client.request("GET", f"/api/v1/athlete/{access.athlete_id}/events", params=params)
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


async def find_external(
    client: IntervalsClient, access: AthleteAccess, day: date, external_id: str, category: str
) -> dict[str, Any] | None:
    for ev in await events_between(client, access, day, day, (category,)):
        if ev.get("external_id") == external_id:
            return ev
    return None


async def upsert_event(
    client: IntervalsClient, access: AthleteAccess, body: dict[str, Any], *, upsert: bool = True
) -> dict[str, Any]:
    """Create (or, with `upsert`, update by external_id of this app) one event through the bulk endpoint."""
    rows = await client.request(
        "POST",
        f"/api/v1/athlete/{access.athlete_id}/events/bulk",
        params={"upsert": "true" if upsert else "false"},
        json=[body],
    )
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        raise errors.UpstreamUnavailable("bulk upsert answered without the event")
    return rows[0]


def same_event(ev: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether an existing event already says everything `body` would write."""
    for key, value in body.items():
        current = ev.get(key)
        if key == "start_date_local":
            if str(current or "")[:16] != str(value)[:16]:
                return False
        elif key == "description":
            if (current or "").strip() != (value or "").strip():
                return False
        elif current != value:
            return False
    return True


# ----------------------------------------------------------------------------------------------------
# Metrics and presentation


@dataclass(frozen=True)
class Planned:
    moving_time_s: int | None
    distance_m: float | None
    load: int | None
    intensity: float | None
    steps: int = 0  # steps Intervals.icu will read in the text (0: plain text, no structure)


def plan_metrics(workout: Workout | None, choice: SportChoice) -> Planned:
    """Duration, distance, load and intensity as Intervals computes them for a planned workout."""
    if workout is None or not workout.items:
        return Planned(None, None, None, None)
    m = workout_metrics(workout, choice.sport, choice.thresholds)
    return Planned(
        m.moving_time_s or None,
        m.distance_m,
        round(m.load) if m.load is not None else None,
        m.intensity,
        m.step_count,
    )


def metrics_of_text(text: str | None, choice: SportChoice) -> tuple[Workout | None, Planned]:
    if not text or not text.strip():
        return None, Planned(None, None, None, None)
    workout = parse_workout(text)
    return workout, plan_metrics(workout, choice)


def event_out(ev: dict[str, Any], planned: Planned | None = None) -> dict[str, Any]:
    """Compact event for the model; `planned` (our own computation) wins over upstream numbers."""
    day = event_day(ev)
    local = present.parse_local(ev.get("start_date_local"))
    time = local.strftime("%H:%M") if local and (local.hour or local.minute) else None
    moving = planned.moving_time_s if planned and planned.moving_time_s else ev.get("moving_time")
    distance = planned.distance_m if planned and planned.distance_m else ev.get("distance")
    load_value = planned.load if planned and planned.load is not None else ev.get("icu_training_load")
    intensity = planned.intensity if planned and planned.intensity is not None else ev.get("icu_intensity")
    return present.compact(  # type: ignore[return-value]
        {
            "id": ev.get("id"),
            "date": present.day_label(day) if day else str(ev.get("start_date_local") or ""),
            "time": time,
            "category": ev.get("category") or "",
            "sport": ev.get("type"),
            "name": present.untrusted(ev.get("name")),
            "text": present.untrusted(ev.get("description")),
            "duration": present.hms(moving) if moving else None,
            "distance_km": present.km(distance) if distance else None,
            "load": present.rnd(load_value),
            "intensity_pct": present.rnd(intensity),
        }
    )


def event_line(ev: dict[str, Any]) -> str:
    """'Ride "Threshold 3x12" on Tue 2026-11-24, 1:09:00, load 78, intensity 84%'."""
    name = (ev.get("name") or {}).get(present.UNTRUSTED)
    bits = [f"{ev.get('sport') or ev.get('category', '').title()} {present.fence(name)} on {ev['date']}"]
    if ev.get("time"):
        bits[0] += f" at {ev['time']}"
    if ev.get("duration"):
        bits.append(ev["duration"])
    if ev.get("distance_km"):
        bits.append(f"{ev['distance_km']} km")
    if ev.get("load") is not None:
        bits.append(f"load {ev['load']}")
    if ev.get("intensity_pct") is not None:
        bits.append(f"intensity {ev['intensity_pct']}%")
    return ", ".join(bits)


# ----------------------------------------------------------------------------------------------------
# Fitness projection (load-aware writes)

_K_CTL = 1.0 - math.exp(-1.0 / load.CTL_DAYS)
_K_ATL = 1.0 - math.exp(-1.0 / load.ATL_DAYS)


def _shift(row: load.DayFitness, extra: float) -> load.DayFitness:
    """The same day with `extra` load added (the model is linear in the day's load)."""
    ctl = row.ctl + extra * _K_CTL
    atl = row.atl + extra * _K_ATL
    return load.DayFitness(row.date, row.load + extra, ctl, atl, ctl - atl, row.ramp_rate + extra * _K_CTL)


def _run_to(base: load.DayFitness, loads: dict[date, float], day: date) -> load.DayFitness:
    if day <= base.date:
        return _shift(base, loads.get(base.date, 0.0)) if day == base.date else base
    return load.project(base, loads, day)[-1]


async def project_day(
    client: IntervalsClient,
    access: AthleteAccess,
    day: date,
    new_load: float | None,
    *,
    replacing: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Projected fitness/fatigue/form on `day` with this workout (and without it).

    Starts from the wellness CTL/ATL of the latest day up to today, then runs the fitness model through
    the planned events' loads up to `day`. `replacing` is the event this write replaces (an edit or a
    repeated push): its load is taken out first. None when the wellness data cannot be read.
    """
    today = today_for(access)
    if (day - today).days > PROJECTION_DAYS:
        return None  # the model below runs one step per day: never further than a projection may reach
    try:
        rows = await client.request(
            "GET",
            f"/api/v1/athlete/{access.athlete_id}/wellness",
            params={"oldest": (today - timedelta(days=14)).isoformat(), "newest": today.isoformat()},
        )
    except (errors.UpstreamForbidden, errors.UpstreamNotFound):
        return None
    anchor: load.DayFitness | None = None
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or row.get("ctl") is None or row.get("atl") is None:
            continue
        try:
            row_day = date.fromisoformat(str(row.get("id"))[:10])
        except ValueError:
            continue
        if row_day <= today and (anchor is None or row_day > anchor.date):
            ctl, atl = float(row["ctl"]), float(row["atl"])
            anchor = load.DayFitness(row_day, 0.0, ctl, atl, ctl - atl, float(row.get("rampRate") or 0.0))
    if anchor is None:
        return None
    replaced_id = replacing.get("id") if replacing else None
    old_load = float((replacing or {}).get("icu_training_load") or 0.0)
    old_day = event_day(replacing) if replacing else None
    if old_day == anchor.date and old_load:
        anchor = _shift(anchor, -old_load)  # the anchor day already counts the event being replaced
    loads: dict[date, float] = {}
    if day > anchor.date:
        for ev in await events_between(client, access, anchor.date + timedelta(days=1), day, LOAD_CATEGORIES):
            ev_day = event_day(ev)
            if ev_day is None or ev.get("id") == replaced_id:
                continue
            loads[ev_day] = loads.get(ev_day, 0.0) + float(ev.get("icu_training_load") or 0.0)
    without = _run_to(anchor, loads, day)
    with_it = dict(loads)
    with_it[day] = with_it.get(day, 0.0) + float(new_load or 0.0)
    result = _run_to(anchor, with_it, day)
    if day < anchor.date:
        return None
    return {
        "date": present.day_label(day),
        "fitness": round(result.ctl),
        "fatigue": round(result.atl),
        "form": round(result.form),
        "form_zone": load.FORM_ZONE_LABELS[load.form_zone(result.form, result.ctl)],
        "form_without": round(without.form),
    }


def projection_text(p: dict[str, Any] | None) -> str:
    if not p:
        return ""
    return (
        f" Projected {p['date']}: fitness {p['fitness']}, fatigue {p['fatigue']}, form {p['form']} "
        f"({p['form_zone']}; {p['form_without']} without it)."
    )


# ----------------------------------------------------------------------------------------------------
# Results


def who(access: AthleteAccess) -> str:
    return f"{present.fence(access.name, 40)} ({access.timezone or 'UTC'})"


def calendar_of(access: AthleteAccess) -> str:
    return f"{present.fence(access.name, 40)}'s calendar ({access.timezone or 'UTC'})"


def event_result(
    access: AthleteAccess,
    status: str,
    event: dict[str, Any],
    *,
    text: str,
    before: dict[str, Any] | None = None,
    projection: dict[str, Any] | None = None,
    notes: list[str] | None = None,
    write: WriteRecord | None = None,
    confirm: str | None = None,
) -> ToolResult:
    data = present.compact(
        {
            "athlete": access.echo(),
            "status": status,
            "event": event,
            "before": before,
            "projection": projection,
            "note": " ".join(notes or []) or None,
            "confirm": confirm,
        }
    )
    if notes:
        text += " " + " ".join(notes)
    return ToolResult(data=data, text=text, write=write, preview=status == "preview")  # type: ignore[arg-type]


async def commit_create(
    access: AthleteAccess,
    client: IntervalsClient,
    *,
    body: dict[str, Any],
    existing: dict[str, Any] | None,
    dry_run: bool,
    planned: Planned | None = None,
    projection: dict[str, Any] | None = None,
    notes: list[str] | None = None,
) -> ToolResult:
    """Preview, no-op (an event of the same request is already there), or create one event and journal it.

    Creating is additive only (these tools say destructiveHint: false): an event an earlier identical
    request created is never changed, even where it was edited since; edit_workout changes events.
    """
    notes = notes if notes is not None else []
    if existing is not None:
        event = event_out(existing, planned)
        same = same_event(existing, body)
        if not same:
            notes.append(
                f"Event {event['id']} from the same request is already on that day and differs from it (changed "
                "since, or another start time or sport): left as it is. Change it with edit_workout."
            )
        status = "preview" if dry_run else "unchanged"
        lead = "Preview, nothing would change:" if dry_run else "Already there, nothing changed:"
        text = (
            f"{lead} {event_line(event)} (event {event['id']}) on {calendar_of(access)}.{projection_text(projection)}"
        )
        return event_result(access, status, event, text=text, projection=projection, notes=notes)
    if dry_run:
        event = event_out({**body, "id": None}, planned)
        text = f"Preview for {who(access)}, nothing written: {event_line(event)}.{projection_text(projection)}"
        return event_result(access, "preview", event, text=text, projection=projection, notes=notes)
    # No upsert: an upsert by external_id would move back an event the athlete moved to another day.
    saved = await upsert_event(client, access, body, upsert=False)
    event = event_out(saved, planned)
    write = WriteRecord(kind="event.create", target=str(saved.get("id")), before=None, after=keep(saved))
    text = (
        f"Added to {calendar_of(access)}: {event_line(event)} (event {event['id']})."
        f"{projection_text(projection)}{UNDO_HINT}"
    )
    return event_result(access, "created", event, text=text, projection=projection, notes=notes, write=write)
