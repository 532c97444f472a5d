"""get_training_summary: weekly or monthly totals per sport, time in zones, and compliance with the plan."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from integrations.intervals.schemas import Activity, Event
from mcpserver import present
from mcpserver.catalogue import AthleteEcho, DateWindowInput, ToolCall, ToolResult, ToolSpec, register
from mcpserver.tools.activity import power_zone_seconds, tidy, window, zone_lines
from mcpserver.tools.history import family_of, resolve_window

PLANNED = ["WORKOUT", "RACE_A", "RACE_B", "RACE_C"]  # planned sessions: what done load counts too


class SummaryInput(DateWindowInput):
    period: Literal["week", "month"] = "week"


class SportTotals(BaseModel):
    sport: str
    sessions: int
    time: str
    distance_km: float | None = None
    load: int | None = None
    no_load: int | None = None


class Plan(BaseModel):
    planned: int
    done: int
    missed: int
    upcoming: int | None = None
    planned_load: int | None = None
    done_load: int | None = None
    planned_time: str | None = None
    done_time: str | None = None
    unplanned_sessions: int | None = None
    strava_day: int | None = None


class Period(BaseModel):
    period: str
    sessions: int
    time: str
    distance_km: float | None = None
    load: int | None = None
    no_load: int | None = None
    sports: list[SportTotals] | None = None
    power_zones: str | None = None
    hr_zones: str | None = None
    pace_zones: str | None = None
    plan: Plan | None = None
    strava_unavailable: int | None = None


class SummaryOutput(BaseModel):
    athlete: AthleteEcho
    window: str
    periods: list[Period] = []
    note: str | None = None
    units: dict[str, str]


UNITS = {
    "time": "moving time h:mm:ss",
    "load": "Intervals.icu training load (1 h at threshold = 100)",
    "no_load": "sessions with no training load recorded (left out of load, never counted as 0)",
    "plan": (
        "planned workouts and races vs activities paired to them; missed = past and not done; strava_day = "
        "on a day with a Strava import the API does not show (maybe done, not counted missed)"
    ),
    "zones": "time per zone per sport (zone systems differ by sport: never added across), zones with no time omitted",
}


def _default_start(period: str, end: date) -> date:
    if period == "month":
        first = end.replace(day=1)
        return (first - timedelta(days=1)).replace(day=1)  # this month and the previous one
    monday = end - timedelta(days=end.weekday())
    return monday - timedelta(weeks=3)  # this week and the three before


def _period_key(d: date, period: str) -> date:
    return d.replace(day=1) if period == "month" else d - timedelta(days=d.weekday())


def _period_label(key: date, period: str, start: date, end: date) -> str:
    if period == "month":
        last = (key.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    else:
        last = key + timedelta(days=6)
    lo, hi = max(key, start), min(last, end)
    return f"{present.day_label(lo)} to {present.day_label(hi)}"


def _local_day(value: str | None) -> date | None:
    parsed = present.parse_local(value)
    return parsed.date() if parsed else None


def _sum_zones(rows: Sequence[Sequence[int]]) -> list[int]:
    width = max((len(r) for r in rows), default=0)
    return [sum(r[i] for r in rows if i < len(r)) for i in range(width)]


def _zones(acts: list[Activity], seconds: Callable[[Activity], Sequence[int]]) -> str | None:
    """Time in zones per sport family and zone count: a run's 5 HR zones and a ride's 7 are different
    systems, so zone times are only ever added within one ("Run: Z1: 2:20 (6%), …; Ride: …")."""
    systems: dict[tuple[str, int], list[Sequence[int]]] = {}
    for a in acts:
        times = seconds(a)
        if any(times):
            systems.setdefault((family_of(a.type), len(times)), []).append(times)
    counts: dict[str, int] = {}
    for family, _ in systems:
        counts[family] = counts.get(family, 0) + 1
    parts = []
    for (family, width), rows in sorted(systems.items()):
        label = family if counts[family] == 1 else f"{family} ({width} zones)"
        parts.append(f"{label}: " + ", ".join(zone_lines(_sum_zones(rows))))
    return "; ".join(parts) or None


def _plan(
    events: list[Event], done_ids: set[int], acts: list[Activity], strava_days: set[date], today: date
) -> dict[str, Any] | None:
    if not events:
        return None
    done = [e for e in events if e.id in done_ids]
    pending = [e for e in events if e.id not in done_ids]
    past = [e for e in pending if (_local_day(e.start_date_local) or today) < today]
    # A Strava import hides its type and pairing: a planned session on its day may have been done.
    strava = [e for e in past if _local_day(e.start_date_local) in strava_days]
    missed = [e for e in past if e not in strava]
    paired = [a for a in acts if a.paired_event_id in done_ids]
    return {
        "planned": len(events),
        "done": len(done),
        "missed": len(missed),
        "strava_day": len(strava) or None,
        "upcoming": len(pending) - len(past) or None,
        "planned_load": round(sum(e.icu_training_load or 0 for e in events)),
        "done_load": round(sum(a.icu_training_load or 0 for a in paired)),
        "planned_time": present.hms(sum(e.moving_time or 0 for e in events)),
        "done_time": present.hms(sum(a.moving_time or 0 for a in paired)),
        "unplanned_sessions": sum(1 for a in acts if a.paired_event_id not in done_ids) or None,
    }


def _summarise(acts: list[Activity], events: list[Event] | None, done_ids: set[int], today: date) -> dict[str, Any]:
    real = [a for a in acts if not a.is_strava_stub]
    strava_days = {d for a in acts if a.is_strava_stub and (d := _local_day(a.start_date_local)) is not None}
    sports: dict[str, list[Activity]] = {}
    for a in real:
        sports.setdefault(a.type or "Other", []).append(a)

    def totals(group: list[Activity]) -> dict[str, Any]:
        distance = sum(a.distance or 0 for a in group)
        loads = [a.icu_training_load for a in group if a.icu_training_load is not None]
        return {
            "sessions": len(group),
            "time": present.hms(sum(a.moving_time or 0 for a in group)) or "0:00",
            "distance_km": round(distance / 1000, 1) if distance else None,
            # A session with no load is unknown, not 0: left out and counted (no sessions: a true 0).
            "load": round(sum(loads)) if loads or not group else None,
            "no_load": (len(group) - len(loads)) or None,
        }

    return {
        **totals(real),
        "sports": [{"sport": s, **totals(g)} for s, g in sorted(sports.items())] if len(sports) > 1 else None,
        "power_zones": _zones(real, power_zone_seconds),
        "hr_zones": _zones(real, lambda a: a.icu_hr_zone_times or []),
        "pace_zones": _zones(real, lambda a: a.pace_zone_times or []),
        "plan": _plan(events, done_ids, real, strava_days, today) if events is not None else None,
        "strava_unavailable": (len(acts) - len(real)) or None,
    }


async def get_training_summary(call: ToolCall, args: SummaryInput) -> ToolResult:
    access = call.athlete(args.athlete)
    today = present.local_today(access.timezone)
    end = args.end or today
    start, end = resolve_window(access, args.start or _default_start(args.period, end), end, default_days=28)
    client = access.client()
    with_plan = access.allows_scope("CALENDAR:READ")
    fetches: list[Any] = [client.list_activities(access.athlete_id, start.isoformat(), f"{end.isoformat()}T23:59:59")]
    if with_plan:
        fetches.append(client.list_events(access.athlete_id, start.isoformat(), end.isoformat(), PLANNED))
    results = await asyncio.gather(*fetches)
    activities: list[Activity] = results[0]
    events: list[Event] = results[1] if with_plan else []
    done_ids = {a.paired_event_id for a in activities if a.paired_event_id is not None}

    keys: list[date] = []
    day = _period_key(start, args.period)
    while day <= end:
        keys.append(day)
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1) if args.period == "month" else day + timedelta(7)
    acts_by: dict[date, list[Activity]] = {k: [] for k in keys}
    events_by: dict[date, list[Event]] = {k: [] for k in keys}
    for a in activities:
        d = _local_day(a.start_date_local)
        if d is not None and start <= d <= end:
            acts_by[_period_key(d, args.period)].append(a)
    for e in events:
        d = _local_day(e.start_date_local)
        if d is not None and start <= d <= end and e.category in PLANNED:
            events_by[_period_key(d, args.period)].append(e)
    periods = [
        tidy(
            {
                "period": _period_label(k, args.period, start, end),
                **_summarise(acts_by[k], events_by[k] if with_plan else None, done_ids, today),
            }
        )
        for k in keys
    ]
    data: dict[str, Any] = {
        "athlete": access.echo(),
        "window": window(start, end),
        "periods": periods,
        "units": UNITS,
    }
    if not with_plan:
        data["note"] = "No plan compliance: the athlete did not grant calendar access (CALENDAR:READ)."
    loads = ", ".join(str(p.get("load", "unknown")) for p in periods)
    who = present.fence(access.name)
    text = f"{who}: {len(periods)} {args.period}s {data['window']}; load per {args.period}: {loads}."
    planned = sum(p.get("plan", {}).get("planned", 0) for p in periods)
    if planned:
        done = sum(p.get("plan", {}).get("done", 0) for p in periods)
        missed = sum(p.get("plan", {}).get("missed", 0) for p in periods)
        text += f" Plan: {done} of {planned} planned sessions done, {missed} missed"
        unsure = sum(p.get("plan", {}).get("strava_day", 0) for p in periods)
        text += f", {unsure} on a day with an unreadable Strava import." if unsure else "."
    return ToolResult(data=data, text=text)


register(
    ToolSpec(
        name="get_training_summary",
        title="Training summary",
        description="Weekly or monthly totals per sport, time in zones, and compliance with planned workouts.",
        input_model=SummaryInput,
        output_model=SummaryOutput,
        handler=get_training_summary,
        scope="ACTIVITY:READ",
    )
)
