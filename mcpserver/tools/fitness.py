"""get_fitness: fitness (CTL), fatigue (ATL), form (TSB) and ramp rate, with a projection through the plan."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from integrations.intervals import load
from integrations.intervals.schemas import Activity, Event, Wellness
from mcpserver import present
from mcpserver.bounds import PROJECTION_DAYS, BoundedDate
from mcpserver.catalogue import AthleteEcho, DateWindowInput, ToolCall, ToolFailure, ToolResult, ToolSpec, register
from mcpserver.tools import coach_common as cc
from mcpserver.tools.activity import tidy
from mcpserver.tools.history import resolve_window

DEFAULT_DAYS = 42
MAX_PROJECTION_DAYS = PROJECTION_DAYS
PLANNED = ["WORKOUT", "RACE_A", "RACE_B", "RACE_C"]


class FitnessInput(DateWindowInput):
    by: Literal["day", "week"] | None = None
    project_to: BoundedDate | None = Field(default=None, description="Future date: project through the plan")


class FitnessRow(BaseModel):
    date: str
    load: int | None = None
    ctl: float
    atl: float
    form: float
    form_zone: str
    ramp_rate: float | None = None
    strava_imports: int | None = None


class FitnessOutput(BaseModel):
    athlete: AthleteEcho
    current: FitnessRow | None = None
    planned_today: FitnessRow | None = None
    rows: list[FitnessRow] = []
    projection: list[FitnessRow] | None = None
    projected_end: FitnessRow | None = None
    note: str | None = None
    units: dict[str, str]


UNITS = {
    "ctl": "fitness, 42-day weighted load",
    "atl": "fatigue, 7-day weighted load",
    "form": "ctl - atl (TSB)",
    "form_zone": "transition > 25, fresh 5..25, grey -10..5, optimal -30..-10, high risk < -30",
    "ramp_rate": "ctl change over the last 7 days",
    "load": "training load done that day, or that week when by=week",
    "date": "by=week: the Monday (values at the week's last day)",
    "current": "today as done so far (Intervals.icu's own line already counts today's plan: see planned_today)",
    "planned_today": "load planned today and not done yet, and the values once it is done",
    "strava_imports": "Strava imports whose load is in load (done; the API shows no details of them)",
}


def _row(d: date, ctl: float, atl: float, ramp: float | None, day_load: float | None) -> dict[str, Any]:
    form = ctl - atl
    return tidy(
        {
            "date": present.day_label(d),
            "load": present.rnd(day_load),
            "ctl": round(ctl, 1),
            "atl": round(atl, 1),
            "form": round(form, 1),
            "form_zone": load.FORM_ZONE_LABELS[load.form_zone(form, ctl)],
            "ramp_rate": present.rnd(ramp, 1),
        }
    )


def _series(wellness: Sequence[Wellness]) -> list[load.DayFitness]:
    rows = []
    for w in sorted(wellness, key=lambda r: r.id):
        if w.ctl is None or w.atl is None:
            continue
        rows.append(
            load.DayFitness(
                date.fromisoformat(w.id[:10]), w.ctlLoad or 0.0, w.ctl, w.atl, w.ctl - w.atl, w.rampRate or 0.0
            )
        )
    return rows


def _present(rows: Sequence[load.DayFitness], by: str) -> list[dict[str, Any]]:
    if by == "week":
        return [_row(w.week_start, w.ctl, w.atl, w.ramp_rate, w.load) for w in load.weekly(rows)]
    return [_row(r.date, r.ctl, r.atl, r.ramp_rate, r.load) for r in rows]


def planned_undone(events: Sequence[Event] | None, activities: Sequence[Activity] | None, day: date) -> float | None:
    """Load planned on `day` that no activity is paired to (what Intervals.icu's line counts as if done);
    None when that cannot be told: the calendar is unread, or neither the activities nor the events say
    which plans were done, or a Strava import that day hides its pairing."""
    if events is None:
        return None
    todays = [
        e for e in events if e.category in PLANNED and e.icu_training_load and cc.local_day(e.start_date_local) == day
    ]
    if not todays:
        return 0.0
    paired = {a.paired_event_id for a in activities or [] if a.paired_event_id is not None}
    if any(a.is_strava_stub and cc.local_day(a.start_date_local) == day for a in activities or []):
        return None
    total = 0.0
    for e in todays:
        extra = e.model_extra or {}
        if e.id in paired or extra.get("paired_activity_id"):
            continue
        if activities is None and "paired_activity_id" not in extra:
            return None  # neither side says whether it was done
        total += e.icu_training_load or 0.0
    return total


def as_done(
    wellness: Sequence[Wellness], events: Sequence[Event] | None, activities: Sequence[Activity] | None, today: date
) -> list[load.DayFitness]:
    """The fitness series with today's row as done so far, where the calendar and activities tell what of
    today's plan is not done yet (else Intervals.icu's row as it is)."""
    series = [r for r in _series(wellness) if r.date <= today]
    if series and series[-1].date == today:
        undone = planned_undone(events, activities, today)
        if undone:
            series[-1] = load.without_planned(series[-1], undone)
    return series


def _planned_loads(events: Sequence[Event], after: date) -> dict[date, float]:
    loads: dict[date, float] = {}
    for e in events:
        d = present.parse_local(e.start_date_local)
        if d is not None and d.date() > after and e.icu_training_load:
            loads[d.date()] = loads.get(d.date(), 0.0) + e.icu_training_load
    return loads


async def get_fitness(call: ToolCall, args: FitnessInput) -> ToolResult:
    access = call.athlete(args.athlete)
    today = present.local_today(access.timezone)
    project_to = args.project_to
    end = args.end
    if end is not None and end > today:
        project_to, end = max(project_to or end, end), today
    start, end = resolve_window(access, args.start, end, default_days=DEFAULT_DAYS)
    if project_to is not None:
        if project_to <= today:
            raise ToolFailure(f"project_to ({project_to}) must be after today ({present.day_label(today)}).")
        if (project_to - today).days > MAX_PROJECTION_DAYS:
            raise ToolFailure(
                f"Projections reach at most {MAX_PROJECTION_DAYS} days ahead; pick an earlier project_to."
            )
    by = args.by or ("day" if (end - start).days < 31 else "week")
    client = access.client()
    history_end = today if project_to is not None else end
    # Today's row of Intervals.icu counts today's plan as if done: the calendar (and the activities paired
    # to it) tell what to take out, where the grant lets this athlete's tools read them.
    calendar = cc.can_calendar(access) and (history_end == today or project_to is not None)
    with_acts = cc.can_activities(access)
    fetches: list[Any] = [client.list_wellness(access.athlete_id, start.isoformat(), history_end.isoformat())]
    fetches.append(
        client.list_events(access.athlete_id, today.isoformat(), (project_to or today).isoformat(), PLANNED)
        if calendar
        else _none()
    )
    fetches.append(
        client.list_activities(access.athlete_id, start.isoformat(), f"{history_end.isoformat()}T23:59:59")
        if with_acts
        else _none()
    )
    wellness, events, activities = await asyncio.gather(*fetches)
    series = [r for r in _series(wellness) if r.date <= history_end]
    raw = list(series)  # as Intervals.icu has them: the projection goes on from today's plan included
    data: dict[str, Any] = {"athlete": access.echo(), "units": UNITS}
    notes: list[str] = []
    if series and series[-1].date == today:
        undone = planned_undone(events, activities, today)
        if undone is None and series[-1].load:
            notes.append(
                "Today's values are Intervals.icu's, which count today's planned workouts as if done; "
                "which of them are done could not be read here."
            )
        elif undone:
            done = load.without_planned(series[-1], undone)
            data["planned_today"] = _row(today, series[-1].ctl, series[-1].atl, series[-1].ramp_rate, undone)
            series[-1] = done
    shown = [r for r in series if start <= r.date <= end]
    data["rows"] = _present(shown, by)
    strava = _strava_days(activities)
    if strava:
        for row, key in zip(data["rows"], _row_keys(shown, by), strict=True):
            n = sum(count for d, count in strava.items() if key[0] <= d <= key[1])
            if n:
                row["strava_imports"] = n
    past = [r for r in series if r.date <= today]
    if past:
        last = past[-1]
        data["current"] = _row(last.date, last.ctl, last.atl, last.ramp_rate, last.load)
    text = f"{present.fence(access.name)}: no fitness data between {start} and {end}."
    if shown:
        last = shown[-1]
        text = (
            f"{present.fence(access.name)} on {present.day_label(last.date)}: fitness (CTL) {last.ctl:.1f}, "
            "fatigue (ATL) "
            f"{last.atl:.1f}, form {last.form:+.1f} ({data['rows'][-1]['form_zone']}), ramp {last.ramp_rate:+.1f}/week."
        )
    if "planned_today" in data:
        p = data["planned_today"]
        text += f" Planned today, not done yet: load {p['load']} (CTL {p['ctl']}, form {p['form']:+} once done)."
    raw_past = [r for r in raw if r.date <= today]
    if project_to is not None and raw_past:
        planned = _planned_loads(events or [], raw_past[-1].date) if calendar else {}
        projected = load.project(raw_past[-1], planned, project_to, history=raw_past)
        data["projection"] = _present(projected, by)
        if projected:
            p = projected[-1]
            data["projected_end"] = _row(p.date, p.ctl, p.atl, p.ramp_rate, p.load)
            text += (
                f" Projected through the plan to {present.day_label(p.date)}: CTL {p.ctl:.1f}, form {p.form:+.1f} "
                f"({data['projected_end']['form_zone']})."
            )
        if not calendar:
            notes.append("Projection assumes rest: the athlete did not grant calendar access (CALENDAR:READ).")
    if notes:
        data["note"] = " ".join(notes)
    return ToolResult(data=data, text=text)


async def _none() -> None:
    return None


def _strava_days(activities: Sequence[Activity] | None) -> dict[date, int]:
    out: dict[date, int] = {}
    for a in activities or []:
        d = cc.local_day(a.start_date_local)
        if a.is_strava_stub and d is not None:
            out[d] = out.get(d, 0) + 1
    return out


def _row_keys(rows: Sequence[load.DayFitness], by: str) -> list[tuple[date, date]]:
    """The first and last day each presented row covers."""
    if by == "week":
        return [(w.week_start, w.week_start + timedelta(days=6)) for w in load.weekly(rows)]
    return [(r.date, r.date) for r in rows]


register(
    ToolSpec(
        name="get_fitness",
        title="Fitness, fatigue and form",
        description=(
            "CTL (fitness), ATL (fatigue), form and its zone, ramp rate (default 42 days); projection via the plan."
        ),
        input_model=FitnessInput,
        output_model=FitnessOutput,
        handler=get_fitness,
        scope="WELLNESS:READ",
    )
)
