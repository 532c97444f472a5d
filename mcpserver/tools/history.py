"""get_training_history: completed activities in a date window, one compact row each."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from pydantic import BaseModel, Field

from integrations.intervals.schemas import Activity
from integrations.intervals.workouts import format_pace, speed_to_pace
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
NO_DISTANCE = "no distance recorded"
NO_LOAD = "no load recorded"

# Sport families: asking for the family's name (or a word for it) matches every Intervals.icu type in it.
# A type asked by its own name matches that type alone ("VirtualRide": only virtual rides).
SPORT_FAMILIES: dict[str, tuple[str, ...]] = {
    "Ride": (
        "Ride",
        "VirtualRide",
        "GravelRide",
        "MountainBikeRide",
        "TrackRide",
        "Cyclocross",
        "EBikeRide",
        "EMountainBikeRide",
        "Velomobile",
        "Handcycle",
    ),
    "Run": ("Run", "VirtualRun", "TrailRun"),
    "Swim": ("Swim", "OpenWaterSwim"),
    "Rowing": ("Rowing", "VirtualRow"),
    "NordicSki": ("NordicSki", "BackcountrySki", "RollerSki", "VirtualSki"),
    "Walk": ("Walk", "Hike"),
    "WeightTraining": ("WeightTraining",),
}
SPORT_WORDS = {
    "cycling": "Ride",
    "bike": "Ride",
    "biking": "Ride",
    "riding": "Ride",
    "running": "Run",
    "swimming": "Swim",
    "rowing": "Rowing",
    "skiing": "NordicSki",
    "walking": "Walk",
    "hiking": "Walk",
    "strength": "WeightTraining",
    "gym": "WeightTraining",
    "weights": "WeightTraining",
}
# Every activity type Intervals.icu knows (its SportSettings.types enum), for exact matches.
SPORT_TYPES = (
    "Ride Run Swim WeightTraining Hike Walk AlpineSki BackcountrySki Badminton Canoeing Crossfit EBikeRide "
    "EMountainBikeRide Elliptical Golf GravelRide TrackRide Handcycle HighIntensityIntervalTraining Hockey IceSkate "
    "InlineSkate Kayaking Kitesurf MountainBikeRide Cyclocross NordicSki OpenWaterSwim Padel Pilates Pickleball "
    "Racquetball Rugby RockClimbing RollerSki Rowing Sail Skateboard Snowboard Snowshoe Soccer Squash StairStepper "
    "StandUpPaddling Surfing TableTennis Tennis TrailRun Transition Velomobile VirtualRide VirtualRow VirtualRun "
    "VirtualSki WaterSport Wheelchair Windsurf Workout Yoga Other"
).split()


class HistoryInput(DateWindowInput):
    sport: ShortText | None = Field(default=None, description="Sport or family: Ride, Run, Swim, cycling…")
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
    pace: str | None = None
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
    sport_filter: str | None = None
    totals: dict[str, float | int | str]
    activities: list[HistoryRow]
    units: dict[str, str]


UNITS = {
    "duration": "moving time h:mm:ss",
    "distance_km": "kilometres",
    "pace": "average moving pace, min:s per km (runs, walks) or per 100 m (swims)",
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


def resolve_sport(asked: str) -> tuple[str, tuple[str, ...]]:
    """(what the filter means, the types it matches) for a sport as asked; refuses an unknown one."""
    wanted = asked.strip().lower()
    family = SPORT_WORDS.get(wanted) or next((f for f in SPORT_FAMILIES if f.lower() == wanted), None)
    if family is not None:
        return f"{family} family", SPORT_FAMILIES[family]
    exact = next((t for t in SPORT_TYPES if t.lower() == wanted), None)
    if exact is not None:
        return exact, (exact,)
    known = "; ".join(f"{f} ({', '.join(types)})" for f, types in SPORT_FAMILIES.items())
    words = ", ".join(SPORT_WORDS)
    raise ToolFailure(
        f"Unknown sport '{asked.strip()[:40]}'. Families: {known}. Words: {words}. Or any Intervals.icu type, "
        "e.g. Yoga, Pilates, Crossfit, Kayaking, AlpineSki, Other."
    )


def family_of(sport: str | None) -> str:
    """The family a type belongs to ("VirtualRide" -> "Ride"), or the type itself."""
    return next((f for f, types in SPORT_FAMILIES.items() if sport in types), sport or "Other")


def activity_pace(activity: Activity) -> str | None:
    """Moving pace of a run, walk or swim (per km, per 100 m for swims); None for other sports or no speed."""
    sport = activity.type or ""
    if not any(w in sport for w in ("Run", "Swim", "Walk", "Hike")):
        return None
    speed = activity.average_speed
    if not speed and activity.distance and activity.moving_time:
        speed = activity.distance / activity.moving_time
    if not speed or speed <= 0:
        return None
    unit = "/100m" if "Swim" in sport else "/km"
    return format_pace(speed_to_pace(speed, unit), unit)


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
    pace = activity_pace(activity)
    if pace:
        row["pace"] = pace
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
    sport_filter = None
    if args.sport:
        meaning, types = resolve_sport(args.sport)
        activities = [a for a in activities if a.is_strava_stub or a.type in types]
        matched: dict[str, int] = {}
        for a in activities:
            if a.type:
                matched[a.type] = matched.get(a.type, 0) + 1
        found = ", ".join(f"{t} {n}" for t, n in sorted(matched.items())) or "none"
        sport_filter = f"{meaning}; matched: {found}"  # the family's members are in the refusal of an unknown sport
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
    }
    # Absent means unknown, never zero: when no activity recorded a distance (or a load), say so.
    distances = [a.distance for a in real if a.distance]
    loads = [a.icu_training_load for a in real if a.icu_training_load is not None]
    totals["distance_km"] = round(sum(distances) / 1000, 1) if distances else NO_DISTANCE
    totals["load"] = round(sum(loads)) if loads or not real else NO_LOAD
    if stubs:
        totals["strava_unavailable"] = stubs
    data = {
        "athlete": access.echo(),
        "start": present.day_label(start),
        "end": present.day_label(end),
        "count": len(rows),
        **({"sport_filter": sport_filter} if sport_filter else {}),
        "totals": totals,
        "activities": rows,
        "units": UNITS,
    }
    distance = f"{totals['distance_km']} km" if distances else NO_DISTANCE
    load_text = f"load {totals['load']}" if loads or not real else NO_LOAD
    text = (
        f"{present.fence(access.name)} ({access.timezone or 'UTC'}): {len(rows)} activities "
        f"{present.day_label(start)} to {present.day_label(end)}; {totals['moving_time']} moving, {distance}, "
        f"{load_text}."
    )
    if sport_filter:
        text += f" Sport: {sport_filter}."
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
