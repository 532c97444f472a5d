"""The /api/v1 endpoints (regex router → handlers)."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from . import physics
from .history import STRAVA_NOTE, ActivityRec, AthleteData, apply_workout_fields, apply_workout_fields_workout
from .http import (
    ApiError,
    Caller,
    authenticate,
    check_access,
    drop_none,
    full_record,
    json_body,
    ok,
    only_fields,
    parse_date,
    parse_local,
    qbool,
    qint,
    qlist,
    required,
    resolve_athlete,
    spring_error,
)
from .state import SandboxState

EVENT_CATEGORIES = (
    "WORKOUT",
    "RACE_A",
    "RACE_B",
    "RACE_C",
    "NOTE",
    "PLAN",
    "HOLIDAY",
    "SICK",
    "INJURED",
    "SET_EFTP",
    "FITNESS_DAYS",
    "SEASON_START",
    "TARGET",
    "SET_FITNESS",
)
RACES = ("RACE_A", "RACE_B", "RACE_C")
STRAVA_422 = "Cannot read Strava activities via the API"


@dataclass
class Ctx:
    state: SandboxState
    request: Request
    caller: Caller
    params: dict[str, str]

    def athlete(self, area: str, write: bool = False, key: str = "id") -> AthleteData:
        aid = resolve_athlete(self.state, self.caller, self.params[key])
        check_access(self.state, self.caller, aid, area, write)
        if aid not in self.state.specs:
            raise ApiError(404, "Athlete not found")
        return self.state.athletes[aid]

    def activity(
        self, area: str = "ACTIVITY", write: bool = False, coach_write: bool | None = None
    ) -> tuple[AthleteData, ActivityRec]:
        found = self.state.find_activity(self.params["aid"])
        if found is None:
            raise ApiError(404, f"Activity not found: {self.params['aid']}")
        data, rec = found
        check_access(self.state, self.caller, data.spec.id, area, write, coach_write)
        return data, rec

    def local_today(self, data: AthleteData) -> dt.date:
        if self.state.config.today is not None:
            return self.state.today
        return dt.datetime.now(ZoneInfo(data.spec.timezone)).date()


Handler = Callable[[Ctx], Awaitable[Response]]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    rx = re.compile("^" + pattern.replace("{ext}", r"(?P<ext>\.json)?") + "$")

    def deco(fn: Handler) -> Handler:
        ROUTES.append((method, rx, fn))
        return fn

    return deco


async def dispatch(state: SandboxState, request: Request, path: str) -> Response:
    matched = False
    for method, rx, fn in ROUTES:
        m = rx.match(path)
        if not m:
            continue
        matched = True
        if method != request.method and not (method == "GET" and request.method == "HEAD"):
            continue
        try:
            caller = authenticate(state, request)
            return await fn(Ctx(state, request, caller, {k: v for k, v in m.groupdict().items() if v is not None}))
        except ApiError as e:
            return e.response()
    if matched:
        return spring_error(request, 405, "Method Not Allowed")
    return spring_error(request, 404, "Not Found")


# ----------------------------------------------------------------------------------------------------
# serialisation helpers


def activity_out(
    state: SandboxState, data: AthleteData, rec: ActivityRec, with_intervals: bool = False
) -> dict[str, Any]:
    if rec.stub:
        return {
            "id": rec.id,
            "icu_athlete_id": rec.athlete_id,
            "start_date_local": rec.data["start_date_local"],
            "source": "STRAVA",
            "_note": STRAVA_NOTE,
        }
    out = dict(rec.data)
    fit = state.fitness(data.spec.id).get(rec.day)
    if fit is not None:
        out["icu_ctl"] = fit.ctl
        out["icu_atl"] = fit.atl
    out.update(_derived_fields(data, rec))
    if with_intervals:
        ivs, groups = physics.intervals(rec.ctx, _rng(state, rec))
        out["icu_intervals"] = [full_record("Interval", iv) for iv in ivs]
        out["icu_groups"] = groups
    return full_record("Activity", out)


def _derived_fields(data: AthleteData, rec: ActivityRec) -> dict[str, Any]:
    """Fields Intervals.icu computes on upload that the generator does not store: load data, warm-up
    and cool-down, the rolling power model and the power meter for rides with power."""
    a, ctx = rec.data, rec.ctx
    segs = ctx.segments
    extra: dict[str, Any] = {
        "icu_training_load_data": round(rec.load),
        "icu_warmup_time": round(segs[0].secs) if segs and segs[0].kind == "warmup" else 0,
        "icu_cooldown_time": round(segs[-1].secs) if segs and segs[-1].kind == "cooldown" else 0,
        "icu_median_time_delta": 1,
        "tiz_order": "POWER_HR_PACE" if ctx.power else "HR_PACE_POWER",
    }
    if a.get("calories"):
        extra["carbs_used"] = round(a["calories"] * 0.55 / 4)
    if ctx.power:
        settings = data.settings_for(a.get("type")) or {}
        extra.update(
            {
                "icu_rolling_cp": round((data.spec.ftp or 0) * 1.04, 1),
                "icu_rolling_w_prime": float(settings.get("w_prime") or 20000),
                "icu_rolling_p_max": float(settings.get("p_max") or 900),
                "icu_rolling_ftp": data.spec.ftp,
                "power_field_names": ["power"],
                "icu_power_spike_threshold": 1800,
            }
        )
        if not ctx.indoor:
            extra["power_meter"] = "Garmin Rally XC200"
            extra["power_meter_serial"] = str(3_310_000 + int(data.spec.number) * 7919)
            extra["power_meter_battery"] = "GOOD"
            extra["coasting_time"] = round((a.get("moving_time") or 0) * 0.04)
    return {k: v for k, v in extra.items() if a.get(k) is None}


def _rng(state: SandboxState, rec: ActivityRec) -> Any:
    import random

    return random.Random(f"{state.seed}:{rec.id}:intervals")


def event_out(state: SandboxState, data: AthleteData, ev: dict[str, Any]) -> dict[str, Any]:
    state.resolve_event(data, ev["id"])
    out = drop_none(copy.deepcopy(ev))
    day = dt.date.fromisoformat(ev["start_date_local"][:10])
    fit = state.fitness(data.spec.id).get(day)
    if fit is not None:
        out["icu_ctl"] = fit.ctl
        out["icu_atl"] = fit.atl
    return out


def athlete_fields(state: SandboxState, data: AthleteData, caller: Caller) -> dict[str, Any]:
    out = drop_none(dict(data.profile))
    if caller.athlete_id != data.spec.id:
        out.pop("icu_api_key", None)
        out.pop("icu_friend_invite_token", None)
    return out


# ----------------------------------------------------------------------------------------------------
# athlete


@route("GET", r"/athlete/(?P<id>[^/]+?){ext}")
async def get_athlete(c: Ctx) -> Response:
    data = c.athlete("SETTINGS")
    out = athlete_fields(c.state, data, c.caller)
    out["sportSettings"] = copy.deepcopy(data.settings)
    out["custom_items"] = []
    return ok(out)


@route("GET", r"/athlete/(?P<id>[^/]+)/profile")
async def get_profile(c: Ctx) -> Response:
    data = c.athlete("SETTINGS")
    p = data.profile
    keys = (
        "id",
        "name",
        "profile_medium",
        "city",
        "state",
        "country",
        "timezone",
        "sex",
        "bio",
        "website",
        "email",
        "icu_coach",
    )
    return ok({"athlete": drop_none({k: p.get(k) for k in keys}), "sharedFolders": [], "customItems": []})


@route("GET", r"/athlete/(?P<id>[^/]+)/sport-settings")
async def list_sport_settings(c: Ctx) -> Response:
    return ok(copy.deepcopy(c.athlete("SETTINGS").settings))


@route("GET", r"/athlete/(?P<id>[^/]+)/sport-settings/(?P<sid>[^/]+)")
async def get_sport_settings(c: Ctx) -> Response:
    data = c.athlete("SETTINGS")
    sid = c.params["sid"]
    for s in data.settings:
        if str(s["id"]) == sid or sid in s.get("types", []):
            return ok(copy.deepcopy(s))
    raise ApiError(404, f"Sport settings not found: {sid}")


@route("GET", r"/athlete/(?P<id>[^/]+)/connections")
async def get_connections(c: Ctx) -> Response:
    return ok(dict(c.athlete("SETTINGS").connections))


@route("GET", r"/athletes")
async def list_athletes(c: Ctx) -> Response:
    if c.caller.kind == "bearer":
        raise ApiError(403, "Cannot be called with a bearer token, an API_KEY is required")
    me = c.state.specs[c.caller.athlete_id]
    out = []
    for aid in [me.id, *me.coached]:
        data = c.state.athletes[aid]
        row = athlete_fields(c.state, data, c.caller)
        row["icu_permission"] = "WRITE" if aid == me.id else me.coached[aid]
        row["icu_tags"] = [] if aid == me.id else (["squad-a"] if data.spec.index % 2 else ["squad-b"])
        row["icu_notes"] = None if aid == me.id else f"Target: {data.spec.kind} season, key race in May."
        out.append(drop_none(row))
    return ok(out)


@route("GET", r"/athlete/(?P<id>[^/]+)/athlete-summary{ext}")
async def athlete_summary(c: Ctx) -> Response:
    me = resolve_athlete(c.state, c.caller, c.params["id"])
    check_access(c.state, c.caller, me, "ACTIVITY", False)
    if c.caller.kind == "bearer":
        ids = [me]
    else:
        spec = c.state.specs[c.caller.athlete_id]
        ids = [c.caller.athlete_id, *spec.coached] if me == c.caller.athlete_id else [me]
    today = c.state.today
    start = parse_date(c.request.query_params.get("start") or (today - dt.timedelta(days=6)).isoformat(), "start")
    end = parse_date(c.request.query_params.get("end") or today.isoformat(), "end")
    rows = []
    for aid in ids:
        data = c.state.athletes[aid]
        week = start - dt.timedelta(days=start.weekday())
        while week <= end:
            lo, hi = max(week, start), min(week + dt.timedelta(days=6), end)
            rows.append(_summary_row(c.state, data, week, lo, hi))
            week += dt.timedelta(days=7)
    rows.sort(key=lambda r: (r["date"], r["athlete_name"]), reverse=True)
    return ok(rows)


def _zero_totals() -> dict[str, Any]:
    return {
        "count": 0,
        "time": 0,
        "moving_time": 0,
        "elapsed_time": 0,
        "calories": 0,
        "total_elevation_gain": 0.0,
        "training_load": 0,
        "srpe": 0,
        "distance": 0.0,
    }


def _summary_row(state: SandboxState, data: AthleteData, week: dt.date, lo: dt.date, hi: dt.date) -> dict[str, Any]:
    acts = [a for a in data.activities if lo <= a.day <= hi]
    cats: dict[str, dict[str, Any]] = {}
    zones = [0] * 7
    tot: dict[str, Any] = _zero_totals()
    for a in acts:
        d = a.data
        cat = "Ride" if a.session.sport in physics.POWER_SPORTS else a.session.sport
        bucket = cats.setdefault(cat, {"category": cat, **_zero_totals()})
        for b in (tot, bucket):
            b["count"] += 1
            b["time"] += d.get("elapsed_time", 0)
            b["moving_time"] += d.get("moving_time", 0)
            b["elapsed_time"] += d.get("elapsed_time", 0)
            b["calories"] += d.get("calories", 0)
            b["total_elevation_gain"] = round(b["total_elevation_gain"] + d.get("total_elevation_gain", 0.0), 1)
            b["training_load"] += d.get("icu_training_load", 0)
            b["srpe"] += d.get("session_rpe", 0)
            b["distance"] = round(b["distance"] + d.get("distance", 0.0), 1)
        for zt in d.get("icu_zone_times", []):
            if zt["id"].startswith("Z"):
                zones[int(zt["id"][1:]) - 1] += zt["secs"]
    fit = state.fitness(data.spec.id).get(hi)
    well = state.wellness_row(data, min(hi, state.today))
    ftp = data.spec.ftp
    row: dict[str, Any] = {
        **tot,
        "date": week.isoformat(),
        "athlete_id": data.spec.id,
        "athlete_name": data.spec.name,
        "email": data.profile.get("email"),
        "timeInZones": zones,
        "timeInZonesTot": sum(zones),
        "byCategory": list(cats.values()),
    }
    if ftp:
        row["eftp"] = float(ftp)
        row["eftpPerKg"] = round(ftp / data.spec.weight, 2)
    if fit is not None:
        row.update({"fitness": fit.ctl, "fatigue": fit.atl, "form": fit.ctl - fit.atl, "rampRate": fit.ramp_rate})
    if well:
        row["weight"] = well.get("weight")
        row["mostRecentWellnessId"] = well["id"]
    return drop_none(row)


# ----------------------------------------------------------------------------------------------------
# activities


@route("GET", r"/athlete/(?P<id>[^/]+)/activities")
async def list_activities(c: Ctx) -> Response:
    data = c.athlete("ACTIVITY")
    oldest = parse_local(required(c.request, "oldest"), "oldest")
    newest_raw = c.request.query_params.get("newest")
    if newest_raw:
        newest = parse_local(newest_raw, "newest")
        if len(newest_raw) <= 10:
            newest = newest.replace(hour=23, minute=59, second=59)
    else:
        newest = dt.datetime(9999, 1, 1)
    limit = qint(c.request, "limit")
    fields = qlist(c.request, "fields")
    lo, hi = oldest.isoformat(), newest.isoformat()
    out = []
    for rec in reversed(data.activities):
        if not (lo <= rec.start_local <= hi):
            continue
        out.append(only_fields(activity_out(c.state, data, rec), fields))
        if limit is not None and len(out) >= limit:
            break
    return ok(out)


@route("GET", r"/athlete/(?P<id>[^/]+)/activities/search")
async def search_activities(c: Ctx) -> Response:
    data = c.athlete("ACTIVITY")
    q = required(c.request, "q").strip()
    limit = qint(c.request, "limit")
    out = []
    for rec in reversed(data.activities):
        if rec.stub:
            continue
        d = rec.data
        if q.startswith("#"):
            hit = q[1:].lower() in [t.lower() for t in d.get("tags", [])]
        else:
            hit = q.lower() in d.get("name", "").lower()
        if hit:
            out.append(
                drop_none(
                    {
                        k: d.get(k)
                        for k in (
                            "id",
                            "name",
                            "start_date_local",
                            "type",
                            "race",
                            "distance",
                            "moving_time",
                            "tags",
                            "description",
                        )
                    }
                )
            )
            if limit is not None and len(out) >= limit:
                break
    return ok(out)


@route("GET", r"/athlete/(?P<id>[^/]+)/activities/(?P<ids>[^/]+)")
async def get_activities_by_id(c: Ctx) -> Response:
    """Several activities of one athlete by id (comma list); ids of other athletes or unknown ids are ignored."""
    data = c.athlete("ACTIVITY")
    with_intervals = qbool(c.request, "intervals")
    out = []
    for raw in c.params["ids"].split(","):
        rec = data.by_id.get(raw.strip())
        if rec is not None:
            out.append(activity_out(c.state, data, rec, with_intervals=with_intervals))
    return ok(out)


@route("GET", r"/activity/(?P<aid>[^/]+?){ext}")
async def get_activity(c: Ctx) -> Response:
    data, rec = c.activity()
    return ok(activity_out(c.state, data, rec, with_intervals=qbool(c.request, "intervals")))


@route("GET", r"/activity/(?P<aid>[^/]+)/intervals")
async def get_intervals(c: Ctx) -> Response:
    _data, rec = c.activity()
    if rec.stub:
        raise ApiError(422, STRAVA_422)
    ivs, groups = physics.intervals(rec.ctx, _rng(c.state, rec))
    return ok({"id": rec.id, "analyzed": rec.data.get("analyzed"), "icu_intervals": ivs, "icu_groups": groups})


@route("GET", r"/activity/(?P<aid>[^/]+)/streams{ext}")
async def get_streams(c: Ctx) -> Response:
    _data, rec = c.activity()
    if rec.stub:
        raise ApiError(422, STRAVA_422)
    types = qlist(c.request, "types")
    streams = c.state.streams(rec)
    out = []
    for name, (d1, d2) in streams.items():
        if types and name not in types:
            continue
        s: dict[str, Any] = {
            "type": name,
            "name": None,
            "data": d1,
            "valueTypeIsArray": False,
            "custom": False,
            "allNull": False,
        }
        if d2 is not None:
            s["data2"] = d2
        out.append(drop_none(s))
    return ok(out)


@route("GET", r"/activity/(?P<aid>[^/]+)/best-efforts")
async def best_efforts(c: Ctx) -> Response:
    _data, rec = c.activity()
    if rec.stub:
        raise ApiError(422, STRAVA_422)
    stream = required(c.request, "stream")
    duration = qint(c.request, "duration")
    distance_raw = c.request.query_params.get("distance")
    distance = float(distance_raw) if distance_raw else None
    if not duration and not distance:
        raise ApiError(422, "Either duration or distance is required")
    count = qint(c.request, "count", 8) or 8
    min_value_raw = c.request.query_params.get("minValue")
    streams = c.state.streams(rec)
    if stream not in streams:
        return ok({"efforts": []})
    dist = streams.get("distance", ([], None))[0]
    efforts = physics.best_efforts(
        streams[stream][0], dist or None, duration, distance, count, float(min_value_raw) if min_value_raw else None
    )
    return ok({"efforts": efforts})


@route("GET", r"/activity/(?P<aid>[^/]+)/power-curve{ext}")
async def activity_power_curve(c: Ctx) -> Response:
    data, rec = c.activity()
    if rec.stub:
        raise ApiError(422, STRAVA_422)
    pts = c.state.curve(rec, "power")
    return ok(
        {
            "id": rec.id,
            "label": rec.data.get("name"),
            "start_date_local": rec.start_local,
            "secs": [p[0] for p in pts],
            "values": [p[1] for p in pts],
            "watts": [p[1] for p in pts],
            "start_index": [p[2] for p in pts],
            "end_index": [p[2] + p[0] - 1 for p in pts],
            "watts_per_kg": [round(p[1] / data.spec.weight, 2) for p in pts],
            "weight": data.spec.weight,
            "moving_time": rec.data.get("moving_time"),
            "training_load": rec.data.get("icu_training_load"),
        }
    )


# ----------------------------------------------------------------------------------------------------
# athlete curves


def _curve_range(spec: str, newest: dt.date, history_start: dt.date) -> tuple[dt.date, dt.date, str]:
    base = re.sub(r"-kj\d+$", "", spec)
    if m := re.fullmatch(r"(\d+)d", base):
        n = int(m.group(1))
        return newest - dt.timedelta(days=n - 1), newest, f"{n} days"
    if m := re.fullmatch(r"(\d+)y", base):
        n = int(m.group(1))
        return newest - dt.timedelta(days=365 * n - 1), newest, f"{n} year{'s' if n > 1 else ''}"
    if base == "all":
        return min(history_start, dt.date(2015, 1, 1)), newest, "All time"
    if m := re.fullmatch(r"s(\d+)", base):
        n = int(m.group(1))
        year = newest.year - n
        return dt.date(year, 1, 1), min(newest, dt.date(year, 12, 31)), "This season" if n == 0 else f"Season {year}"
    if m := re.fullmatch(r"r\.(\d{4}-\d{2}-\d{2})\.(\d{4}-\d{2}-\d{2})", base):
        a, b = parse_date(m.group(1)), parse_date(m.group(2))
        return a, b, f"{a.isoformat()} to {b.isoformat()}"
    raise ApiError(422, f"Invalid curve: {spec}")


async def _athlete_curves(c: Ctx, kind: str) -> Response:
    data = c.athlete("ACTIVITY")
    sport = c.request.query_params.get("type")
    if kind == "power" and not sport:
        required(c.request, "type")
    if kind == "pace" and not sport:
        sport = "Run"
    types: set[str] | None = None
    if sport:
        s = data.settings_for(sport)
        types = set(s["types"]) if s and not s.get("other") else {sport}
    specs = qlist(c.request, "curves") or ["1y"]
    newest = (
        parse_date(c.request.query_params["newest"], "newest")
        if c.request.query_params.get("newest")
        else c.state.today
    )
    curves = []
    acts: dict[str, dict[str, Any]] = {}
    for spec in specs:
        start, end, label = _curve_range(spec, newest, data.history_start)
        best: dict[Any, tuple[int, str, int]] = {}
        moving = 0
        load = 0
        for rec in data.activities:
            if rec.stub or not (start <= rec.day <= end) or (types and rec.session.sport not in types):
                continue
            pts = c.state.curve(rec, kind)
            if not pts:
                continue
            moving += rec.data.get("moving_time", 0)
            load += rec.data.get("icu_training_load", 0)
            for x, val, st in pts:
                cur = best.get(x)
                better = cur is None or (val < cur[0] if kind == "pace" else val > cur[0])
                if better:
                    best[x] = (val, rec.id, st)
        xs = sorted(best)
        curve: dict[str, Any] = {
            "id": spec,
            "label": label,
            "start_date_local": f"{start.isoformat()}T00:00:00",
            "end_date_local": f"{end.isoformat()}T00:00:00",
            "days": (end - start).days + 1,
            "moving_time": moving,
            "training_load": load,
            "weight": data.spec.weight,
            "values": [best[x][0] for x in xs],
            "activity_id": [best[x][1] for x in xs],
            "start_index": [best[x][2] for x in xs],
        }
        if kind == "pace":
            curve["distance"] = xs
            curve["end_index"] = [best[x][2] + best[x][0] - 1 for x in xs]
        else:
            curve["secs"] = xs
            curve["end_index"] = [best[x][2] + x - 1 for x in xs]
        if kind == "power":
            curve["watts_per_kg"] = [round(best[x][0] / data.spec.weight, 2) for x in xs]
        curves.append(curve)
        for x in xs:
            rec = data.by_id[best[x][1]]
            acts[rec.id] = {
                "id": rec.id,
                "name": rec.data.get("name"),
                "start_date_local": rec.start_local,
                "type": rec.session.sport,
            }
    return ok({"list": curves, "activities": acts})


@route("GET", r"/athlete/(?P<id>[^/]+)/power-curves{ext}")
async def power_curves(c: Ctx) -> Response:
    return await _athlete_curves(c, "power")


@route("GET", r"/athlete/(?P<id>[^/]+)/pace-curves{ext}")
async def pace_curves(c: Ctx) -> Response:
    return await _athlete_curves(c, "pace")


@route("GET", r"/athlete/(?P<id>[^/]+)/hr-curves{ext}")
async def hr_curves(c: Ctx) -> Response:
    return await _athlete_curves(c, "hr")


# ----------------------------------------------------------------------------------------------------
# wellness


@route("GET", r"/athlete/(?P<id>[^/]+)/wellness{ext}")
async def list_wellness(c: Ctx) -> Response:
    data = c.athlete("WELLNESS")
    today = c.local_today(data)
    newest = parse_date(c.request.query_params.get("newest") or today.isoformat(), "newest")
    oldest = parse_date(c.request.query_params.get("oldest") or (newest - dt.timedelta(days=6)).isoformat(), "oldest")
    fields = qlist(c.request, "fields")
    lo = max(oldest, data.history_start)
    out = []
    day = lo
    end = min(newest, max(c.state.fitness_end(data.spec.id), c.state.today))
    overlay_days = sorted(c.state.journal["wellness"].get(data.spec.id, {}))
    if overlay_days:
        end = max(end, min(newest, dt.date.fromisoformat(overlay_days[-1])))
    while day <= end:
        row = c.state.wellness_row(data, day)
        if row is not None:
            out.append(only_fields(row, fields) if fields else full_record("Wellness", row))
        day += dt.timedelta(days=1)
    return ok(out)


@route("GET", r"/athlete/(?P<id>[^/]+)/wellness/(?P<date>[^/]+)")
async def get_wellness(c: Ctx) -> Response:
    data = c.athlete("WELLNESS")
    day = parse_date(c.params["date"])
    row = c.state.wellness_row(data, day) or {"id": day.isoformat()}
    return ok(full_record("Wellness", row))


@route("PUT", r"/athlete/(?P<id>[^/]+)/wellness/(?P<date>[^/]+)")
async def put_wellness(c: Ctx) -> Response:
    data = c.athlete("WELLNESS", write=True)
    day = parse_date(c.params["date"])
    body = await json_body(c.request)
    if not isinstance(body, dict):
        raise ApiError(422, "Expected a Wellness object")
    c.state.put_wellness(data, day, body)
    return ok(full_record("Wellness", c.state.wellness_row(data, day) or {"id": day.isoformat()}))


@route("PUT", r"/athlete/(?P<id>[^/]+)/wellness")
async def put_wellness_body(c: Ctx) -> Response:
    data = c.athlete("WELLNESS", write=True)
    body = await json_body(c.request)
    if not isinstance(body, dict) or not body.get("id"):
        raise ApiError(422, "Wellness id (date) is required")
    day = parse_date(str(body["id"]))
    c.state.put_wellness(data, day, body)
    return ok(full_record("Wellness", c.state.wellness_row(data, day) or {"id": day.isoformat()}))


@route("PUT", r"/athlete/(?P<id>[^/]+)/wellness-bulk")
async def put_wellness_bulk(c: Ctx) -> Response:
    data = c.athlete("WELLNESS", write=True)
    body = await json_body(c.request)
    if not isinstance(body, list):
        raise ApiError(422, "Expected an array of Wellness records")
    days = []
    for row in body:
        if not isinstance(row, dict) or not row.get("id"):
            raise ApiError(422, "Each wellness record needs an id (date)")
        days.append((parse_date(str(row["id"])), row))
    for day, row in days:
        c.state.put_wellness(data, day, row)
    return Response(status_code=200)


# ----------------------------------------------------------------------------------------------------
# events


@route("GET", r"/athlete/(?P<id>[^/]+)/events{ext}")
async def list_events(c: Ctx) -> Response:
    data = c.athlete("CALENDAR")
    oldest = parse_date(c.request.query_params.get("oldest") or c.local_today(data).isoformat(), "oldest")
    newest = parse_date(c.request.query_params.get("newest") or (oldest + dt.timedelta(days=6)).isoformat(), "newest")
    cats = qlist(c.request, "category")
    limit = qint(c.request, "limit")
    lo, hi = oldest.isoformat(), newest.isoformat()
    evs = [
        e
        for e in data.events.values()
        if lo <= e["start_date_local"][:10] <= hi and (not cats or e["category"] in cats)
    ]
    evs.sort(key=lambda e: (e["start_date_local"], e["id"]))
    if limit is not None:
        evs = evs[:limit]
    return ok([event_out(c.state, data, e) for e in evs])


def _event_id(c: Ctx) -> int:
    raw = c.params["eid"]
    if not raw.isdigit():
        raise ApiError(
            400,
            f"Failed to convert value of type 'java.lang.String' to required type 'int'; For input string: \"{raw}\"",
        )
    return int(raw)


@route("GET", r"/athlete/(?P<id>[^/]+)/events/(?P<eid>[^/]+)")
async def get_event(c: Ctx) -> Response:
    data = c.athlete("CALENDAR")
    ev = data.events.get(_event_id(c))
    if ev is None:
        raise ApiError(404, f"Event not found: {c.params['eid']}")
    return ok(event_out(c.state, data, ev))


_EVENT_WRITABLE = (
    "category",
    "type",
    "sub_type",
    "start_date_local",
    "end_date_local",
    "name",
    "description",
    "indoor",
    "color",
    "moving_time",
    "distance",
    "icu_training_load",
    "icu_intensity",
    "tags",
    "external_id",
    "carbs_per_hour",
    "load_target",
    "time_target",
    "distance_target",
    "for_week",
    "show_as_note",
    "show_on_ctl_line",
    "not_on_fitness_chart",
    "athlete_cannot_edit",
    "hide_from_athlete",
    "structure_read_only",
    "target",
    "ctl_days",
    "atl_days",
    "uid",
    "training_availability",
    "attachments",
    "file_contents",
    "filename",
    "calendar_id",
)


def _norm_local(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ApiError(422, f"{name} must be a date or date-time string")
    return parse_local(value, name).isoformat(timespec="seconds")


def _build_event(c: Ctx, data: AthleteData, body: Any, existing: dict[str, Any] | None) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(422, "Expected an EventEx object")
    ev: dict[str, Any] = copy.deepcopy(existing) if existing else {}
    if existing:
        c.state.resolve_event(data, existing["id"])
    changed_structure = existing is None
    for k in _EVENT_WRITABLE:
        if k in body:
            if k in ("description", "type", "category") and body[k] != ev.get(k):
                changed_structure = True
            ev[k] = body[k]
    if not ev.get("category"):
        raise ApiError(422, "category is required")
    if ev["category"] not in EVENT_CATEGORIES:
        raise ApiError(422, f"Invalid category: {ev['category']}")
    if not ev.get("start_date_local"):
        raise ApiError(422, "start_date_local is required")
    ev["start_date_local"] = _norm_local(ev["start_date_local"], "start_date_local")
    if ev["category"] in RACES and not ev.get("type"):
        raise ApiError(422, "type is required for races")
    start = dt.date.fromisoformat(ev["start_date_local"][:10])
    if body.get("end_date_local"):
        ev["end_date_local"] = _norm_local(body["end_date_local"], "end_date_local")
    elif existing is None or "start_date_local" in body:
        ev["end_date_local"] = f"{(start + dt.timedelta(days=1)).isoformat()}T00:00:00"
    if existing is None:
        ev["id"] = c.state.next_id()
        ev["athlete_id"] = data.spec.id
        ev["uid"] = ev.get("uid") or f"{ev['id']}@intervals.icu"
        ev["created_by_id"] = c.caller.athlete_id
        ev["oauth_client_id"] = c.state.client_number(c.caller.client_id)
        ev.setdefault("indoor", False)
        for flag in (
            "show_as_note",
            "not_on_fitness_chart",
            "athlete_cannot_edit",
            "hide_from_athlete",
            "structure_read_only",
            "for_week",
            "entered",
        ):
            ev.setdefault(flag, False)
    if changed_structure:
        manual = {k: body[k] for k in ("moving_time", "icu_training_load", "icu_intensity", "distance") if k in body}
        apply_workout_fields(ev, data.settings_for(ev.get("type")))
        for k, v in manual.items():
            if k not in ev or ev.get("workout_doc") is None:
                ev[k] = v
    ev["updated"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ev


@route("POST", r"/athlete/(?P<id>[^/]+)/events")
async def create_event(c: Ctx) -> Response:
    data = c.athlete("CALENDAR", write=True)
    ev = _build_event(c, data, await json_body(c.request), None)
    c.state.store_event(data, ev)
    return ok(event_out(c.state, data, ev))


@route("POST", r"/athlete/(?P<id>[^/]+)/events/bulk")
async def create_events_bulk(c: Ctx) -> Response:
    data = c.athlete("CALENDAR", write=True)
    body = await json_body(c.request)
    if not isinstance(body, list):
        raise ApiError(422, "Expected an array of EventEx")
    upsert = qbool(c.request, "upsert")
    client = c.state.client_number(c.caller.client_id)
    built = []
    for item in body:
        existing = None
        if upsert and isinstance(item, dict) and item.get("external_id"):
            existing = next(
                (
                    e
                    for e in data.events.values()
                    if e.get("external_id") == item["external_id"] and e.get("oauth_client_id") == client
                ),
                None,
            )
        built.append(_build_event(c, data, item, existing))
    for ev in built:
        c.state.store_event(data, ev)
    return ok([event_out(c.state, data, ev) for ev in built])


@route("PUT", r"/athlete/(?P<id>[^/]+)/events/bulk-delete")
async def delete_events_bulk(c: Ctx) -> Response:
    data = c.athlete("CALENDAR", write=True)
    body = await json_body(c.request)
    if not isinstance(body, list):
        raise ApiError(422, "Expected an array of DoomedEvent")
    client = c.state.client_number(c.caller.client_id)
    n = 0
    for item in body:
        if not isinstance(item, dict):
            continue
        ids: list[int] = []
        if item.get("id") is not None:
            ids = [int(item["id"])]
        elif item.get("external_id"):
            ids = [
                e["id"]
                for e in data.events.values()
                if e.get("external_id") == item["external_id"] and e.get("oauth_client_id") == client
            ]
        for eid in ids:
            n += c.state.delete_event(data, eid, save=False)
    c.state.save()
    return ok({"eventsDeleted": n})


@route("PUT", r"/athlete/(?P<id>[^/]+)/events/(?P<eid>[^/]+)")
async def update_event(c: Ctx) -> Response:
    data = c.athlete("CALENDAR", write=True)
    existing = data.events.get(_event_id(c))
    if existing is None:
        raise ApiError(404, f"Event not found: {c.params['eid']}")
    ev = _build_event(c, data, await json_body(c.request), existing)
    c.state.store_event(data, ev)
    return ok(event_out(c.state, data, ev))


@route("DELETE", r"/athlete/(?P<id>[^/]+)/events/(?P<eid>[^/]+)")
async def delete_event(c: Ctx) -> Response:
    data = c.athlete("CALENDAR", write=True)
    if not c.state.delete_event(data, _event_id(c)):
        raise ApiError(404, f"Event not found: {c.params['eid']}")
    return ok({})


# ----------------------------------------------------------------------------------------------------
# library


def _workout_out(c: Ctx, data: AthleteData, w: dict[str, Any]) -> dict[str, Any]:
    c.state.resolve_workout(data, w["id"])
    return drop_none(copy.deepcopy(w))


@route("GET", r"/athlete/(?P<id>[^/]+)/folders")
async def list_folders(c: Ctx) -> Response:
    data = c.athlete("LIBRARY")
    out = []
    for f in data.folders.values():
        row = drop_none(copy.deepcopy(f))
        kids = [w for w in data.workouts.values() if w.get("folder_id") == f["id"]]
        kids.sort(key=lambda w: (w.get("day") or 0, w["id"]))
        row["children"] = [_workout_out(c, data, w) for w in kids]
        out.append(row)
    return ok(out)


@route("GET", r"/athlete/(?P<id>[^/]+)/workouts")
async def list_workouts(c: Ctx) -> Response:
    data = c.athlete("LIBRARY")
    return ok([_workout_out(c, data, w) for w in sorted(data.workouts.values(), key=lambda w: w["id"])])


@route("GET", r"/athlete/(?P<id>[^/]+)/workouts/(?P<wid>[^/]+)")
async def get_workout(c: Ctx) -> Response:
    data = c.athlete("LIBRARY")
    raw = c.params["wid"]
    w = data.workouts.get(int(raw)) if raw.isdigit() else None
    if w is None:
        raise ApiError(404, f"Workout not found: {raw}")
    return ok(_workout_out(c, data, w))


@route("POST", r"/athlete/(?P<id>[^/]+)/workouts")
async def create_workout(c: Ctx) -> Response:
    data = c.athlete("LIBRARY", write=True)
    body = await json_body(c.request)
    if not isinstance(body, dict):
        raise ApiError(422, "Expected a WorkoutEx object")
    folder_id = body.get("folder_id")
    if folder_id is None:
        raise ApiError(422, "folder_id is required")
    if int(folder_id) not in data.folders:
        raise ApiError(404, f"Folder not found: {folder_id}")
    if not body.get("name"):
        raise ApiError(422, "name is required")
    w: dict[str, Any] = {"id": c.state.next_id(), "athlete_id": data.spec.id, "folder_id": int(folder_id)}
    for k in (
        "name",
        "description",
        "type",
        "indoor",
        "color",
        "day",
        "days",
        "tags",
        "hide_from_athlete",
        "for_week",
        "sub_type",
        "carbs_per_hour",
        "target",
        "moving_time",
        "icu_training_load",
    ):
        if k in body:
            w[k] = body[k]
    manual = {k: w[k] for k in ("moving_time", "icu_training_load") if k in w}
    apply_workout_fields_workout(w, data.settings_for(w.get("type")))
    for k, v in manual.items():
        w.setdefault(k, v)
    w["updated"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    c.state.store_workout(data, w)
    return ok(_workout_out(c, data, w))


# ----------------------------------------------------------------------------------------------------
# messages


@route("GET", r"/activity/(?P<aid>[^/]+)/messages")
async def list_messages(c: Ctx) -> Response:
    data, rec = c.activity("CHATS")
    since = qint(c.request, "sinceId")
    limit = qint(c.request, "limit", 100) or 100
    msgs = [m for m in data.messages.get(rec.id, []) if since is None or m["id"] > since]
    return ok(copy.deepcopy(msgs[:limit]))


@route("POST", r"/activity/(?P<aid>[^/]+)/messages")
async def post_message(c: Ctx) -> Response:
    data, rec = c.activity("CHATS", write=True, coach_write=False)
    body = await json_body(c.request)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str) or not content.strip():
        raise ApiError(422, "content is required")
    author = c.state.specs[c.caller.athlete_id]
    mid = c.state.next_id()
    msg = {
        "id": mid,
        "athlete_id": author.id,
        "name": author.name,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": "TEXT",
        "content": content,
        "activity_id": rec.id,
        "seen": False,
    }
    new_chat = c.state.add_message(data, rec.id, msg)
    chat = None
    if new_chat:
        chat = {
            "id": data.chats[rec.id],
            "type": "ACTIVITY",
            "name": rec.data.get("name"),
            "activity_id": rec.id,
            "athlete_id": data.spec.id,
            "new_message_count": 0,
        }
    return ok({"id": mid, "new_chat": chat})


# ----------------------------------------------------------------------------------------------------
# OAuth app disconnect


@route("DELETE", r"/disconnect-app")
async def disconnect_app(c: Ctx) -> Response:
    if c.caller.kind != "bearer" or c.caller.token is None:
        raise ApiError(401, "A bearer token is required")
    c.state.revoke(c.caller.token)
    return Response(status_code=200)
