"""get_extended_metrics: numbers computed from an activity's streams, without ever returning the streams."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from integrations.intervals import analysis
from integrations.intervals.schemas import Activity
from integrations.intervals.workouts import format_duration
from mcpserver import present
from mcpserver.catalogue import AthleteEcho, ToolCall, ToolFailure, ToolResult, ToolSpec, Untrusted, register
from mcpserver.tools.activity import (
    ActivityInput,
    day_and_time,
    owned_activity,
    pace_text,
    tidy,
    uses_pace,
    zone_lines,
    zone_ranges,
)
from mcpserver.tools.history import STRAVA_NOTE

STREAMS = ["time", "watts", "heartrate", "velocity_smooth", "distance", "altitude"]
POWER_DURATIONS = (5, 30, 60, 300, 600, 1200, 3600)
HR_DURATIONS = (60, 300, 1200, 3600)
RUN_DISTANCES = (400.0, 1000.0, 1609.34, 5000.0, 10000.0, 21097.5, 42195.0)
SWIM_DISTANCES = (100.0, 200.0, 400.0, 1000.0, 1500.0)
MAX_PROFILE_POINTS = 60


class MetricsInput(ActivityInput):
    profile_points: int = Field(default=0, description=f"Add a profile of up to {MAX_PROFILE_POINTS} points")


class Effort(BaseModel):
    over: str
    power_w: int | None = None
    hr_bpm: int | None = None
    time: str | None = None
    pace: str | None = None
    starts_at: str | None = None
    hr_starts_at: str | None = None


class ProfilePoint(BaseModel):
    at: str
    power_w: int | None = None
    hr_bpm: int | None = None
    pace: str | None = None
    speed_kmh: float | None = None
    altitude_m: int | None = None


class Computed(BaseModel):
    sport: str | None = None
    name: Untrusted | None = None
    duration: str | None = None
    decoupling_pct: float | None = None
    efficiency_factor: float | None = None
    variability_index: float | None = None
    norm_power_w: int | None = None
    avg_power_w: int | None = None
    avg_hr_bpm: int | None = None
    hr_dropout: str | None = None
    from_intervals: list[str] | None = None


class MetricsOutput(BaseModel):
    athlete: AthleteEcho
    id: str
    date: str
    unavailable: str | None = None
    metrics: Computed | None = None
    best_efforts: list[Effort] | None = None
    zones: dict[str, list[str]] | None = None
    profile: list[ProfilePoint] | None = None
    units: dict[str, str] | None = None


UNITS = {
    "from_intervals": "Intervals.icu's own figures, as in get_activity_detail; the rest computed here from the streams",
    "decoupling_pct": "output per heartbeat lost from 1st to 2nd half (HR drift); < 5% = aerobically steady",
    "efficiency_factor": "normalised power W (or speed m/min without power) per bpm",
    "variability_index": "normalised / average power; ~1.0 = steady",
    "hr_dropout": "recorded time with no heart rate (strap read 0), left out of every HR figure",
    "best_efforts": "within this activity, between recording stops; starts_at, hr_starts_at: elapsed h:mm:ss",
    "zones": "time per zone from the streams (zones with no time omitted)",
}


def _values(streams: dict[str, Any], name: str) -> list[Any]:
    stream = streams.get(name)
    return list(stream.data) if stream is not None else []


def _has_data(series: Sequence[Any]) -> bool:
    return any(v for v in series)


def _efforts(a: Activity, watts: list[Any], hr: list[Any], dist: list[Any], time: list[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    power = analysis.best_efforts(watts, POWER_DURATIONS, time) if _has_data(watts) else {}
    heart = analysis.best_hr_efforts(hr, HR_DURATIONS, time) if _has_data(hr) else {}
    for secs in sorted(set(power) | set(heart)):
        p, h = power.get(secs), heart.get(secs)
        start = p.start_s if p else h.start_s if h else 0
        rows.append(
            {
                "over": format_duration(secs),
                "power_w": present.rnd(p.value) if p else None,
                "hr_bpm": present.rnd(h.value) if h else None,
                "starts_at": present.hms(start),
                "hr_starts_at": present.hms(h.start_s) if h and p and h.start_s != p.start_s else None,
            }
        )
    if uses_pace(a.type) and _has_data(dist) and time:
        targets = SWIM_DISTANCES if "Swim" in (a.type or "") else RUN_DISTANCES
        for metres, effort in sorted(analysis.best_distance_efforts(dist, time, targets).items()):
            rows.append(
                {
                    "over": f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m",
                    "time": present.hms(effort.value),
                    "pace": pace_text(metres / effort.value, a.type) if effort.value else None,
                    "starts_at": present.hms(effort.start_s),
                }
            )
    return [tidy(r) for r in rows]


def _stream_zones(
    a: Activity, watts: list[Any], hr: list[Any], speed: list[Any], time: list[Any]
) -> dict[str, list[str]]:
    zones: dict[str, list[str]] = {}
    if _has_data(watts) and a.icu_power_zones and a.icu_ftp:
        bounds = [b * a.icu_ftp / 100 for b in a.icu_power_zones]
        ranges = zone_ranges("power", a.icu_power_zones, a.icu_ftp, a.type)
        zones["power"] = zone_lines(analysis.time_in_zones(watts, bounds, time), ranges)
    if _has_data(hr) and a.icu_hr_zones:
        zones["hr"] = zone_lines(
            analysis.time_in_zones(_no_dropouts(hr), a.icu_hr_zones, time),
            zone_ranges("hr", a.icu_hr_zones, None, a.type),
        )
    if uses_pace(a.type) and _has_data(speed) and a.pace_zones and a.threshold_pace:
        bounds = [b * a.threshold_pace / 100 for b in a.pace_zones]
        moving = [v if v else None for v in speed]
        ranges = zone_ranges("pace", a.pace_zones, a.threshold_pace, a.type)
        zones["pace"] = zone_lines(analysis.time_in_zones(moving, bounds, time), ranges)
    return {k: v for k, v in zones.items() if v}


def _no_dropouts(hr: list[Any]) -> list[Any]:
    """Heart rate with the strap's dropouts (0 bpm) as missing samples, never as a heart rate of 0."""
    return [v if v and v > 0 else None for v in hr]


def _profile(a: Activity, streams: dict[str, Any], points: int) -> list[dict[str, Any]]:
    time = _values(streams, "time")
    columns = {n: _values(streams, n) for n in ("watts", "heartrate", "velocity_smooth", "altitude")}
    columns = {n: v for n, v in columns.items() if _has_data(v)}
    if "heartrate" in columns:
        columns["heartrate"] = _no_dropouts(columns["heartrate"])
    if not time or points <= 0:
        return []
    pace = uses_pace(a.type)
    rows = []
    for row in analysis.downsample_profile(time, columns, points):
        speed = row.get("velocity_smooth")
        rows.append(
            tidy(
                {
                    "at": present.hms(row["time"] or 0),
                    "power_w": present.rnd(row.get("watts")),
                    "hr_bpm": present.rnd(row.get("heartrate")),
                    "pace": pace_text(speed, a.type) if pace else None,
                    "speed_kmh": present.rnd(speed * 3.6, 1) if speed and not pace else None,
                    "altitude_m": present.rnd(row.get("altitude")),
                }
            )
        )
    return rows


async def get_extended_metrics(call: ToolCall, args: MetricsInput) -> ToolResult:
    access = call.athlete(args.athlete)
    if not 0 <= args.profile_points <= MAX_PROFILE_POINTS:
        raise ToolFailure(f"profile_points must be between 0 and {MAX_PROFILE_POINTS}.")
    client = access.client()
    a = await owned_activity(client, access, args.activity_id)
    day, _clock = day_and_time(a)
    base = {"athlete": access.echo(), "id": a.id, "date": day}
    if a.is_strava_stub:
        return ToolResult(
            data={**base, "unavailable": STRAVA_NOTE},
            text=f"{present.fence(access.name)}: activity {a.id} on {day} came from Strava; {STRAVA_NOTE}",
        )
    streams = await client.get_streams(a.id, STREAMS)
    # The per-second analysis is CPU work sized by the activity's length, which is upstream data (a day-long
    # ride is 86,400 samples, about 3 s of it): in a worker thread, so the event loop keeps serving others.
    data, text = await asyncio.to_thread(_analysed, access.echo(), access.name, a, day, streams, args.profile_points)
    return ToolResult(data=data, text=text)


def _analysed(
    echo: dict[str, str], name: str, a: Activity, day: str, streams: dict[str, Any], points: int
) -> tuple[dict[str, Any], str]:
    base = {"athlete": echo, "id": a.id, "date": day}
    watts, hr = _values(streams, "watts"), _values(streams, "heartrate")
    speed, dist, time = _values(streams, "velocity_smooth"), _values(streams, "distance"), _values(streams, "time")
    metrics = _metrics(a, watts, hr, speed, time)
    data = tidy(
        {
            **base,
            "metrics": metrics,
            "best_efforts": _efforts(a, watts, hr, dist, time),
            "zones": _stream_zones(a, watts, hr, speed, time),
            "profile": _profile(a, streams, points),
        }
    )
    # The legend of what the answer has (from_intervals always: without it every figure is Threshold's).
    shown = {"from_intervals", *data.get("metrics", {}), *data}
    data["units"] = {k: v for k, v in UNITS.items() if k in shown}
    bits = []
    if metrics["decoupling_pct"] is not None:
        bits.append(f"decoupling {metrics['decoupling_pct']:.1f}%")
    if metrics["efficiency_factor"] is not None:
        bits.append(f"EF {metrics['efficiency_factor']:.2f}")
    if metrics["variability_index"] is not None:
        bits.append(f"VI {metrics['variability_index']}")
    if metrics["hr_dropout"]:
        bits.append(f"HR dropout {metrics['hr_dropout']} ignored")
    text = (
        f"{present.fence(name)}: {a.type} {present.fence(a.name)} {day}: "
        + (", ".join(bits) or "no power or HR streams")
        + "."
    )
    return data, text


def _metrics(a: Activity, watts: list[Any], hr: list[Any], speed: list[Any], time: list[Any]) -> dict[str, Any]:
    """The activity's figures: Intervals.icu's own where it has them (the same numbers get_activity_detail
    shows), computed here from the streams where it has none; `from_intervals` names the former."""
    has_power, has_hr = _has_data(watts), _has_data(hr)
    output = watts if has_power else speed
    kind: Literal["power", "speed"] = "power" if has_power else "speed"
    both = has_hr and _has_data(output)
    computed: dict[str, Any] = {
        "decoupling_pct": lambda: present.rnd(analysis.decoupling(output, hr, time), 1) if both else None,
        "efficiency_factor": lambda: (
            present.rnd(analysis.efficiency_factor(output, hr, kind=kind, time=time), 2) if both else None
        ),
        "variability_index": lambda: present.rnd(analysis.variability_index(watts, time), 2) if has_power else None,
        "norm_power_w": lambda: present.rnd(analysis.normalized_power(watts, time)) if has_power else None,
        "avg_power_w": lambda: present.rnd(analysis.average_power(watts, time)) if has_power else None,
    }
    intervals = {
        "decoupling_pct": present.rnd(a.decoupling, 1),
        "efficiency_factor": present.rnd(a.icu_efficiency_factor, 2),
        "variability_index": present.rnd(a.icu_variability_index, 2),
        "norm_power_w": present.rnd(a.icu_weighted_avg_watts),
        "avg_power_w": present.rnd(a.icu_average_watts),
    }
    figures = {k: intervals[k] if intervals[k] is not None else compute() for k, compute in computed.items()}
    dropout = analysis.hr_dropout_s(hr, time) if has_hr else 0
    return {
        "sport": a.type,
        "name": present.untrusted(a.name),
        "duration": present.hms(a.moving_time),
        **figures,
        "avg_hr_bpm": present.rnd(analysis.average_hr(hr, time)) if has_hr else None,
        "hr_dropout": present.hms(dropout) if dropout else None,
        "from_intervals": [k for k, v in intervals.items() if v is not None] or None,
    }


register(
    ToolSpec(
        name="get_extended_metrics",
        title="Activity metrics from streams",
        description="From streams: decoupling (HR drift), EF, VI, best efforts, time in zones; optional profile.",
        input_model=MetricsInput,
        output_model=MetricsOutput,
        handler=get_extended_metrics,
        scope="ACTIVITY:READ",
    )
)
