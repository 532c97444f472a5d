"""Deterministic generation of one athlete's history, plan, wellness, library and comments."""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from . import extern, physics
from .athletes import COACH_ID, AthleteSpec, connections, profile, sport_settings
from .plans import TEMPLATES, Segment, Session, pick_session, ride_session, run_session, swim_session

EPOCH = 738000  # ordinal offset used in ids
STRAVA_NOTE = "STRAVA activities are not available via the API"


def activity_id(day: dt.date, idx: int, k: int) -> str:
    return f"i{50_000_000 + (day.toordinal() - EPOCH) * 10000 + idx * 10 + k}"


def event_id(day: dt.date, idx: int, k: int) -> int:
    return 300_000_000 + (day.toordinal() - EPOCH) * 10000 + idx * 10 + k


@dataclass
class ActivityRec:
    id: str
    athlete_id: str
    day: dt.date
    session: Session
    ctx: physics.ActCtx
    data: dict[str, Any]
    stub: bool
    load: float

    @property
    def start_local(self) -> str:
        return str(self.data["start_date_local"])


@dataclass
class AthleteData:
    spec: AthleteSpec
    profile: dict[str, Any]
    settings: list[dict[str, Any]]
    connections: dict[str, Any]
    activities: list[ActivityRec] = field(default_factory=list)
    by_id: dict[str, ActivityRec] = field(default_factory=dict)
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    wellness: dict[dt.date, dict[str, Any]] = field(default_factory=dict)
    folders: dict[int, dict[str, Any]] = field(default_factory=dict)
    workouts: dict[int, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    chats: dict[str, int] = field(default_factory=dict)
    pending_events: dict[int, dict[str, Any]] = field(default_factory=dict)  # eid → sport settings
    pending_workouts: dict[int, dict[str, Any]] = field(default_factory=dict)
    history_start: dt.date = dt.date(2000, 1, 1)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def timezone(self) -> str:
        return self.spec.timezone

    def __getitem__(self, key: str) -> Any:
        """Profile fields by name (``athlete["timezone"]``), like the API's athlete object."""
        return self.profile[key]

    def settings_for(self, sport: str | None) -> dict[str, Any] | None:
        for s in self.settings:
            if sport and sport in s.get("types", []):
                return s
        for s in self.settings:
            if s.get("other"):
                return s
        return None


def _family(sport: str) -> str:
    return {"Ride": "ride", "VirtualRide": "ride", "Run": "run", "Swim": "swim"}.get(sport, "ride")


def add_surges(session: Session, rng: random.Random, indoor: bool) -> list[Segment]:
    segs = session.segments()
    if indoor or session.sport == "Swim":
        return segs
    out: list[Segment] = []
    for s in segs:
        if s.kind == "steady" and s.secs >= 1200 and rng.random() < 0.7:
            surge = rng.randint(8, 15)
            lvl = rng.uniform(1.8, 2.6) if session.sport in physics.POWER_SPORTS else rng.uniform(1.15, 1.25)
            a = rng.randint(300, s.secs - 300)
            out.append(Segment(a, s.start, s.start, s.kind))
            out.append(Segment(surge, lvl, lvl, "work", "surge"))
            out.append(Segment(s.secs - a - surge, s.end, s.end, s.kind))
        else:
            out.append(s)
    return out


def _interval_summary(session: Session, ctx: physics.ActCtx) -> list[str]:
    out = []
    for b in session.blocks:
        if b.reps > 1:
            top = max(b.steps, key=lambda s: s.mid)
            if ctx.power:
                out.append(
                    f"{b.reps}x {top.secs // 60 or top.secs}{'m' if top.secs >= 60 else 's'} "
                    f"{round(top.mid / 100 * (ctx.ftp or 0))}w"
                )
            else:
                out.append(f"{b.reps}x {top.secs // 60 or top.secs}{'m' if top.secs >= 60 else 's'} {top.mid:g}%")
    return out


class Generator:
    def __init__(self, seed: int, today: dt.date, history_days: int, plan_days: int, coached: set[str]) -> None:
        self.seed = seed
        self.coached = coached
        self.today = today
        self.history_days = history_days
        self.plan_days = plan_days

    def athlete(self, spec: AthleteSpec, api_key: str) -> AthleteData:
        data = AthleteData(
            spec=spec,
            profile=profile(spec, self.seed, api_key),
            settings=sport_settings(spec),
            connections=connections(spec),
        )
        tz = ZoneInfo(spec.timezone)
        start = self.today - dt.timedelta(days=self.history_days - 1)
        data.history_start = start
        template = TEMPLATES["coach" if spec.coach else spec.kind]
        day = start
        end = self.today + dt.timedelta(days=self.plan_days)
        while day <= end:
            self._day(data, spec, template, day, tz)
            day += dt.timedelta(days=1)
        self._races_and_notes(data, spec)
        self._library(data, spec)
        if COACH_ID != spec.id and spec.index < 4:
            self._messages(data, spec)
        return data

    # ------------------------------------------------------------------------------------------------
    def _day(self, data: AthleteData, spec: AthleteSpec, template: Any, day: dt.date, tz: ZoneInfo) -> None:
        rng = random.Random(f"{self.seed}:{spec.id}:{day.isoformat()}")
        week_no = (day.toordinal() - 1) // 7
        recovery = week_no % 4 == 3
        slots = list(template.get(day.weekday(), []))
        if spec.index >= 4 and rng.random() < 0.25:
            slots = slots[:0]
        race = day < self.today and day.weekday() == 5 and week_no % 9 == spec.index % 9 and spec.index < 4
        if race:
            fam = "run" if spec.kind in ("runner", "triathlete") else "ride"
            slots = [(fam, "race")]
        past = day < self.today
        skip = past and not race and rng.random() < 0.06
        for k, (fam, kind) in enumerate(slots):
            indoor = fam == "ride" and day.weekday() < 5 and rng.random() < 0.55 and spec.kind != "triathlete"
            if spec.kind == "triathlete" and fam == "ride" and kind != "long":
                indoor = rng.random() < 0.4
            if fam == "ride" and not spec.ftp:
                fam = "run"
            if fam == "run" and not spec.run_pace:
                fam, kind = "ride", "endurance"
            if kind == "race":
                session = (ride_session if fam == "ride" else run_session)("race", rng)
            else:
                session = pick_session(fam, kind, week_no, recovery, rng, spec.hours_scale, indoor)
            settings = data.settings_for(session.sport) or {}
            ev_id = None
            if session.structured and (day >= self.today - dt.timedelta(days=42)):
                ev_id = event_id(day, spec.index, k)
                created_by = COACH_ID if spec.id in self.coached else spec.id
                data.events[ev_id] = planned_event(ev_id, spec.id, day, session, settings, created_by)
                data.pending_events[ev_id] = settings
            if not past or skip:
                continue
            data_rec = self._activity(data, spec, day, k, session, indoor, rng, tz, settings, race)
            if ev_id is not None:
                data_rec.data["paired_event_id"] = ev_id
            data.activities.append(data_rec)
            data.by_id[data_rec.id] = data_rec

    def _activity(
        self,
        data: AthleteData,
        spec: AthleteSpec,
        day: dt.date,
        k: int,
        session: Session,
        indoor: bool,
        rng: random.Random,
        tz: ZoneInfo,
        settings: dict[str, Any],
        race: bool,
    ) -> ActivityRec:
        aid = activity_id(day, spec.index, k)
        segs = add_surges(session, rng, indoor)
        swim = session.sport == "Swim"
        ctx = physics.ActCtx(
            key=f"{self.seed}:{aid}",
            sport=session.sport,
            segments=segs,
            indoor=indoor,
            ftp=spec.ftp,
            thr_speed=settings.get("threshold_pace"),
            rest_hr=spec.resting_hr,
            lthr=settings.get("lthr", spec.lthr),
            max_hr=spec.max_hr,
            weight=spec.weight,
            lat=spec.lat,
            lng=spec.lng,
            has_hr=not swim,
        )
        summary = physics.summarize(
            ctx, rng, settings.get("hr_zones", []), settings.get("power_zones", []), settings.get("pace_zones")
        )
        if k == 0:
            hh, mm = (
                (rng.randint(6, 7), rng.randint(0, 59))
                if day.weekday() < 5
                else (rng.randint(8, 9), rng.randint(0, 59))
            )
        else:
            hh, mm = rng.randint(17, 18), rng.randint(0, 59)
        local = dt.datetime(day.year, day.month, day.day, hh, mm, rng.randint(0, 59))
        utc = local.replace(tzinfo=tz).astimezone(dt.UTC)
        strava = "strava" in spec.connections and k == 0 and (day.toordinal() % 61) == (spec.index * 13) % 61
        device, source = _device(spec, session.sport, indoor, rng)
        intensity = float(summary.get("icu_intensity", 70)) / 100
        rpe = max(1, min(10, round(1 + intensity * 6.5 + rng.gauss(0, 0.8) + (1 if race else 0))))
        part = "Morning" if hh < 11 else "Evening"
        sport_word = {"Ride": "Ride", "VirtualRide": "Ride", "Run": "Run", "Swim": "Swim"}[session.sport]
        name = session.name if session.structured else f"{part} {sport_word}"
        if session.sport == "VirtualRide":
            name = f"Zwift - {session.name}" if session.structured else "Zwift - Watopia"
        if race:
            name = session.name
        a: dict[str, Any] = {
            "id": aid,
            "icu_athlete_id": spec.id,
            "start_date_local": local.isoformat(),
            "start_date": utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timezone": spec.timezone,
            "type": session.sport,
            "name": name,
            "description": None,
            "source": source,
            "device_name": device,
            "file_type": "fit",
            "external_id": f"{aid[1:]}.fit" if source == "UPLOAD" else None,
            "trainer": indoor,
            "commute": False,
            "race": race,
            "sub_type": "RACE" if race else "NONE",
            "feel": rng.choice([1, 2, 2, 3, 3, 3, 4]) if rng.random() < 0.75 else None,
            "icu_rpe": rpe if rng.random() < 0.8 else None,
            "icu_lap_count": len(segs),
            "icu_weight": spec.weight,
            "icu_resting_hr": spec.resting_hr,
            "analyzed": (utc + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "created": (utc + dt.timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "icu_sync_date": (utc + dt.timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tags": ["race"] if race else [],
            "interval_summary": _interval_summary(session, ctx),
            "icu_achievements": [],
            "icu_ignore_time": False,
            "icu_ignore_power": False,
            "icu_ignore_hr": False,
            "lock_intervals": False,
            "icu_intervals_edited": False,
            "has_weather": not indoor and not swim,
            "has_segments": False,
            "use_elevation_correction": False,
            "strava_id": None,
        }
        a.update(summary)
        if a.get("icu_rpe"):
            a["session_rpe"] = a["icu_rpe"] * round(a["moving_time"] / 60)
        if ctx.power:
            a["icu_w_prime"] = settings.get("w_prime")
            a["p_max"] = settings.get("p_max")
            a["icu_ftp"] = spec.ftp
            a["gear"] = {
                "id": f"b{spec.number}1",
                "name": "Canyon Aeroad CF SLX" if spec.sex == "F" else "Specialized Tarmac SL7",
                "distance": 12_345_000.0,
                "primary": True,
            }
        elif session.sport == "Run":
            a["gear"] = {"id": f"g{spec.number}2", "name": "Nike Pegasus 41", "distance": 412_000.0, "primary": True}
        if not indoor and not swim:
            a["average_weather_temp"] = round(rng.uniform(2, 24), 1)
            a["average_temp"] = round(a["average_weather_temp"] + 3, 1)
            a["average_wind_speed"] = round(rng.uniform(0.5, 7), 1)
        types = ["time", "cadence", "velocity_smooth", "distance"]
        if ctx.power:
            types.append("watts")
        if ctx.has_hr:
            types.append("heartrate")
        if not indoor and not swim:
            types += ["altitude", "latlng", "grade_smooth"]
        a["stream_types"] = types
        if strava:
            a["source"] = "STRAVA"
            a["strava_id"] = str(14_000_000_000 + (day.toordinal() - EPOCH) * 10000 + spec.index * 10 + k)
            stub_id = a["strava_id"]
            a["id"] = stub_id
            aid = stub_id
        a = {k2: v for k2, v in a.items() if v is not None}
        load = float(a.get("icu_training_load", 0))
        return ActivityRec(
            id=aid, athlete_id=spec.id, day=day, session=session, ctx=ctx, data=a, stub=strava, load=load
        )

    # ------------------------------------------------------------------------------------------------
    def _races_and_notes(self, data: AthleteData, spec: AthleteSpec) -> None:
        idx = spec.index
        sport = "Run" if spec.kind == "runner" else "Ride"
        # past races get a RACE_B event on the race day
        for rec in data.activities:
            if rec.data.get("race"):
                eid = event_id(rec.day, idx, 7)
                data.events[eid] = base_event(
                    eid, spec.id, rec.day, "RACE_B", rec.session.sport, rec.session.name, "Target race.", spec.id
                )
                rec.data["paired_event_id"] = eid
        races = [
            (9, "RACE_C", "Club time trial" if sport == "Ride" else "Parkrun 5k"),
            (23, "RACE_B", "Spring Classic" if sport == "Ride" else "10k road race"),
            (
                45,
                "RACE_A",
                "Vätternrundan"
                if spec.id == "i100001"
                else "Half marathon championship"
                if sport == "Run"
                else "Regional championship",
            ),
        ]
        if spec.kind == "triathlete":
            races[2] = (45, "RACE_A", "Ironman 70.3 Taupō")
            sport = "Ride"
        for offset, cat, name in races:
            d = self.today + dt.timedelta(days=offset)
            d += dt.timedelta(days=(5 - d.weekday()) % 7)
            eid = event_id(d, idx, 8 if cat != "RACE_A" else 9)
            rtype = "Run" if spec.kind == "runner" else "Ride"
            if spec.kind == "triathlete" and cat == "RACE_A":
                rtype = "Ride"
            data.events[eid] = base_event(
                eid,
                spec.id,
                d,
                cat,
                rtype,
                name,
                f"{'A' if cat == 'RACE_A' else 'B' if cat == 'RACE_B' else 'C'} race.",
                spec.id,
            )
        d0 = self.today - dt.timedelta(days=56)
        d = d0
        while d <= self.today + dt.timedelta(days=self.plan_days):
            if d.weekday() == 0 and ((d.toordinal() - 1) // 7) % 4 == 3:
                eid = event_id(d, idx, 6)
                data.events[eid] = base_event(
                    eid,
                    spec.id,
                    d,
                    "NOTE",
                    None,
                    "Recovery week",
                    "Volume down ~30%, keep intensity short. Sleep!",
                    COACH_ID if spec.id in self.coached else spec.id,
                )
            d += dt.timedelta(days=1)
        d = self.today + dt.timedelta(days=3)
        eid = event_id(d, idx, 5)
        data.events[eid] = base_event(
            eid,
            spec.id,
            d,
            "NOTE",
            None,
            "Work travel",
            "Hotel gym only Thu-Fri, swap the long session if needed.",
            spec.id,
        )

    def _library(self, data: AthleteData, spec: AthleteSpec) -> None:
        rng = random.Random(f"{self.seed}:{spec.id}:library")
        sessions: list[Session] = []
        if spec.ftp:
            sessions += [
                ride_session(k, rng, indoor=True) for k in ("sweetspot", "threshold", "vo2", "anaerobic", "tempo")
            ]
        if spec.run_pace:
            sessions += [run_session(k, rng) for k in ("tempo", "intervals", "strides", "long")]
        if spec.swim_pace:
            sessions += [swim_session(k, rng) for k in ("css", "endurance")]
        fid = 41_000_000 + spec.index * 100
        plan_id = fid + 1
        data.folders[fid] = {
            "id": fid,
            "athlete_id": spec.id,
            "type": "FOLDER",
            "name": "Key sessions",
            "description": "Go-to quality workouts.",
            "visibility": "PRIVATE",
            "canEdit": True,
            "activity_types": sorted({s.sport for s in sessions}),
            "read_only_workouts": False,
            "sharedWithCount": 0,
        }
        data.folders[plan_id] = {
            "id": plan_id,
            "athlete_id": spec.id,
            "type": "PLAN",
            "name": "4-week build",
            "description": "Three build weeks and one recovery week.",
            "visibility": "PRIVATE",
            "canEdit": True,
            "duration_weeks": 4,
            "start_date_local": None,
            "activity_types": sorted({s.sport for s in sessions}),
            "read_only_workouts": False,
            "sharedWithCount": 0,
            "rollout_weeks": 0,
        }
        wid = 40_000_000 + spec.index * 1000
        for n, s in enumerate(sessions):
            settings = data.settings_for(s.sport) or {}
            data.workouts[wid + n] = library_workout(
                wid + n, spec.id, fid, s.name, s.sport, s.text(), settings, indoor=s.sport == "VirtualRide", day=None
            )
            data.pending_workouts[wid + n] = settings
        for n, s in enumerate(sessions[:6]):
            settings = data.settings_for(s.sport) or {}
            w = library_workout(
                wid + 100 + n, spec.id, plan_id, s.name, s.sport, s.text(), settings, indoor=False, day=1 + n * 2
            )
            data.workouts[wid + 100 + n] = w
            data.pending_workouts[wid + 100 + n] = settings
        for f in data.folders.values():
            f["num_workouts"] = sum(1 for w in data.workouts.values() if w["folder_id"] == f["id"])

    def _messages(self, data: AthleteData, spec: AthleteSpec) -> None:
        coach_name = "Sam Okafor"
        recent = [a for a in data.activities if a.day >= self.today - dt.timedelta(days=14) and not a.stub]
        mid = 50_000_000 + spec.index * 10000
        lines = [
            "Nice control on the work intervals — HR stayed well under LTHR.",
            "How did the legs feel on the last rep? Power faded a bit.",
            "Good execution. Keep the recovery spins truly easy this week.",
            "Was that the new saddle? Cadence looked smoother.",
        ]
        replies = [
            "Felt strong, last one was hard though!",
            "Legs were heavy from Saturday.",
            "Thanks! Will keep it easy tomorrow.",
        ]
        for n, a in enumerate(reversed(recent)):
            if n % 2:
                continue
            created = dt.datetime.fromisoformat(a.data["start_date"].replace("Z", "+00:00"))
            msgs = []
            mid += 1
            msgs.append(_message(mid, COACH_ID, coach_name, created + dt.timedelta(hours=3), lines[n % 4], a.id))
            if n % 4 == 2:
                mid += 1
                msgs.append(_message(mid, spec.id, spec.name, created + dt.timedelta(hours=5), replies[n % 3], a.id))
            data.messages[a.id] = msgs
            chat_id = 60_000_000 + spec.index * 10000 + n
            data.chats[a.id] = chat_id
            a.data["icu_chat_id"] = chat_id


def _device(spec: AthleteSpec, sport: str, indoor: bool, rng: random.Random) -> tuple[str, str]:
    if sport == "VirtualRide":
        return "Zwift", "ZWIFT" if "zwift" in spec.connections else "UPLOAD"
    if "garmin_training" in spec.connections:
        return ("Garmin Edge 840" if sport == "Ride" else "Garmin Forerunner 965"), "GARMIN_CONNECT"
    if "coros" in spec.connections:
        return "COROS PACE 3", "COROS"
    if "wahoo" in spec.connections:
        return "Wahoo ELEMNT BOLT", "WAHOO"
    return "Garmin Edge 540", "UPLOAD"


def _message(mid: int, author: str, name: str, created: dt.datetime, content: str, activity: str) -> dict[str, Any]:
    return {
        "id": mid,
        "athlete_id": author,
        "name": name,
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": "TEXT",
        "content": content,
        "activity_id": activity,
        "seen": True,
    }


def base_event(
    eid: int,
    athlete_id: str,
    day: dt.date,
    category: str,
    sport: str | None,
    name: str,
    description: str | None,
    created_by: str,
) -> dict[str, Any]:
    nxt = day + dt.timedelta(days=1)
    return {
        "id": eid,
        "uid": f"{eid}@intervals.icu",
        "athlete_id": athlete_id,
        "category": category,
        "type": sport,
        "start_date_local": f"{day.isoformat()}T00:00:00",
        "end_date_local": f"{nxt.isoformat()}T00:00:00",
        "name": name,
        "description": description,
        "indoor": False,
        "color": None,
        "not_on_fitness_chart": False,
        "show_as_note": False,
        "show_on_ctl_line": False,
        "for_week": False,
        "athlete_cannot_edit": False,
        "hide_from_athlete": False,
        "structure_read_only": False,
        "created_by_id": created_by,
        "entered": False,
        "tags": None,
        "attachments": None,
        "external_id": None,
        "oauth_client_id": None,
        "updated": "2026-01-05T09:00:00Z",
        "calendar_id": 1,
        "push_errors": None,
    }


def apply_workout_fields(ev: dict[str, Any], settings: dict[str, Any] | None) -> None:
    """Fill workout_doc / moving_time / load / intensity from the description via workouts.py."""
    for k in ("workout_doc", "icu_training_load", "icu_intensity", "joules", "target"):
        ev.pop(k, None)
    if ev.get("category") not in ("WORKOUT", "RACE_A", "RACE_B", "RACE_C"):
        return
    m = extern.workout_metrics(ev.get("description"), ev.get("type"), settings)
    if settings and settings.get("ftp") and ev.get("type") in physics.POWER_SPORTS:
        ev["icu_ftp"] = settings["ftp"]
    if m is None:
        return
    ev["workout_doc"] = m.workout_doc
    if m.moving_time:
        ev["moving_time"] = m.moving_time
    if m.distance:
        ev["distance"] = m.distance
    if m.load is not None:
        ev["icu_training_load"] = m.load
    if m.intensity is not None:
        ev["icu_intensity"] = m.intensity
    if m.joules:
        ev["joules"] = m.joules
    if m.target:
        ev["target"] = m.target


def planned_event(
    eid: int, athlete_id: str, day: dt.date, session: Session, settings: dict[str, Any], created_by: str
) -> dict[str, Any]:
    ev = base_event(eid, athlete_id, day, "WORKOUT", session.sport, session.name, session.text(), created_by)
    ev["indoor"] = session.sport == "VirtualRide"
    return ev


def library_workout(
    wid: int,
    athlete_id: str,
    folder_id: int,
    name: str,
    sport: str,
    text: str,
    settings: dict[str, Any],
    indoor: bool,
    day: int | None,
) -> dict[str, Any]:
    w: dict[str, Any] = {
        "id": wid,
        "athlete_id": athlete_id,
        "folder_id": folder_id,
        "name": name,
        "description": text,
        "type": sport,
        "indoor": indoor,
        "color": None,
        "day": day,
        "days": 1 if day is not None else None,
        "tags": [],
        "hide_from_athlete": False,
        "for_week": False,
        "updated": "2026-01-02T10:00:00Z",
    }
    return {k: v for k, v in w.items() if v is not None}


def apply_workout_fields_workout(w: dict[str, Any], settings: dict[str, Any] | None) -> None:
    m = extern.workout_metrics(w.get("description"), w.get("type"), settings)
    for k in ("workout_doc", "icu_training_load", "icu_intensity", "moving_time", "joules", "target"):
        w.pop(k, None)
    if m is None:
        return
    w.update(
        {
            k: v
            for k, v in {
                "workout_doc": m.workout_doc,
                "moving_time": m.moving_time,
                "icu_training_load": m.load,
                "icu_intensity": m.intensity,
                "joules": m.joules,
                "target": m.target,
                "distance": m.distance,
            }.items()
            if v is not None
        }
    )


def wellness_base(spec: AthleteSpec, seed: int, day: dt.date, prev_load: float) -> dict[str, Any]:
    """User/device-entered wellness fields for a day (computed fields are added by the state)."""
    rng = random.Random(f"{seed}:{spec.id}:wellness:{day.isoformat()}")
    o = day.toordinal()
    w: dict[str, Any] = {"id": day.isoformat()}
    w["weight"] = round(spec.weight + 0.7 * math.sin(o / 23.0) + rng.gauss(0, 0.25), 1)
    w["restingHR"] = round(spec.resting_hr + rng.gauss(0, 1.5) + prev_load / 70)
    base_hrv = 68 if spec.sex == "F" else 74
    w["hrv"] = round(max(20.0, base_hrv * (1 - prev_load / 700) + rng.gauss(0, 5)), 1)
    w["sleepSecs"] = int(max(4.5, rng.gauss(7.4, 0.6)) * 3600) // 60 * 60
    w["sleepScore"] = float(max(40, min(98, round(55 + (w["sleepSecs"] / 3600 - 5) * 12 + rng.gauss(0, 5)))))
    w["avgSleepingHR"] = float(w["restingHR"] + 4)
    w["steps"] = rng.randint(5500, 16000)
    w["readiness"] = float(max(20, min(99, round(w["sleepScore"] * 0.6 + (w["hrv"] / base_hrv) * 35))))
    if rng.random() < 0.75:
        w["sleepQuality"] = max(1, min(4, round(4.2 - w["sleepScore"] / 30 + rng.gauss(0, 0.4))))
        w["soreness"] = max(1, min(4, round(1 + prev_load / 120 + rng.gauss(0, 0.5))))
        w["fatigue"] = max(1, min(4, round(1.2 + prev_load / 110 + rng.gauss(0, 0.5))))
        w["stress"] = max(1, min(4, round(rng.gauss(2, 0.7))))
        w["mood"] = max(1, min(4, round(rng.gauss(2, 0.6))))
        w["motivation"] = max(1, min(4, round(rng.gauss(1.8, 0.6))))
    if spec.sex == "F":
        cyc = (o + spec.index * 5) % 28
        w["menstrualPhase"] = (
            "PERIOD" if cyc < 5 else "FOLLICULAR" if cyc < 13 else "OVULATING" if cyc < 15 else "LUTEAL"
        )
        w["menstrualPhasePredicted"] = w["menstrualPhase"]
    if rng.random() < 0.08:
        w["comments"] = rng.choice(
            [
                "Slept badly, noisy hotel.",
                "Legs heavy after yesterday.",
                "Felt great this morning!",
                "Slight cold coming on?",
                "Busy day at work.",
            ]
        )
    if spec.ftp:
        w["sportInfo"] = [
            {"type": "Ride", "eftp": float(spec.ftp), "wPrime": 20000.0, "pMax": float(round(spec.ftp * 3.3))}
        ]
    w["updated"] = f"{day.isoformat()}T07:15:00Z"
    w["locked"] = False
    return w
