"""get_activity_detail: one completed activity, summarised (laps, zones, feel), never the raw payload.

Also home of the helpers the other activity tools share: fetching an activity *through its athlete*
(so an id of another athlete is refused before anything about it is read) and zone/pace formatting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel

from integrations.intervals import errors
from integrations.intervals.client import IntervalsClient
from integrations.intervals.schemas import Activity, Interval, Message
from integrations.intervals.workouts import OPEN_ZONE_BOUND, format_pace, pct_watts, power_zone_pct, speed_to_pace
from mcpserver import present
from mcpserver.bounds import ShortText
from mcpserver.catalogue import (
    AthleteEcho,
    AthleteInput,
    ToolCall,
    ToolFailure,
    ToolResult,
    ToolSpec,
    Untrusted,
    register,
)
from mcpserver.principal import AthleteAccess
from mcpserver.tools.coach_common import message_name, message_text, message_time, short
from mcpserver.tools.history import STRAVA_NOTE

MAX_INTERVALS = 40
MAX_COMMENTS = 10  # the thread's latest comments, in full; summary.comments counts them all
MAX_COMMENT_CHARS = 300


class ActivityInput(AthleteInput):
    activity_id: ShortText


ACTIVITY_ID = re.compile(r"[A-Za-z0-9_-]+")  # Intervals.icu ids ("i55610271") and Strava's digits


async def owned_activity(
    client: IntervalsClient, access: AthleteAccess, activity_id: str, *, intervals: bool = False
) -> Activity:
    """The activity if it belongs to the resolved athlete, else the same 'not found' failure.

    It is asked for through the athlete's own collection, so an id belonging to someone else never
    reaches an activity endpoint; the owner is checked again on what comes back.
    """
    wanted = activity_id.strip()
    missing = ToolFailure(
        f"No activity {wanted} for athlete {access.athlete_id}. List activities with get_training_history."
    )
    if not ACTIVITY_ID.fullmatch(wanted):
        raise missing  # '/', '..', '?', ',', '%2F' would change the upstream path the id is pasted into
    try:
        activity = await client.get_athlete_activity(access.athlete_id, wanted, intervals=intervals)
    except errors.UpstreamNotFound:
        raise missing from None
    if activity is None or (activity.icu_athlete_id and activity.icu_athlete_id != access.athlete_id):
        raise missing
    return activity


def pace_unit(sport: str | None) -> str:
    return "/100m" if sport and "Swim" in sport else "/km"


def pace_text(speed_m_s: float | None, sport: str | None) -> str | None:
    if not speed_m_s or speed_m_s <= 0:
        return None
    unit = pace_unit(sport)
    return format_pace(speed_to_pace(speed_m_s, unit), unit)


def uses_pace(sport: str | None) -> bool:
    return bool(sport) and any(w in (sport or "") for w in ("Run", "Swim", "Walk", "Hike"))


def zone_ranges(kind: str, bounds: Sequence[float] | None, threshold: float | None, sport: str | None) -> list[str]:
    """Readable range of each zone: power bounds are % of FTP, HR bounds bpm, pace bounds % of threshold speed."""
    if not bounds:
        return []
    out, low = [], 0.0
    for zone, upper in enumerate(bounds, start=1):
        top = None if upper >= OPEN_ZONE_BOUND else upper
        if kind == "power" and threshold:
            # As Intervals resolves a zone (and as get_athlete_profile shows it): Z2 from 56 % when Z1 ends at 55.
            lo_w = pct_watts((power_zone_pct(bounds, zone) or (low, top))[0], threshold)
            out.append(f"{lo_w}+ W" if top is None else f"{lo_w}-{pct_watts(top, threshold)} W")
        elif kind == "hr":
            out.append(f"{round(low)}+ bpm" if top is None else f"{round(low)}-{round(top)} bpm")
        elif kind == "pace" and threshold:
            slow = pace_text(threshold * low / 100, sport) if low else "slower"
            fast = pace_text(threshold * top / 100, sport) if top else "faster"
            out.append(f"{slow} to {fast}")
        else:
            out.append(f"{low:g}-{top:g}%" if top else f"{low:g}%+")
        low = upper
    return out


def zone_lines(seconds: Sequence[int | float], ranges: Sequence[str] = ()) -> list[str]:
    """'Z2 146-199 W: 0:19:36 (11%)' per zone with time in it; zones with no time are left out."""
    total = sum(s for s in seconds if s) or 0
    lines = []
    for i, secs in enumerate(seconds):
        if not secs:
            continue
        label = f"Z{i + 1}" + (f" {ranges[i]}" if i < len(ranges) else "")
        lines.append(f"{label}: {present.hms(secs)} ({round(secs / total * 100)}%)")
    return lines


def power_zone_seconds(activity: Activity) -> list[int]:
    return [z.secs or 0 for z in activity.icu_zone_times or [] if (z.id or "").startswith("Z")]


def activity_zones(activity: Activity) -> dict[str, list[str]]:
    sport = activity.type
    zones = {
        "power": zone_lines(
            power_zone_seconds(activity), zone_ranges("power", activity.icu_power_zones, activity.icu_ftp, sport)
        ),
        "hr": zone_lines(activity.icu_hr_zone_times or [], zone_ranges("hr", activity.icu_hr_zones, None, sport)),
        "pace": zone_lines(
            activity.pace_zone_times or [], zone_ranges("pace", activity.pace_zones, activity.threshold_pace, sport)
        ),
    }
    return {k: v for k, v in zones.items() if v}


class Table(BaseModel):
    """Rows as lists under one list of column names: a third of the bytes of a list of objects."""

    columns: list[str]
    rows: list[list[Any]]


def table(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Turn compacted records into a Table: the columns any record has, in first-seen order."""
    columns: list[str] = []
    for r in records:
        columns += [k for k in r if k not in columns]
    return {"columns": columns, "rows": [[r.get(c) for c in columns] for r in records]} if records else None


class DetailSummary(BaseModel):
    sport: str | None = None
    name: Untrusted | None = None
    time: str | None = None
    description: Untrusted | None = None
    race: bool | None = None
    indoor: bool | None = None
    gear: Untrusted | None = None
    duration: str | None = None
    elapsed: str | None = None
    distance_km: float | None = None
    climb_m: int | None = None
    avg_speed_kmh: float | None = None
    pace: str | None = None
    avg_power_w: int | None = None
    norm_power_w: int | None = None
    ftp_w: int | None = None
    intensity_pct: int | None = None
    load: int | None = None
    load_from: str | None = None
    variability_index: float | None = None
    efficiency_factor: float | None = None
    decoupling_pct: float | None = None
    avg_hr_bpm: int | None = None
    max_hr_bpm: int | None = None
    cadence_rpm: int | None = None
    cadence_spm: int | None = None
    strokes_per_min: int | None = None
    temp_c: float | None = None
    rpe: int | None = None
    feel: int | None = None
    comments: int | None = None
    planned_event_id: int | None = None
    work_intervals: int | None = None
    work_time: str | None = None
    intervals_omitted: int | None = None


class Comment(BaseModel):
    at: str | None = None
    by: Untrusted | None = None
    text: Untrusted | None = None
    deleted: bool | None = None


class DetailOutput(BaseModel):
    athlete: AthleteEcho
    id: str
    date: str
    unavailable: str | None = None
    summary: DetailSummary | None = None
    intervals: Table | None = None
    zones: dict[str, list[str]] | None = None
    comments: list[Comment] | None = None
    units: dict[str, str] | None = None


DETAIL_UNITS = {
    "figures": "Intervals.icu's own",
    "load": "1 h at threshold = 100",
    "decoupling_pct": "HR drift, < 5% = steady",
    "feel": "1 strong - 5 weak",
    "rpe": "1-10",
}
# What intensity is a % of, by what Intervals based the load on (its intensity is that load's).
INTENSITY_OF = {"power": "% of FTP", "hr": "% of threshold HR (LTHR)", "pace": "% of threshold pace"}
LOAD_FROM = {"power": "power", "hr": "heart rate", "pace": "pace"}
HR_LOAD_TYPES = {"HRSS": "HRSS", "AVG_HR": "average HR", "HR_ZONES": "time in HR zones"}
STROKE_SPORTS = ("Swim", "Row", "Kayak", "Canoe", "Paddl")
FOOT_SPORTS = ("Run", "Walk", "Hike")


def load_basis(a: Activity) -> str | None:
    """Which of power, heart rate or pace Intervals based the activity's load on: the one whose load it is.

    Intervals computes each it can (power_load, hr_load, pace_load) and takes the first of the sport's
    load order as icu_training_load: a run without power has hr_load 61 = icu_training_load (HRSS). Should
    two be equal, power goes before HR before pace (Intervals' default order), whichever the sport's order
    was: the load is the same number either way.
    """
    if a.icu_training_load is None:
        return None
    for basis, value in (("power", a.power_load), ("hr", a.hr_load), ("pace", a.pace_load)):
        if value is not None and round(value) == round(a.icu_training_load):
            return basis
    return None


def load_from(a: Activity, basis: str | None) -> str | None:
    if basis == "hr" and a.hr_load_type in HR_LOAD_TYPES:
        return f"heart rate ({HR_LOAD_TYPES[a.hr_load_type]})"
    if basis == "pace" and a.pace_load_type:
        return f"pace ({a.pace_load_type.lower()} pace)"
    return LOAD_FROM.get(basis or "")


def cadence(a: Activity) -> dict[str, int]:
    """Average cadence in the sport's own unit: rpm on a bike, steps/min on foot, strokes/min in water."""
    value = a.average_cadence
    sport = a.type or ""
    if not value:
        return {}
    if any(w in sport for w in STROKE_SPORTS):
        return {"strokes_per_min": round(value)}
    if any(w in sport for w in FOOT_SPORTS):
        # Recorded per stride (a left-right pair, as FIT files count it): 82 is 164 steps a minute. An
        # average of 120 or more was already counted in steps.
        return {"cadence_spm": round(value * 2 if value < 120 else value)}
    return {"cadence_rpm": round(value)}


def detail_units(shown: set[str], basis: str | None, thread: list[Message] | None) -> dict[str, str]:
    """The legend of the fields `shown` (no legend for a field the answer does not have)."""
    units = {**DETAIL_UNITS, "intensity_pct": INTENSITY_OF.get(basis or "", "% of threshold")}
    if thread and len(thread) > MAX_COMMENTS:
        units["comments"] = (
            f"the latest {MAX_COMMENTS} of {len(thread)} messages; summary.comments counts all not deleted"
        )
    return {k: v for k, v in units.items() if k in shown or k == "figures"}


def window(start: date, end: date) -> str:
    """'Mon 2026-11-09 to Sun 2026-11-22': one string for a date window, both ends with weekday."""
    return f"{present.day_label(start)} to {present.day_label(end)}"


def tidy(data: dict[str, Any]) -> dict[str, Any]:
    """present.compact for a dict, typed: drops None and empty values recursively."""
    out = present.compact(data)
    assert isinstance(out, dict)
    return out


def interval_row(iv: Interval, sport: str | None) -> dict[str, Any]:
    return tidy(
        {
            "type": (iv.type or "interval").lower(),
            "duration": present.hms(iv.moving_time if iv.moving_time is not None else iv.elapsed_time),
            "distance_km": present.km(iv.distance) if iv.distance else None,
            "avg_power_w": present.rnd(iv.average_watts),
            "intensity_pct": present.rnd(iv.intensity),
            "avg_hr_bpm": present.rnd(iv.average_heartrate),
            "max_hr_bpm": present.rnd(iv.max_heartrate),
            "pace": pace_text(iv.average_speed, sport) if uses_pace(sport) else None,
            "zone": iv.zone,
            "group": iv.group_id,
        }
    )


def day_and_time(activity: Activity) -> tuple[str, str | None]:
    local = present.parse_local(activity.start_date_local)
    if local is None:
        return activity.start_date_local or "", None
    return present.day_label(local.date()), local.strftime("%H:%M")


def comment_row(m: Message, tz_name: str) -> dict[str, Any]:
    """One comment: its author, when (athlete-local) and its text; a deleted one is marked, its text gone."""
    when = present.parse_local(message_time(m))
    if when is not None and when.tzinfo is not None:
        when = when.astimezone(present.zone(tz_name))
    row: dict[str, Any] = {"at": f"{present.day_label(when.date())} {when:%H:%M}" if when else None}
    row["by"] = present.untrusted(message_name(m))  # the writer's own words: data, never instructions
    if m.deleted:
        row["deleted"] = True
    else:
        row["text"] = present.untrusted(short(message_text(m), MAX_COMMENT_CHARS))
    return row


async def comment_thread(client: IntervalsClient, access: AthleteAccess, activity: Activity) -> list[Message] | None:
    """The activity's comment thread, oldest first; None when it cannot be read."""
    if activity.icu_chat_id is None:
        return []  # no chat was ever opened on it
    if not access.allows_scope("CHATS:READ"):
        return None
    try:
        messages = await client.list_activity_messages(activity.id)
    except (errors.UpstreamForbidden, errors.UpstreamNotFound):
        return None
    return sorted(messages, key=lambda m: m.id or 0)  # ids grow with time, whatever order they come in


async def get_activity_detail(call: ToolCall, args: ActivityInput) -> ToolResult:
    access = call.athlete(args.athlete)
    client = access.client()
    a = await owned_activity(client, access, args.activity_id, intervals=True)
    day, clock = day_and_time(a)
    if a.is_strava_stub:
        stub = {"athlete": access.echo(), "id": a.id, "date": day, "unavailable": STRAVA_NOTE}
        text = f"{present.fence(access.name)}: activity {a.id} on {day} came from Strava; {STRAVA_NOTE}"
        return ToolResult(data=stub, text=text)
    thread = await comment_thread(client, access, a)
    basis = load_basis(a)
    sport = a.type
    ivs = a.icu_intervals or []
    work = [iv for iv in ivs if (iv.type or "").upper() == "WORK"]
    summary = {
        "sport": sport,
        "name": present.untrusted(a.name),
        "time": clock,
        "description": present.untrusted(a.description, 300),
        "race": True if a.race else None,
        "indoor": True if a.trainer else None,
        "gear": present.untrusted(a.gear.name) if a.gear else None,
        "duration": present.hms(a.moving_time),
        "elapsed": present.hms(a.elapsed_time) if a.elapsed_time != a.moving_time else None,
        "distance_km": present.km(a.distance) if a.distance else None,
        "climb_m": present.rnd(a.total_elevation_gain),
        "avg_speed_kmh": present.rnd(a.average_speed * 3.6, 1) if a.average_speed and not uses_pace(sport) else None,
        "pace": pace_text(a.average_speed, sport) if uses_pace(sport) else None,
        "avg_power_w": present.rnd(a.icu_average_watts),
        "norm_power_w": present.rnd(a.icu_weighted_avg_watts),
        "ftp_w": present.rnd(a.icu_ftp),
        "intensity_pct": present.rnd(a.icu_intensity),
        "load": present.rnd(a.icu_training_load),
        "load_from": load_from(a, basis),
        "variability_index": present.rnd(a.icu_variability_index, 2),
        "efficiency_factor": present.rnd(a.icu_efficiency_factor, 2),
        "decoupling_pct": present.rnd(a.decoupling, 1),
        "avg_hr_bpm": present.rnd(a.average_heartrate),
        "max_hr_bpm": present.rnd(a.max_heartrate),
        **cadence(a),
        "temp_c": a.average_weather_temp,
        "rpe": a.icu_rpe,
        "feel": a.feel,
        "comments": None if thread is None else sum(1 for m in thread if not m.deleted),
        "planned_event_id": a.paired_event_id,
        "work_intervals": len(work) or None,
        "work_time": present.hms(sum(iv.moving_time or 0 for iv in work)) if work else None,
        "intervals_omitted": max(0, len(ivs) - MAX_INTERVALS) or None,
    }
    data = tidy(
        {
            "athlete": access.echo(),
            "id": a.id,
            "date": day,
            "summary": summary,
            "intervals": table([interval_row(iv, sport) for iv in ivs[:MAX_INTERVALS]]),
            "zones": activity_zones(a),
            "comments": [comment_row(m, access.timezone or "UTC") for m in (thread or [])[-MAX_COMMENTS:]],
        }
    )
    data["units"] = detail_units({*data["summary"], *data.get("intervals", {}).get("columns", [])}, basis, thread)
    bits = [f"{sport} {present.fence(a.name)} {day}", present.hms(a.moving_time) or ""]
    if a.icu_training_load is not None:
        bits.append(f"load {round(a.icu_training_load)}")
    if a.icu_weighted_avg_watts:
        bits.append(f"NP {round(a.icu_weighted_avg_watts)} W")
    if a.average_heartrate:
        bits.append(f"avg HR {round(a.average_heartrate)} bpm")
    if work:
        bits.append(f"{len(work)} work intervals")
    text = f"{present.fence(access.name)}: " + ", ".join(b for b in bits if b) + "."
    return ToolResult(data=data, text=text)


register(
    ToolSpec(
        name="get_activity_detail",
        title="Activity detail",
        description=(
            "One activity (id from get_training_history): summary, intervals, zone times, RPE/feel, comments."
        ),
        input_model=ActivityInput,
        output_model=DetailOutput,
        handler=get_activity_detail,
        scope="ACTIVITY:READ",
    )
)
