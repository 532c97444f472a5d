"""get_events: the calendar (planned workouts with readable steps, races, notes) in a date window.

Also home of the workout-step rendering shared with the library: Intervals workout text is parsed
with `workouts.parse_workout` and written back as one short line with every relative target resolved
to absolute watts / bpm / pace using the athlete's thresholds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel

from integrations.intervals import errors
from integrations.intervals.client import IntervalsClient
from integrations.intervals.schemas import Activity, Event, SportSettings
from integrations.intervals.workouts import (
    DEFAULT_POWER_ZONES,
    OPEN_ZONE_BOUND,
    Repeat,
    Section,
    Step,
    Target,
    Thresholds,
    format_duration,
    format_pace,
    parse_workout,
    pct_watts,
    power_zone_pct,
    speed_to_pace,
)
from mcpserver import present
from mcpserver.catalogue import AthleteEcho, DateWindowInput, ToolCall, ToolResult, ToolSpec, Untrusted, register
from mcpserver.principal import AthleteAccess
from mcpserver.tools import coach_common as cc
from mcpserver.tools.activity import pace_unit, tidy, window
from mcpserver.tools.history import resolve_window
from mcpserver.tools.profile import PACE_UNITS

DEFAULT_DAYS = 14
MAX_STEPS_CHARS = 600
CATEGORIES = {
    "workouts": ["WORKOUT"],
    "races": ["RACE_A", "RACE_B", "RACE_C"],
    "notes": ["NOTE"],
}
CATEGORY_LABELS = {"WORKOUT": "workout", "RACE_A": "A race", "RACE_B": "B race", "RACE_C": "C race", "NOTE": "note"}


# --- workout rendering --------------------------------------------------------------------------------


class Rendering:
    """Thresholds of one sport plus its pace unit: everything needed to resolve targets."""

    def __init__(self, t: Thresholds, unit: str) -> None:
        self.t = t
        self.unit = unit

    @classmethod
    def for_sport(cls, settings: Sequence[SportSettings], sport: str | None, doc: dict[str, Any] | None) -> Rendering:
        s = next((s for s in settings if sport and sport in s.types), None)
        if s is not None:
            t = Thresholds(
                ftp=s.ftp,
                lthr=s.lthr,
                max_hr=s.max_hr,
                threshold_pace=s.threshold_pace,
                power_zones=tuple(s.power_zones or ()),
                hr_zones=tuple(s.hr_zones or ()),
                pace_zones=tuple(s.pace_zones or ()),
            )
            return cls(t, PACE_UNITS.get(s.pace_units or "", pace_unit(sport)))
        doc = doc or {}
        t = Thresholds(ftp=doc.get("ftp"), lthr=doc.get("lthr"), threshold_pace=doc.get("threshold_pace"))
        return cls(t, pace_unit(sport))

    def pace(self, speed: float) -> str:
        return format_pace(speed_to_pace(speed, self.unit), self.unit) if speed > 0 else "?"


def _n(x: float) -> str:
    return f"{round(x, 1):g}"


def _span(low: float, high: float, ramp: bool, fmt: str = "{}") -> str:
    if low == high:
        return fmt.format(_n(low))
    return fmt.format(f"{_n(low)}{'→' if ramp else '-'}{_n(high)}")


def _zone_bounds(bounds: Sequence[float], zone: float) -> tuple[float, float | None] | None:
    n = int(zone)
    if n < 1 or n > len(bounds):
        return None
    upper = bounds[n - 1]
    return (bounds[n - 2] if n > 1 else 0.0), (None if upper >= OPEN_ZONE_BOUND else upper)


def _zones_text(bounds: Sequence[float], target: Target, scale: float, unit: str) -> str:
    lo, hi = _zone_bounds(bounds, target.low), _zone_bounds(bounds, target.high)
    if lo is None or hi is None:
        return ""
    top = hi[1]
    if top is None:
        return f" ({round(lo[0] * scale)}+ {unit})"
    return f" ({round(lo[0] * scale)}-{round(top * scale)} {unit})"


def _power(target: Target, r: Rendering, ramp: bool) -> str:
    ftp = r.t.ftp
    if target.kind == "%ftp":
        watts = f" ({_span(pct_watts(target.low, ftp), pct_watts(target.high, ftp), ramp, '{} W')})" if ftp else ""
        return _span(target.low, target.high, ramp, "{}% FTP") + watts
    if target.kind == "w":
        return _span(target.low, target.high, ramp, "{} W")
    zones = _span(target.low, target.high, ramp, "Z{}")
    bounds = r.t.power_zones or DEFAULT_POWER_ZONES
    lo, hi = power_zone_pct(bounds, int(target.low)), power_zone_pct(bounds, int(target.high))
    if not ftp or lo is None or hi is None:
        return zones
    # As Intervals resolves the step's `_power`: "Z3" at FTP 231 is 76-90 % = 176-208 W.
    top = hi[1]
    return zones + (
        f" ({pct_watts(lo[0], ftp)}+ W)" if top is None else f" ({pct_watts(lo[0], ftp)}-{pct_watts(top, ftp)} W)"
    )


def _hr(target: Target, r: Rendering, ramp: bool) -> str:
    lthr, max_hr = r.t.lthr, r.t.max_hr
    if target.kind == "%lthr":
        bpm = (
            f" ({_span(round(target.low * lthr / 100), round(target.high * lthr / 100), ramp, '{} bpm')})"
            if lthr
            else ""
        )
        return _span(target.low, target.high, ramp, "{}% LTHR") + bpm
    if target.kind == "%hr":
        bpm = (
            f" ({_span(round(target.low * max_hr / 100), round(target.high * max_hr / 100), ramp, '{} bpm')})"
            if max_hr
            else ""
        )
        return _span(target.low, target.high, ramp, "{}% max HR") + bpm
    if target.kind == "bpm":
        return _span(target.low, target.high, ramp, "{} bpm")
    return _span(target.low, target.high, ramp, "Z{} HR") + _zones_text(r.t.hr_zones, target, 1, "bpm")


def _pace(target: Target, r: Rendering, ramp: bool) -> str:
    tp = r.t.threshold_pace
    if target.kind == "pace":
        unit = target.unit or r.unit
        low, high = format_pace(target.low, unit), format_pace(target.high, unit)
        return low if low == high else f"{low}{'→' if ramp else '-'}{high}"
    if target.kind == "%pace":
        paces = ""
        if tp:
            lo, hi = r.pace(tp * target.low / 100), r.pace(tp * target.high / 100)
            paces = f" ({lo})" if lo == hi else f" ({lo}{'→' if ramp else '-'}{hi})"
        return _span(target.low, target.high, ramp, "{}% pace") + paces
    text = _span(target.low, target.high, ramp, "Z{} pace")
    zlo, zhi = _zone_bounds(r.t.pace_zones, target.low), _zone_bounds(r.t.pace_zones, target.high)
    if tp and zlo and zhi:
        slow = r.pace(tp * zlo[0] / 100) if zlo[0] else "easy"
        fast = r.pace(tp * zhi[1] / 100) if zhi[1] else "max"
        text += f" ({slow} to {fast})"
    return text


def _distance(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def describe_step(step: Step, r: Rendering) -> str:
    parts: list[str] = []
    if step.text and len(step.text) <= 30:
        parts.append(f'"{step.text}"')
    if step.duration_s is not None:
        parts.append(format_duration(step.duration_s))
    if step.distance_m is not None:
        parts.append(_distance(step.distance_m))
    if step.ramp:
        parts.append("ramp")
    if step.power is not None:
        parts.append(_power(step.power, r, step.ramp))
    if step.hr is not None:
        parts.append(_hr(step.hr, r, step.ramp))
    if step.pace is not None:
        parts.append(_pace(step.pace, r, step.ramp))
    if step.cadence is not None:
        low, high = step.cadence
        parts.append(f"{low} rpm" if low == high else f"{low}-{high} rpm")
    if step.freeride:
        parts.append("freeride")
    if step.until_lap_press:
        parts.append("until lap press")
    return " ".join(parts)


def _describe_items(items: Sequence[Step | Repeat], r: Rendering) -> list[str]:
    out = []
    for item in items:
        if isinstance(item, Repeat):
            title = f"{item.title} " if item.title else ""
            out.append(f"{title}{item.count}x[" + ", ".join(describe_step(s, r) for s in item.steps) + "]")
        else:
            out.append(describe_step(item, r))
    return out


def describe_workout(text: str | None, r: Rendering) -> str | None:
    """'Warmup 10m ramp 50→75% FTP (132→199 W); Main Set 4x[4m 106-120% FTP (281-318 W), 4m 50% FTP (132 W)]'."""
    if not text or not text.strip():
        return None
    parts: list[str] = []
    loose: list[Step | Repeat] = []
    for item in parse_workout(text).items:
        if isinstance(item, Section):
            if loose:
                parts += _describe_items(loose, r)
                loose = []
            parts.append(f"{item.title} " + ", ".join(_describe_items(item.items, r)))
        else:
            loose.append(item)
    parts += _describe_items(loose, r)
    line = "; ".join(p for p in parts if p.strip())
    if len(line) > MAX_STEPS_CHARS:
        line = line[: MAX_STEPS_CHARS - 1] + "…"
    return line or None


async def sport_settings(client: IntervalsClient, access: AthleteAccess) -> list[SportSettings]:
    """The athlete's thresholds when SETTINGS:READ was granted; otherwise the workouts' own (ftp/lthr) are used."""
    if not access.allows_scope("SETTINGS:READ"):
        return []
    try:
        return await client.list_sport_settings(access.athlete_id)
    except (errors.UpstreamForbidden, errors.UpstreamNotFound):
        return []


# --- the tool ------------------------------------------------------------------------------------------


class EventsInput(DateWindowInput):
    category: Literal["all", "workouts", "races", "notes"] = "all"


class EventRow(BaseModel):
    id: int
    date: str
    time: str | None = None
    category: str
    status: str | None = None
    sport: str | None = None
    name: Untrusted | None = None
    duration: str | None = None
    distance_km: float | None = None
    load: int | None = None
    intensity_pct: int | None = None
    indoor: bool | None = None
    steps: Untrusted | None = None  # resolved by Threshold, but titles and cues are the workout author's words
    note: Untrusted | None = None


class EventsOutput(BaseModel):
    athlete: AthleteEcho
    window: str
    planned_load: int | None = None
    events: list[EventRow] = []
    units: dict[str, str]


UNITS = {
    "time": "planned local start time (none: any time of the day)",
    "status": (
        "planned workouts and races: done (the activity paired to it), missed (past, nothing paired), "
        "maybe done (a Strava import that day, unreadable through the API); none: today or ahead"
    ),
    "duration": "planned moving time h:mm:ss",
    "load": "planned training load (1 h at threshold = 100)",
    "intensity_pct": "% of threshold",
    "steps": "targets resolved with the athlete's current thresholds; m = minutes",
}


def _prose(text: str | None) -> str | None:
    """The free text of an event (for workouts: the lines before the first step, without the title of the
    section that step opens: "Zone 2, steady.\n\nWarmup\n- 10m …" is "Zone 2, steady.")."""
    if not text:
        return None
    lines: list[str] = []
    for line in text.strip().splitlines():
        if line.lstrip().startswith("-"):
            if lines and lines[-1]:
                lines.pop()  # the line right above the first step is its section's title, not prose
            break
        lines.append(line.strip())
    prose = " ".join(x for x in lines if x)
    return prose[:200] or None


PLANNED = ("WORKOUT", "RACE_A", "RACE_B", "RACE_C")


def _status(e: Event, day: Any, today: Any, paired: dict[int, str], strava_days: set[Any] | None) -> dict[str, Any]:
    """Done / missed for a planned workout or race (None = status unknown: activities not readable)."""
    if e.category not in PLANNED or day is None:
        return {}
    extra = e.model_extra or {}
    activity = paired.get(e.id) or (str(extra["paired_activity_id"]) if extra.get("paired_activity_id") else None)
    if activity:
        return {"status": f"done {activity}"}
    if strava_days is None or day >= today:
        return {}
    return {"status": "maybe done (Strava import that day)" if day in strava_days else "missed"}


def event_row(
    e: Event,
    settings: Sequence[SportSettings],
    today: Any = None,
    paired: dict[int, str] | None = None,
    strava_days: set[Any] | None = None,
) -> dict[str, Any]:
    d = present.parse_local(e.start_date_local)
    workout = e.category == "WORKOUT"
    steps = describe_workout(e.description, Rendering.for_sport(settings, e.type, e.workout_doc)) if workout else None
    prose = _prose(e.description) if workout else (e.description or "")[:300] or None
    if workout and prose and steps and steps.startswith(prose):
        prose = None
    status = _status(e, d.date() if d else None, today, paired or {}, strava_days) if today else {}
    return tidy(
        {
            "id": e.id,
            "date": present.day_label(d.date()) if d else (e.start_date_local or ""),
            # Intervals.icu dates an event with no start time at local midnight.
            "time": f"{d:%H:%M}" if d and (d.hour or d.minute) else None,
            "category": CATEGORY_LABELS.get(e.category or "", (e.category or "event").lower()),
            **status,
            "sport": e.type,
            "name": present.untrusted(e.name),
            "duration": present.hms(e.moving_time) if e.moving_time else None,
            "distance_km": present.km(e.distance) if e.distance else None,
            "load": present.rnd(e.icu_training_load),
            "intensity_pct": present.rnd(e.icu_intensity),
            "indoor": True if workout and e.indoor else None,
            "steps": present.untrusted(steps),
            "note": present.untrusted(prose),
        }
    )


async def get_events(call: ToolCall, args: EventsInput) -> ToolResult:
    access = call.athlete(args.athlete)
    today = present.local_today(access.timezone)
    start = args.start or today
    end = args.end or start + timedelta(days=DEFAULT_DAYS - 1)
    start, end = resolve_window(access, start, end, default_days=DEFAULT_DAYS)
    client = access.client()
    # Done or missed needs the activities paired to past plans: read only where the grant allows them.
    with_status = start <= today and args.category != "notes" and cc.can_activities(access)
    events, settings, activities = await asyncio.gather(
        client.list_events(access.athlete_id, start.isoformat(), end.isoformat(), CATEGORIES.get(args.category)),
        sport_settings(client, access),
        _activities(client, access, start, min(end, today)) if with_status else _nothing(),
    )
    events.sort(key=lambda e: (e.start_date_local or "", e.id))
    paired = {a.paired_event_id: a.id for a in activities if a.paired_event_id is not None}
    strava_days = {d for a in activities if a.is_strava_stub and (d := cc.local_day(a.start_date_local))}
    rows = [event_row(e, settings, today, paired, strava_days if with_status else None) for e in events]
    planned = sum(e.icu_training_load or 0 for e in events if e.category == "WORKOUT")
    data = {
        "athlete": access.echo(),
        "window": window(start, end),
        "planned_load": round(planned) if planned else None,
        "events": rows,
        "units": UNITS,
    }
    past_plans = any(e.category in PLANNED and (cc.local_day(e.start_date_local) or today) < today for e in events)
    if past_plans and not with_status:  # said where the legend of status is
        data["units"] = {**UNITS, "status": "none given: activities are not readable with this access"}
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["category"]] = kinds.get(r["category"], 0) + 1
    summary = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in kinds.items()) or "nothing planned"
    text = f"{present.fence(access.name)} calendar {data['window']}: {summary}"
    text += f"; planned load {round(planned)}." if planned else "."
    return ToolResult(data=tidy(data), text=text)


async def _activities(client: IntervalsClient, access: AthleteAccess, start: Any, end: Any) -> list[Activity]:
    return await client.list_activities(access.athlete_id, start.isoformat(), f"{end.isoformat()}T23:59:59")


async def _nothing() -> list[Activity]:
    return []


register(
    ToolSpec(
        name="get_events",
        title="Calendar",
        description="Planned workouts (steps in watts/bpm/pace), races, notes; default: next 14 days.",
        input_model=EventsInput,
        output_model=EventsOutput,
        handler=get_events,
        scope="CALENDAR:READ",
    )
)
