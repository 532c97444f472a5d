"""get_training_history: completed activities in a date window, one compact row each."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from pydantic import BaseModel, Field

from integrations.intervals.schemas import Activity
from mcpserver import present
from mcpserver.bounds import ShortText
from mcpserver.catalogue import (
    AthleteEcho,
    DateWindowInput,
    ToolCall,
    ToolFailure,
    ToolResult,
    ToolSpec,
    Untrusted,
    register,
)
from mcpserver.principal import AthleteAccess

DEFAULT_DAYS = 28
STRAVA_NOTE = "Imported from Strava: Intervals.icu may not share Strava data through its API, so no details (not zero)."


class HistoryInput(DateWindowInput):
    sport: ShortText | None = Field(default=None, description="e.g. Ride, Run, Swim")
    name: ShortText | None = Field(default=None, description="Name contains")


class HistoryRow(BaseModel):
    id: str
    date: str
    time: str | None = None
    sport: str | None = None
    name: Untrusted | None = None
    duration: str | None = None
    distance_km: float | None = None
    climb_m: int | None = None
    load: int | None = None
    intensity_pct: int | None = None
    avg_hr_bpm: int | None = None
    avg_power_w: int | None = None
    norm_power_w: int | None = None
    rpe: int | None = None
    feel: int | None = None
    race: bool | None = None
    unavailable: str | None = None


class HistoryOutput(BaseModel):
    athlete: AthleteEcho
    start: str
    end: str
    count: int
    totals: dict[str, float | int | str]
    activities: list[HistoryRow]
    units: dict[str, str]


UNITS = {
    "duration": "moving time h:mm:ss",
    "distance_km": "kilometres",
    "load": "Intervals.icu training load (1 h at threshold = 100)",
    "intensity_pct": "% of threshold (IF x 100)",
    "rpe": "1-10",
    "feel": "1-5, 1 = strong, 5 = weak",
}


def resolve_window(
    access: AthleteAccess, start: date | None, end: date | None, *, default_days: int
) -> tuple[date, date]:
    """Fill defaults in the athlete's calendar and enforce the cap with a clear message."""
    today = present.local_today(access.timezone)
    end = end or (today if start is None else min(today, start + timedelta(days=default_days - 1)))
    start = start or end - timedelta(days=default_days - 1)
    if start > end:
        raise ToolFailure(f"start ({start}) is after end ({end}).")
    span = (end - start).days + 1
    cap = settings.MCP_HISTORY_MAX_DAYS
    if span > cap:
        raise ToolFailure(f"That window is {span} days; the maximum is {cap}. Ask for a shorter range or split it.")
    return start, end


# Row key -> Activity attribute, for the whole numbers of a history row.
_ROUNDED = (
    ("climb_m", "total_elevation_gain"),
    ("load", "icu_training_load"),
    ("intensity_pct", "icu_intensity"),
    ("avg_hr_bpm", "average_heartrate"),
    ("avg_power_w", "icu_average_watts"),
    ("norm_power_w", "icu_weighted_avg_watts"),
)


def history_row(activity: Activity) -> dict[str, object]:
    local = present.parse_local(activity.start_date_local)
    day = present.day_label(local.date()) if local else (activity.start_date_local or "")
    if activity.is_strava_stub:
        return {"id": activity.id, "date": day, "unavailable": STRAVA_NOTE}
    row: dict[str, object] = {"id": activity.id, "date": day}
    # Built flat, absent values skipped as they come (absent means unknown, never zero): this runs once
    # per activity on the hottest read path, so no second pass through present.compact.
    if local:
        row["time"] = f"{local.hour:02d}:{local.minute:02d}"
    if activity.type is not None:
        row["sport"] = activity.type
    if activity.name:
        row["name"] = {present.UNTRUSTED: activity.name}
    if activity.moving_time is not None:
        row["duration"] = present.hms(activity.moving_time)
    if activity.distance:
        row["distance_km"] = present.km(activity.distance)
    for key, attr in _ROUNDED:
        value = getattr(activity, attr)
        if value is not None:
            row[key] = round(value)
    if activity.icu_rpe is not None:
        row["rpe"] = activity.icu_rpe
    if activity.feel is not None:
        row["feel"] = activity.feel
    if activity.race:
        row["race"] = True
    return row


async def get_training_history(call: ToolCall, args: HistoryInput) -> ToolResult:
    access = call.athlete(args.athlete)
    start, end = resolve_window(access, args.start, args.end, default_days=DEFAULT_DAYS)
    activities = await access.client().list_activities(
        access.athlete_id, start.isoformat(), f"{end.isoformat()}T23:59:59"
    )
    if args.sport:
        wanted = args.sport.lower()
        activities = [a for a in activities if a.is_strava_stub or (a.type or "").lower() == wanted]
    if args.name:
        needle = args.name.lower()
        activities = [a for a in activities if needle in (a.name or "").lower()]
    activities.sort(key=lambda a: a.start_date_local or "")
    rows = [history_row(a) for a in activities]
    real = [a for a in activities if not a.is_strava_stub]
    stubs = len(activities) - len(real)
    seconds = sum(a.moving_time or 0 for a in real)
    totals: dict[str, float | int | str] = {
        "activities": len(activities),
        "moving_time": present.hms(seconds) or "0:00",
        "distance_km": round(sum(a.distance or 0 for a in real) / 1000, 1),
        "load": round(sum(a.icu_training_load or 0 for a in real)),
    }
    if stubs:
        totals["strava_unavailable"] = stubs
    data = {
        "athlete": access.echo(),
        "start": present.day_label(start),
        "end": present.day_label(end),
        "count": len(rows),
        "totals": totals,
        "activities": rows,
        "units": UNITS,
    }
    text = (
        f"{present.fence(access.name)} ({access.timezone or 'UTC'}): {len(rows)} activities "
        f"{present.day_label(start)} to {present.day_label(end)}; {totals['moving_time']} moving, "
        f"{totals['distance_km']} km, load {totals['load']}."
    )
    if stubs:
        text += f" {stubs} imported from Strava cannot be read through the Intervals.icu API (no details, not zero)."
    return ToolResult(data=data, text=text)


register(
    ToolSpec(
        name="get_training_history",
        title="Training history",
        description=(
            "Completed activities (default last 28 days, max 1 year): date, sport, name, duration, distance, "
            "load, intensity, HR, power."
        ),
        input_model=HistoryInput,
        output_model=HistoryOutput,
        handler=get_training_history,
        scope="ACTIVITY:READ",
    )
)
