"""get_fitness: fitness (CTL), fatigue (ATL), form (TSB) and ramp rate, with a projection through the plan."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from integrations.intervals import load
from integrations.intervals.schemas import Event, Wellness
from mcpserver import present
from mcpserver.bounds import PROJECTION_DAYS, BoundedDate
from mcpserver.catalogue import AthleteEcho, DateWindowInput, ToolCall, ToolFailure, ToolResult, ToolSpec, register
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


class FitnessOutput(BaseModel):
    athlete: AthleteEcho
    current: FitnessRow | None = None
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
    "load": "training load of the day, or of the week when by=week",
    "date": "by=week: the Monday (values at the week's last day)",
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
    with_plan = project_to is not None and access.allows_scope("CALENDAR:READ")
    history_end = today if project_to is not None else end
    fetches: list[Any] = [client.list_wellness(access.athlete_id, start.isoformat(), history_end.isoformat())]
    if with_plan and project_to is not None:
        fetches.append(client.list_events(access.athlete_id, today.isoformat(), project_to.isoformat(), PLANNED))
    results = await asyncio.gather(*fetches)
    series = [r for r in _series(results[0]) if r.date <= history_end]
    shown = [r for r in series if start <= r.date <= end]
    data: dict[str, Any] = {"athlete": access.echo(), "rows": _present(shown, by), "units": UNITS}
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
    if project_to is not None and past:
        planned = _planned_loads(results[1], past[-1].date) if with_plan else {}
        projected = load.project(past[-1], planned, project_to, history=past)
        data["projection"] = _present(projected, by)
        if projected:
            p = projected[-1]
            data["projected_end"] = _row(p.date, p.ctl, p.atl, p.ramp_rate, p.load)
            text += (
                f" Projected through the plan to {present.day_label(p.date)}: CTL {p.ctl:.1f}, form {p.form:+.1f} "
                f"({data['projected_end']['form_zone']})."
            )
        if not with_plan:
            data["note"] = "Projection assumes rest: the athlete did not grant calendar access (CALENDAR:READ)."
    return ToolResult(data=data, text=text)


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
