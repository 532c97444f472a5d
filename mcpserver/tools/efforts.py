"""get_best_efforts and get_power_curves: the athlete's best power / pace / HR over periods, from Intervals' curves."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from integrations.intervals.schemas import CurveSet, DataCurve
from integrations.intervals.workouts import format_duration
from mcpserver import bounds, present
from mcpserver.bounds import ShortText
from mcpserver.catalogue import (
    AthleteEcho,
    AthleteInput,
    DateWindowInput,
    ToolCall,
    ToolFailure,
    ToolResult,
    ToolSpec,
    Untrusted,
    register,
)
from mcpserver.principal import AthleteAccess
from mcpserver.tools.activity import pace_text, tidy, window
from mcpserver.tools.history import resolve_window

Metric = Literal["power", "pace", "hr"]
DEFAULT_DAYS = 90
STANDARD_SECS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
DEFAULT_SECS = {"power": (5, 60, 300, 1200, 3600), "hr": (60, 300, 1200, 3600)}
RUN_DISTANCES = (400.0, 800.0, 1000.0, 1609.34, 3000.0, 5000.0, 10000.0, 21097.5, 42195.0)
SWIM_DISTANCES = (50.0, 100.0, 200.0, 400.0, 800.0, 1500.0)
DEFAULT_DISTANCES = (1000.0, 5000.0, 10000.0, 21097.5)
DEFAULT_SWIM = (100.0, 400.0, 1500.0)
MAX_POINTS = 12
PERIOD_RE = r"^(\d{1,3}[dy]|s[01]|all|\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2})$"


def _metric_field() -> Any:
    return Field(default="power")


def _sport_field() -> Any:
    return Field(default=None, description="e.g. Ride, Run, Swim; default Ride/Run")


class EffortsInput(DateWindowInput):
    metric: Metric = _metric_field()
    sport: ShortText | None = _sport_field()
    durations_s: list[int] | None = Field(default=None, description="power/hr, e.g. [60, 300]")
    distances_m: list[float] | None = Field(default=None, description="pace, e.g. [1000, 5000]")


class Best(BaseModel):
    over: str
    value: float | None = None
    w_per_kg: float | None = None
    pace: str | None = None
    date: str | None = None
    activity_id: str | None = None
    activity: Untrusted | None = None


class EffortsOutput(BaseModel):
    athlete: AthleteEcho
    sport: str | None = None
    window: str
    efforts: list[Best] = []
    units: dict[str, str]


class CurvesInput(AthleteInput):
    metric: Metric = _metric_field()
    sport: ShortText | None = _sport_field()
    periods: list[str] = Field(
        default=["s0", "s1"], description="1-2 of: 42d, 1y, s0 (this season), s1, all, A..B (dates)"
    )


class CurvePeriod(BaseModel):
    label: str
    start: str | None = None
    end: str | None = None


class CurveRow(BaseModel):
    at: str
    first: float | None = None
    second: float | None = None
    first_pace: str | None = None
    second_pace: str | None = None
    change_pct: float | None = None


class CurvesOutput(BaseModel):
    athlete: AthleteEcho
    sport: str | None = None
    periods: list[CurvePeriod] = []
    rows: list[CurveRow] = []
    units: dict[str, str]


def value_unit(metric: str) -> str:
    return {"power": "watts", "hr": "bpm", "pace": "seconds to cover the distance"}[metric]


def default_sport(metric: str, sport: str | None) -> str | None:
    return sport or {"power": "Ride", "pace": "Run"}.get(metric)


def distance_label(metres: float) -> str:
    named = {1609.34: "1 mile", 21097.5: "half marathon", 42195.0: "marathon"}
    if metres in named:
        return named[metres]
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def points(curve: DataCurve) -> list[float]:
    return list((curve.distance if curve.distance is not None else curve.secs) or [])


def nearest(curve: DataCurve, wanted: float) -> int | None:
    xs = points(curve)
    if not xs:
        return None
    return min(range(len(xs)), key=lambda i: (abs(xs[i] - wanted), xs[i]))


def at_label(metric: str, x: float) -> str:
    return distance_label(x) if metric == "pace" else format_duration(int(x))


async def fetch_curves(access: AthleteAccess, metric: str, specs: list[str], sport: str | None) -> CurveSet:
    client = access.client()
    return await client.get_curves(access.athlete_id, metric, specs, sport)


def _value(curve: DataCurve, i: int) -> float | None:
    return curve.values[i] if i < len(curve.values) else None


async def get_best_efforts(call: ToolCall, args: EffortsInput) -> ToolResult:
    access = call.athlete(args.athlete)
    start, end = resolve_window(access, args.start, args.end, default_days=DEFAULT_DAYS)
    sport = default_sport(args.metric, args.sport)
    swim = "Swim" in (sport or "")
    for values, top in ((args.durations_s, 86400), (args.distances_m, 300000)):
        if values and (len(values) > MAX_POINTS or any(not 0 < v <= top for v in values)):
            raise ToolFailure(f"Give at most {MAX_POINTS} durations/distances, each positive and at most {top}.")
    if args.metric == "pace":
        if args.durations_s:
            raise ToolFailure("Pace bests are by distance: pass distances_m (e.g. [1000, 5000]), not durations_s.")
        wanted: Sequence[float] = args.distances_m or (DEFAULT_SWIM if swim else DEFAULT_DISTANCES)
    else:
        if args.distances_m:
            raise ToolFailure(f"{args.metric} bests are by duration: pass durations_s (e.g. [60, 300]).")
        wanted = args.durations_s or DEFAULT_SECS[args.metric]
    curves = await fetch_curves(access, args.metric, [f"r.{start}.{end}"], sport)
    rows: list[dict[str, Any]] = []
    curve = curves.list_[0] if curves.list_ else None
    for x in wanted:
        i = nearest(curve, x) if curve else None
        if curve is None or i is None:
            continue
        value = _value(curve, i)
        actual = points(curve)[i]
        aid = curve.activity_id[i] if i < len(curve.activity_id) else None
        act = curves.activities.get(aid or "")
        local = present.parse_local(act.start_date_local) if act else None
        label = at_label(args.metric, actual)
        if actual != x:
            label += f" (nearest to {at_label(args.metric, x)})"
        wkg = (
            curve.watts_per_kg[i]
            if args.metric == "power" and curve.watts_per_kg and i < len(curve.watts_per_kg)
            else None
        )
        rows.append(
            tidy(
                {
                    "over": label,
                    "value": present.rnd(value, 1) if args.metric == "pace" else present.rnd(value),
                    "w_per_kg": wkg,
                    "pace": pace_text(actual / value, sport) if args.metric == "pace" and value else None,
                    "date": present.day_label(local.date()) if local else None,
                    "activity_id": aid,
                    "activity": present.untrusted(act.name) if act else None,
                }
            )
        )
    data = {
        "athlete": access.echo(),
        "sport": sport,
        "window": window(start, end),
        "efforts": rows,
        "units": {"value": value_unit(args.metric), "w_per_kg": "watts per kg body weight"},
    }
    best = "; ".join(f"{r['over']} {r.get('pace') or r.get('value')}" for r in rows[:6]) or "no efforts recorded"
    text = f"{present.fence(access.name)} best {args.metric} {data['window']}: {best}."
    return ToolResult(data=tidy(data), text=text)


def _period_ok(period: str) -> bool:
    """One of the period forms; a date range only between real dates of mcpserver.bounds' window, in order."""
    if not re.fullmatch(PERIOD_RE, period):
        return False
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", period)
    if m is None:
        return True
    lo, hi = bounds.parse_bounded(m.group(1)), bounds.parse_bounded(m.group(2))
    return lo is not None and hi is not None and lo <= hi


def _spec(period: str) -> str:
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", period)
    return f"r.{m.group(1)}.{m.group(2)}" if m else period


async def get_power_curves(call: ToolCall, args: CurvesInput) -> ToolResult:
    access = call.athlete(args.athlete)
    sport = default_sport(args.metric, args.sport)
    if not 1 <= len(args.periods) <= 2 or not all(_period_ok(p) for p in args.periods):
        raise ToolFailure(
            "periods takes 1 or 2 of: '42d', '1y', 's0' (this season), 's1' (last), 'all', 'YYYY-MM-DD..YYYY-MM-DD' "
            f"(dates from {bounds.window_text()}, the first not after the second)."
        )
    curves = await fetch_curves(access, args.metric, [_spec(p) for p in args.periods], sport)
    found = curves.list_[: len(args.periods)]
    if args.metric == "pace":
        standard: Sequence[float] = SWIM_DISTANCES if "Swim" in (sport or "") else RUN_DISTANCES
    else:
        standard = STANDARD_SECS
    rows = []
    for x in standard:
        vals = []
        for c in found:
            xs = points(c)
            vals.append(_value(c, xs.index(x)) if x in xs else None)
        if all(v is None for v in vals):
            continue
        first = vals[0]
        second = vals[1] if len(vals) > 1 else None
        row: dict[str, Any] = {"at": at_label(args.metric, x), "first": first, "second": second}
        if args.metric == "pace":
            row["first_pace"] = pace_text(x / first, sport) if first else None
            row["second_pace"] = pace_text(x / second, sport) if second else None
        if first and second:
            # Positive = the first period is better (more watts/bpm, or less time for the distance).
            change = (first - second) / second * 100
            row["change_pct"] = round(-change if args.metric == "pace" else change, 1)
        rows.append(tidy(row))
    periods = []
    for c in found:
        lo, hi = present.parse_local(c.start_date_local), present.parse_local(c.end_date_local)
        periods.append(
            tidy(
                {
                    "label": c.label or c.id or "",
                    "start": present.day_label(lo.date()) if lo else None,
                    "end": present.day_label(hi.date()) if hi else None,
                }
            )
        )
    data = {
        "athlete": access.echo(),
        "sport": sport,
        "periods": periods,
        "rows": rows,
        "units": {
            "first/second": f"{value_unit(args.metric)}, best of each period",
            "change_pct": "first vs second; positive = first period better",
        },
    }
    labels = " vs ".join(str(p["label"]) for p in periods) or "no data"
    who = present.fence(access.name)
    text = f"{who} {args.metric} curve ({sport or 'all sports'}), {labels}: {len(rows)} standard points."
    return ToolResult(data=tidy(data), text=text)


register(
    ToolSpec(
        name="get_best_efforts",
        title="Best efforts",
        description="Best power/HR over durations or pace over distances in a window (default 90 days).",
        input_model=EffortsInput,
        output_model=EffortsOutput,
        handler=get_best_efforts,
        scope="ACTIVITY:READ",
    )
)

register(
    ToolSpec(
        name="get_power_curves",
        title="Power, pace or HR curves",
        description="Power, pace or HR curve at standard points; two periods side by side (default s0 vs s1).",
        input_model=CurvesInput,
        output_model=CurvesOutput,
        handler=get_power_curves,
        scope="ACTIVITY:READ",
    )
)
