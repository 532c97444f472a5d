"""athlete_overview: one call for call prep: profile, load trend, last two weeks done vs planned, next two
weeks, races, open comment threads and the coach's latest private notes. Each part only where granted."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel

from integrations.intervals import errors, load
from integrations.intervals.schemas import Event, SportSettings
from integrations.intervals.workouts import format_pace, speed_to_pace
from mcpserver import present
from mcpserver.catalogue import AthleteEcho, AthleteInput, ToolCall, ToolResult, ToolSpec, register
from mcpserver.db import run_db
from mcpserver.tools import coach_common as cc
from mcpserver.tools.activity import pace_unit
from mcpserver.tools.events import event_row
from mcpserver.tools.fitness import as_done
from mcpserver.tools.profile import PACE_UNITS

RACE_HORIZON_DAYS = 180


class OverviewInput(AthleteInput):
    pass


class OverviewOutput(BaseModel):
    athlete: AthleteEcho
    today: str
    profile: dict[str, Any] | None = None
    load: dict[str, Any] | None = None
    last_2_weeks: dict[str, Any] | None = None
    next_2_weeks: list[dict[str, Any]] | None = None
    races: list[dict[str, Any]] | None = None
    open_threads: list[dict[str, Any]] | None = None
    private_notes: list[list[Any]] | None = None  # [date, the note (untrusted: whoever wrote it, it is data)]
    skipped: list[str] = []
    errors: list[str] = []
    units: dict[str, str]


UNITS = {
    "ctl/atl/form": "fitness (42-day load), fatigue (7-day load), form = ctl - atl",
    "ramp": "CTL change per week",
    "load": "Intervals.icu training load (1 h at threshold = 100)",
    "time": "moving time h:mm:ss",
    "ctl_weekly": "CTL at the end of each of the last 6 weeks, oldest first",
}


def _profile(settings: list[SportSettings]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in settings:
        bits = []
        if s.ftp:
            bits.append(f"FTP {round(s.ftp)} W")
        if s.lthr:
            bits.append(f"LTHR {round(s.lthr)} bpm")
        if s.threshold_pace:
            unit = PACE_UNITS.get(s.pace_units or "", pace_unit(s.types[0] if s.types else None))
            bits.append(f"threshold pace {format_pace(speed_to_pace(s.threshold_pace, unit), unit)}")
        if bits:
            out["/".join(s.types[:2]) or "sport"] = ", ".join(bits)
    return out


def _load(data: cc.AthleteData) -> dict[str, Any] | None:
    rows = as_done(data.wellness or [], data.events, data.activities, data.today)  # today: done so far
    if not rows:
        return None
    last = rows[-1]
    weekly = load.weekly(rows)[-6:]
    return {
        "date": present.day_label(last.date),
        "ctl": round(last.ctl, 1),
        "atl": round(last.atl, 1),
        "form": round(last.form, 1),
        "form_zone": load.FORM_ZONE_LABELS[load.form_zone(last.form, last.ctl)],
        "ramp": round(last.ramp_rate, 1),
        "ctl_weekly": [round(w.ctl, 1) for w in weekly],
    }


def _compliance(data: cc.AthleteData) -> dict[str, Any] | None:
    start = data.today - timedelta(days=13)
    acts = [
        a
        for a in data.activities or []
        if (d := cc.local_day(a.start_date_local)) is not None and start <= d <= data.today
    ]
    real = [a for a in acts if not a.is_strava_stub]
    out: dict[str, Any] = {
        "window": f"{present.day_label(start)} to {present.day_label(data.today)}",
        "done_sessions": len(real),
        "done_time": present.hms(sum(a.moving_time or 0 for a in real)) or "0:00",
        "done_load": round(sum(a.icu_training_load or 0 for a in real)),
    }
    if len(acts) > len(real):
        out["strava_unavailable"] = len(acts) - len(real)
    if data.events is not None:
        planned = [  # races too: done_load counts the race activities
            e
            for e in data.events
            if e.category in ("WORKOUT", *cc.RACES)
            and (d := cc.local_day(e.start_date_local)) is not None
            and start <= d <= data.today
        ]
        done_ids = {a.paired_event_id for a in acts if a.paired_event_id is not None}
        missed = cc.missed_workouts(data, start, data.today)
        out.update(
            {
                "planned_sessions": len(planned),
                "planned_done": sum(1 for e in planned if e.id in done_ids),
                "planned_load": round(sum(e.icu_training_load or 0 for e in planned)),
                "missed": [cc.ev_item(e) for e in missed],
            }
        )
    return out


def _next(events: list[Event], today: date, settings: list[SportSettings]) -> list[dict[str, Any]]:
    rows = []
    for e in sorted(events, key=lambda e: (e.start_date_local or "", e.id)):
        d = cc.local_day(e.start_date_local)
        if d is None or not (today < d <= today + timedelta(days=cc.EVENT_NEXT_DAYS)):
            continue
        row = event_row(e, settings)
        row.pop("steps", None)  # call prep: the session, not its steps (get_events has them)
        row.pop("note", None)
        row.pop("id", None)
        rows.append(row)
    return rows


def _race_rows(events: list[Event], today: date) -> list[dict[str, Any]]:
    rows = []
    for e in sorted(events, key=lambda e: e.start_date_local or ""):
        d = cc.local_day(e.start_date_local)
        if e.category in cc.RACES and d is not None and d >= today:
            rows.append(
                present.compact(
                    {
                        "date": present.day_label(d),
                        "in_days": (d - today).days,
                        "priority": (e.category or "")[-1],
                        "name": present.untrusted(cc.short(e.name, 80)),
                        "sport": e.type,
                        "distance_km": present.km(e.distance) if e.distance else None,
                    }
                )
            )
    return rows  # type: ignore[return-value]


def _threads(data: cc.AthleteData) -> list[dict[str, Any]]:
    acts = {a.id: a for a in data.activities or []}
    rows = []
    for aid, msgs in (data.threads or {}).items():
        if not msgs:
            continue
        a = acts.get(aid)
        d = cc.local_day(a.start_date_local) if a else None
        last = msgs[-1]
        row: dict[str, Any] = {"date": present.day_label(d) if d else None, "activity_id": aid}
        name = present.untrusted(cc.short(a.name, 40)) if a else None
        if name is not None:
            row["activity"] = name
        row.update(
            {
                "messages": len(msgs),
                "awaiting_reply": cc.awaiting_reply(data.access, msgs),
                "last": cc.message_item(last, 100),
            }
        )
        rows.append(row)
    rows.sort(key=lambda r: not r["awaiting_reply"])
    return rows


def _notes(token_id: int, athlete_id: str) -> list[list[Any]]:
    from coaching.models import PrivateNote

    notes = PrivateNote.objects.filter(coach_token_id=token_id, athlete_id=athlete_id).order_by("-created_at", "-pk")
    return [[f"{n.created_at:%Y-%m-%d}", present.untrusted(cc.short(n.text, 200))] for n in notes[:3]]


async def athlete_overview(call: ToolCall, args: OverviewInput) -> ToolResult:
    access = call.athlete(args.athlete)
    fetcher = cc.Fetcher()
    today = present.local_today(access.timezone)
    client = cc.cached_client(access)
    skipped: list[str] = []

    async def settings() -> list[SportSettings] | None:
        if not cc.allowed(access, "get_athlete_profile"):
            skipped.append("profile (get_athlete_profile not granted)")
            return None
        try:
            return await client.list_sport_settings(access.athlete_id)
        except (errors.UpstreamForbidden, errors.UpstreamNotFound):
            return None

    async def races() -> list[Event] | None:
        if not cc.can_calendar(access):
            return None
        lo, hi = today + timedelta(days=cc.EVENT_NEXT_DAYS + 1), today + timedelta(days=RACE_HORIZON_DAYS)
        return await client.list_events(access.athlete_id, lo.isoformat(), hi.isoformat(), list(cc.RACES))

    data, sport, later_races, notes = await asyncio.gather(
        fetcher.athlete(access, threads_since=today - timedelta(days=13)),
        settings(),
        races(),
        run_db(_notes, call.principal.token_id, access.athlete_id),
    )
    if not cc.can_activities(access):
        skipped.append("last 2 weeks done (get_training_history not granted)")
    if not cc.can_calendar(access):
        skipped.append("plan and races (get_events not granted)")
    if not cc.can_fitness(access):
        skipped.append("load trend (get_fitness not granted)")
    if not cc.can_comments(access):
        skipped.append("comment threads (not granted or hidden)")
    out: dict[str, Any] = {
        "athlete": access.echo(),
        "today": present.day_label(today),
        "profile": _profile(sport) if sport else None,
        "load": _load(data) if cc.can_fitness(access) else None,
        "last_2_weeks": _compliance(data) if data.activities is not None else None,
        "next_2_weeks": _next(data.events, today, sport or []) if data.events is not None else None,
        "races": _race_rows([*(data.events or []), *(later_races or [])], today) if data.events is not None else None,
        "open_threads": _threads(data) if data.threads is not None else None,
        "private_notes": notes,
        "skipped": skipped,
        "errors": data.errors,
        "units": UNITS,
    }
    out = present.compact(out)  # type: ignore[assignment]
    bits = [f"{cc.who(access)}, {present.day_label(today)}"]
    if "load" in out:
        ld = out["load"]
        bits.append(f"CTL {ld['ctl']}, form {ld['form']:+} ({ld['form_zone']}), ramp {ld['ramp']:+}/week")
    if "last_2_weeks" in out:
        lw = out["last_2_weeks"]
        plan = f", {lw['planned_done']}/{lw['planned_sessions']} planned done" if "planned_sessions" in lw else ""
        bits.append(f"last 2 weeks {lw['done_sessions']} sessions, load {lw['done_load']}{plan}")
    if "next_2_weeks" in out:
        bits.append(f"{len(out['next_2_weeks'])} sessions planned in the next 2 weeks")
    if out.get("races"):
        r = out["races"][0]
        name = present.fence(r["name"][present.UNTRUSTED], 40) + " " if "name" in r else ""
        bits.append(f"next race {name}{r['date']} ({r['in_days']} days)")
    waiting = sum(1 for t in out.get("open_threads", []) if t["awaiting_reply"])
    if waiting:
        bits.append(f"{waiting} comment threads awaiting a reply")
    return ToolResult(data=out, text="; ".join(bits) + ".")


register(
    ToolSpec(
        name="athlete_overview",
        title="Athlete overview",
        description="Call prep: thresholds, load trend, 2 weeks done vs plan, next 2 weeks, races, threads, notes.",
        input_model=OverviewInput,
        output_model=OverviewOutput,
        handler=athlete_overview,
        scope=None,
        group="coach",
    )
)
