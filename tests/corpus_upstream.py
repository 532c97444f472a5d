"""The recorded Intervals.icu corpus served as an upstream: the API paths Threshold calls, answered with
the corpus payloads (tests/fixtures/intervals_corpus) for one athlete.

A Starlette app for a uvicorn loopback port (like the sandbox fixture in tests/conftest.py). It is a
table, not a simulation: each path maps to recorded payloads, and the only logic is what the real API
does to them on the way out: `oldest`/`newest` windows, `category`, `types`, `fields` and `limit`
filters, `intervals=true`, newest-first activity lists, a curve set's `activities` limited to its curves,
and error bodies shaped like the API's (401, 403, 404; 422 for a curve no recording has, rather than one
made up). `ROUTES` at the bottom is the path table; the tables above it say which payloads answer.

Athletes (bearer tokens in `TOKENS`):

* `i900001` (Kiri): the athlete every recording is about (the corpus README anonymised them all to it).
* `i900002` (Ravi): an athlete with no sport settings. No recording of one exists; his profile is the
  sandbox's with `sportSettings: []`, and he has nothing else.

Where the corpus has no payload for an endpoint (its README's "Not found" list) the answer is marked
DERIVED below and comes from the sandbox (`integrations/intervals/sandbox/`, itself derived from the
OpenAPI document), run in-process with its calendar anchored on the corpus's last day (`CORPUS_TODAY`)
and asked as `STAND_IN` (Aroha, the sandbox's triathlete), or, for comment threads, from the OpenAPI
`Message` schema directly. Every derived answer is listed in `DERIVED`; nothing else is invented,
except the two overlays in `OVERLAYS` (a recorded activity given a chat id so a derived thread can hang
on it) and one activity record (`i91000023`) made from the intervals write-back of that track ride.

To add a payload: drop the JSON in the corpus folder with its provenance row (corpus README), run
`python -m tests.corpus shapes --write`, and map it in the tables below.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations.intervals.sandbox import SandboxConfig, SandboxState
from integrations.intervals.sandbox import create_app as create_sandbox_app
from tests.corpus import load

CORPUS_TODAY = dt.date(2026, 9, 14)  # the last wellness row, the last activity and the HR curves' end
TIMEZONE = "Australia/Brisbane"  # start_date_local - start_date is +10:00 in every recorded activity
KIRI = "i900001"
RAVI = "i900002"
TOKENS = {"corpus-kiri-token": KIRI, "corpus-ravi-token": RAVI}
STAND_IN = "i100003"  # the sandbox athlete asked where the corpus has nothing (see DERIVED)
COACH_ON_INTERVALS = ("i900009", "Sam Okafor")  # the coach, as the author of derived comments


@dataclass(frozen=True)
class Pick:
    """One recorded payload, or a part of it: `file` (a corpus stem), then keys/indexes into it."""

    file: str
    path: tuple[str | int, ...] = ()

    def value(self) -> Any:
        out = load(self.file)
        for key in self.path:
            out = out[key]
        return copy.deepcopy(out)


# --- activities ----------------------------------------------------------------------------------------
# Every Activity object of the corpus, by id: all Kiri's (the corpus anonymised every recording to her,
# though subsets may lack `icu_athlete_id`). The list endpoint and the by-id endpoint answer with the
# same objects (the real API does: only `fields=` narrows a list).
ACTIVITIES: dict[str, Pick] = {
    "i91000001": Pick("activity_run_oauth_client"),  # Run 2026-09-14, full
    "i91000002": Pick("activities_list_run_strength_strava", (0,)),  # Run 2026-09-12, recording stops
    "i91000003": Pick("activities_list_run_strength_strava", (1,)),  # WeightTraining 2026-09-13, no distance
    "17000000001": Pick("activity_strava_stub"),  # Strava stub 2019-05-04 (also item 2 of the list file)
    "i91000004": Pick("activity_swim_pool"),  # pool Swim 2026-09-06
    "i91000021": Pick("activity_ride_paired_workout_subset", ("activity",)),  # Ride 2026-07-29, paired
    "i91000022": Pick("activity_manual_strength_paired_subset", ("activity",)),  # manual strength 2026-07-30
}
# The track ride whose laps were written back (activity_intervals_ride_put_response_subset) has no
# recorded activity object; this one is made from that payload: its id, its moving time (the intervals'
# sum, 920 + 15 + 15 + 3332 = 4282 s), the sport of its settings (TrackRide) and the day it was analysed.
DERIVED_ACTIVITIES: dict[str, dict[str, Any]] = {
    "i91000023": {
        "id": "i91000023",
        "icu_athlete_id": KIRI,
        "start_date_local": "2026-08-13T18:30:00",
        "type": "TrackRide",
        "name": "Track session",
        "moving_time": 4282,
        "elapsed_time": 4282,
        "icu_chat_id": None,
    },
}
# Recorded activities given a chat id: the corpus has no activity with a comment thread (README).
OVERLAYS: dict[str, dict[str, Any]] = {
    "i91000002": {"icu_chat_id": 9400002},  # a thread in the coach's last 7 days
    "i91000021": {"icu_chat_id": 9400021},  # a thread with a deleted comment
}
# `GET /athlete/{id}/activities/{ids}?intervals=true`: the intervals recorded for these activities
# (i91000021 carries its own icu_intervals in its recording).
INTERVALS: dict[str, Pick] = {
    "i91000001": Pick("activity_intervals_run_no_power"),
    "i91000004": Pick("activity_intervals_swim_subset"),
    "i91000023": Pick("activity_intervals_ride_put_response_subset"),
}
# `GET /activity/{id}/streams`. The run's 110 samples and the track ride's 180 are what was recorded
# (a window of each activity, not its whole length).
STREAMS: dict[str, Pick] = {
    "i91000001": Pick("streams_run_power_hr_dropout"),
    "i91000023": Pick("streams_track_ride_recording_stops"),
}


def _message(mid: int, author: tuple[str, str], at: str, content: str | None, activity: str) -> dict[str, Any]:
    return {
        "id": mid,
        "athlete_id": author[0],
        "name": author[1],
        "created": at,
        "type": "TEXT",
        "content": content,
        "activity_id": activity,
        "seen": True,
    }


_KIRI_AUTHOR = (KIRI, "Kiri Walsh")
# DERIVED: `GET /activity/{id}/messages` (no recording exists; fields from the OpenAPI Message schema,
# `deleted` as the date-time the schema gives it, with `deleted_by_id`).
MESSAGES: dict[str, list[dict[str, Any]]] = {
    "i91000002": [
        _message(
            9500101,
            COACH_ON_INTERVALS,
            "2026-09-12T09:30:00Z",
            "HR sat at 161: was that meant to be easy?",
            "i91000002",
        ),
        _message(
            9500102, _KIRI_AUTHOR, "2026-09-12T11:02:00Z", "Meant to be easy, legs heavy from Thursday.", "i91000002"
        ),
    ],
    "i91000021": [
        _message(9500001, _KIRI_AUTHOR, "2026-07-28T22:00:00Z", "Second block felt hard, HR drifted.", "i91000021"),
        _message(9500002, COACH_ON_INTERVALS, "2026-07-28T23:10:00Z", "214 W is right on target.", "i91000021"),
        {
            **_message(9500003, _KIRI_AUTHOR, "2026-07-28T23:40:00Z", None, "i91000021"),
            "deleted": "2026-07-29T01:15:00Z",
            "deleted_by_id": KIRI,
        },
    ],
}

# --- calendar, wellness, settings, library, curves ------------------------------------------------------
EVENTS: list[Pick] = [  # each a list of Event objects, or one
    Pick("events_workouts_and_note"),  # 2026-02-03: Yoga, Other, NOTE, VirtualRide
    Pick("event_note_empty_description"),  # 2026-02-09 NOTE, description ""
    Pick("events_workout_docs_hr_power_pace_swim"),  # 2026-03-10: HR, power, pace and swim workouts
    Pick("events_races_notes_subset"),  # 2026-05-03 .. 07-26: strength WORKOUT, NOTE, RACE_A, RACE_C
    Pick("event_note_create_response_2026"),  # 2026-05-25 NOTE (as created; the calendar holds it after)
    Pick("activity_ride_paired_workout_subset", ("event",)),  # 2026-07-29 WORKOUT paired with i91000021
    Pick("activity_manual_strength_paired_subset", ("event",)),  # 2026-07-30 WORKOUT paired with i91000022
]
WELLNESS: list[Pick] = [
    Pick("wellness_list_hrv_sdnn_spo2"),  # 2026-09-05 .. 09-14
    Pick("wellness_day_sport_info"),  # 2026-05-24 (recorded by GET /wellness/{date}: the same Wellness object)
]
KIRI_SPORT_SETTINGS = Pick("sport_settings_list")
SPORT_SETTINGS: dict[str, Pick | None] = {KIRI: KIRI_SPORT_SETTINGS, RAVI: None}  # None: answers []
FOLDERS: dict[str, Pick | None] = {KIRI: Pick("folders_workout_library"), RAVI: None}
# Athlete curves by (kind, curve spec). A date-range spec `r.A.B` is the recorded curve whose window is
# exactly A..B (the HR curves were recorded on 2026-09-14, the pace curves on 2026-09-15).
CURVES: dict[tuple[str, str], Pick] = {
    ("hr", "90d"): Pick("hr_curves_90d_1y", ("list", 0)),
    ("hr", "r.2026-06-16.2026-09-14"): Pick("hr_curves_90d_1y", ("list", 0)),
    ("hr", "1y"): Pick("hr_curves_90d_1y", ("list", 1)),
    ("hr", "r.2025-09-14.2026-09-14"): Pick("hr_curves_90d_1y", ("list", 1)),
    ("pace", "all"): Pick("pace_curves_all_90d", ("list", 0)),
    ("pace", "90d"): Pick("pace_curves_all_90d", ("list", 1)),
    ("pace", "r.2026-06-17.2026-09-15"): Pick("pace_curves_all_90d", ("list", 1)),
}
CURVE_ACTIVITIES = {
    "hr": Pick("hr_curves_90d_1y", ("activities",)),
    "pace": Pick("pace_curves_all_90d", ("activities",)),
}

# DERIVED: what the corpus has no recording of, answered by the sandbox asked as STAND_IN (path → the
# overlay applied to the sandbox's answer: the corpus athlete's id, name, time zone, and for the profile
# the recorded sport settings and the weight and resting HR of the latest recorded activity).
_KIRI_PROFILE: dict[str, Any] = {
    "id": KIRI,
    "name": "Kiri Walsh",
    "firstname": "Kiri",
    "lastname": "Walsh",
    "timezone": TIMEZONE,
    "city": None,
    "state": None,
    "country": None,
    "icu_weight": 65,
    "weight": 65,
    "icu_resting_hr": 53,
    "email": None,  # the stand-in's own secrets are not the corpus athlete's
    "icu_api_key": None,
    "icu_friend_invite_token": None,
}
_RAVI_PROFILE: dict[str, Any] = {
    "id": RAVI,
    "name": "Ravi Menon",
    "firstname": "Ravi",
    "lastname": "Menon",
    "timezone": TIMEZONE,
    "city": None,
    "state": None,
    "country": None,
    "email": None,
    "icu_api_key": None,
    "icu_friend_invite_token": None,
    "sportSettings": [],
}
DERIVED = {
    "GET /athlete/{id}": "sandbox profile of STAND_IN + overlay (Kiri: the recorded sport settings)",
    "GET /athlete/{id}/connections": "sandbox connections of STAND_IN",
    "GET /athlete/{id}/power-curves": "sandbox power curves of STAND_IN (its activity ids are the sandbox's)",
    "GET /activity/{id}/messages": "MESSAGES above, from the OpenAPI Message schema",
    "activity i91000023": "DERIVED_ACTIVITIES above, from the recorded intervals write-back",
}


# --- the app -------------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def _error(status: int, error: str) -> JSONResponse:
    return JSONResponse({"status": status, "error": error}, status_code=status)  # the API's own error body


def _caller(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    athlete = TOKENS.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
    if athlete is None:
        raise ApiError(401, "Unauthorized")
    return athlete


def _athlete(request: Request, raw: str) -> str:
    """The athlete a path names, which must be the caller ("0" means the caller, like the real API)."""
    caller = _caller(request)
    wanted = caller if raw == "0" else raw if raw.startswith("i") else f"i{raw}"
    if wanted != caller:
        raise ApiError(403, "Access denied")
    return caller


def _activity_record(activity_id: str, *, intervals: bool) -> dict[str, Any] | None:
    if activity_id in ACTIVITIES:
        record: dict[str, Any] = ACTIVITIES[activity_id].value()
    elif activity_id in DERIVED_ACTIVITIES:
        record = copy.deepcopy(DERIVED_ACTIVITIES[activity_id])
    else:
        return None
    record.update(OVERLAYS.get(activity_id, {}))
    embedded = {k: record.pop(k) for k in ("icu_intervals", "icu_groups") if k in record}
    if intervals:  # the API leaves icu_intervals out unless ?intervals=true (corpus README, observations)
        recorded = INTERVALS[activity_id].value() if activity_id in INTERVALS else embedded
        for key in ("icu_intervals", "icu_groups"):
            if key in recorded:
                record[key] = recorded[key]
    return record


def _owned_activity(request: Request, activity_id: str) -> dict[str, Any]:
    record = _activity_record(activity_id, intervals=False) if _caller(request) == KIRI else None
    if record is None:
        raise ApiError(404, f"Activity not found: {activity_id}")
    return record


def _local(raw: str, end_of_day: bool) -> str:
    if len(raw) == 10:
        return f"{raw}T23:59:59" if end_of_day else f"{raw}T00:00:00"
    return raw


def _items(picks: Iterable[Pick]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for pick in picks:
        value = pick.value()
        out.extend(value if isinstance(value, list) else [value])
    return out


def _qlist(request: Request, name: str) -> list[str]:
    return [v.strip() for v in (request.query_params.get(name) or "").split(",") if v.strip()]


async def activity_list(request: Request, athlete: str) -> Any:
    caller = _athlete(request, athlete)
    oldest = request.query_params.get("oldest")
    if not oldest:
        raise ApiError(422, "oldest is required")
    lo = _local(oldest, end_of_day=False)
    hi = _local(request.query_params.get("newest") or "9999-12-31", end_of_day=True)
    fields = _qlist(request, "fields")
    limit = int(request.query_params.get("limit") or 0)
    ids = [*ACTIVITIES, *DERIVED_ACTIVITIES] if caller == KIRI else []
    rows = [r for r in (_activity_record(i, intervals=False) for i in ids) if r is not None]
    rows = [r for r in rows if lo <= r["start_date_local"] <= hi]
    rows.sort(key=lambda r: r["start_date_local"], reverse=True)  # newest first, as the API lists them
    if limit:
        rows = rows[:limit]
    return [{k: v for k, v in r.items() if k in fields} for r in rows] if fields else rows


async def activities_by_id(request: Request, athlete: str, ids: str) -> Any:
    if _athlete(request, athlete) != KIRI:
        return []
    intervals = request.query_params.get("intervals") == "true"
    found = (_activity_record(raw.strip(), intervals=intervals) for raw in ids.split(","))
    return [record for record in found if record is not None]


async def streams(request: Request, activity: str) -> Any:
    record = _owned_activity(request, activity)
    if record.get("source") == "STRAVA":
        raise ApiError(422, "Cannot read Strava activities via the API")
    if activity not in STREAMS:
        raise ApiError(404, f"No recorded streams for {activity} in the corpus")
    wanted = set(_qlist(request, "types"))
    return [s for s in STREAMS[activity].value() if not wanted or s["type"] in wanted]


async def messages(request: Request, activity: str) -> Any:
    _owned_activity(request, activity)
    return copy.deepcopy(MESSAGES.get(activity, []))


async def wellness(request: Request, athlete: str) -> Any:
    caller = _athlete(request, athlete)
    lo = request.query_params.get("oldest") or "0000-01-01"
    hi = request.query_params.get("newest") or CORPUS_TODAY.isoformat()
    rows = _items(WELLNESS) if caller == KIRI else []
    return sorted((w for w in rows if lo <= w["id"][:10] <= hi), key=lambda w: w["id"])


async def events(request: Request, athlete: str) -> Any:
    caller = _athlete(request, athlete)
    lo = request.query_params.get("oldest") or CORPUS_TODAY.isoformat()
    hi = request.query_params.get("newest") or lo
    categories = set(_qlist(request, "category"))
    rows = _items(EVENTS) if caller == KIRI else []
    rows = [
        e
        for e in rows
        if lo <= e["start_date_local"][:10] <= hi and (not categories or e.get("category") in categories)
    ]
    return sorted(rows, key=lambda e: (e["start_date_local"], e["id"]))


async def sport_settings(request: Request, athlete: str) -> Any:
    pick = SPORT_SETTINGS.get(_athlete(request, athlete))
    return pick.value() if pick else []


async def folders(request: Request, athlete: str) -> Any:
    pick = FOLDERS.get(_athlete(request, athlete))
    return pick.value() if pick else []


async def curves(request: Request, athlete: str, kind: str) -> Any:
    _athlete(request, athlete)
    specs = _qlist(request, "curves") or ["1y"]
    missing = [s for s in specs if (kind, s) not in CURVES]
    if missing:  # a curve the corpus has no recording of: refuse loudly rather than invent one
        raise ApiError(422, f"No recorded {kind} curve {', '.join(missing)} in the corpus")
    found = [CURVES[(kind, s)].value() for s in specs]
    named = {a for curve in found for a in curve["activity_id"]}  # the API maps only the curves' activities
    return {"list": found, "activities": {k: v for k, v in CURVE_ACTIVITIES[kind].value().items() if k in named}}


class Forwarder:
    """The sandbox, in-process, anchored on CORPUS_TODAY and asked as STAND_IN."""

    def __init__(self) -> None:
        self.state = SandboxState(SandboxConfig(today=CORPUS_TODAY))
        self.app = create_sandbox_app(self.state)

    async def get(self, path: str, params: dict[str, str]) -> Any:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            response = await client.get(
                f"/api/v1{path}",
                params=params,
                headers={"Authorization": f"Bearer {self.state.demo_token(STAND_IN)}"},
            )
        if response.status_code >= 400:
            raise ApiError(response.status_code, str(response.json().get("error", "")))
        return response.json()


def _sandbox(request: Request) -> Forwarder:
    forwarder: Forwarder = request.app.state.forwarder
    return forwarder


async def profile(request: Request, athlete: str) -> Any:  # DERIVED
    caller = _athlete(request, athlete)
    out = await _sandbox(request).get(f"/athlete/{STAND_IN}", {})
    if caller == KIRI:
        out.update(_KIRI_PROFILE, sportSettings=KIRI_SPORT_SETTINGS.value())
    else:
        out.update(_RAVI_PROFILE)
    return out


async def connections(request: Request, athlete: str) -> Any:  # DERIVED
    caller = _athlete(request, athlete)
    return {**await _sandbox(request).get(f"/athlete/{STAND_IN}/connections", {}), "id": caller}


async def power_curves(request: Request, athlete: str) -> Any:  # DERIVED
    _athlete(request, athlete)
    return await _sandbox(request).get(f"/athlete/{STAND_IN}/power-curves", dict(request.query_params))


Handler = Callable[..., Awaitable[Any]]
# The paths Threshold's client seam calls (integrations/intervals/client.py), under /api/v1.
ROUTES: list[tuple[str, Handler]] = [
    (r"/athlete/(?P<athlete>[^/]+)", profile),
    (r"/athlete/(?P<athlete>[^/]+)/connections", connections),
    (r"/athlete/(?P<athlete>[^/]+)/activities", activity_list),
    (r"/athlete/(?P<athlete>[^/]+)/activities/(?P<ids>[^/]+)", activities_by_id),
    (r"/athlete/(?P<athlete>[^/]+)/wellness", wellness),
    (r"/athlete/(?P<athlete>[^/]+)/events", events),
    (r"/athlete/(?P<athlete>[^/]+)/sport-settings", sport_settings),
    (r"/athlete/(?P<athlete>[^/]+)/folders", folders),
    (r"/athlete/(?P<athlete>[^/]+)/(?P<kind>hr|pace)-curves", curves),
    (r"/athlete/(?P<athlete>[^/]+)/power-curves", power_curves),
    (r"/activity/(?P<activity>[^/]+)/streams", streams),
    (r"/activity/(?P<activity>[^/]+)/messages", messages),
]
_COMPILED = [(re.compile(f"^/api/v1{pattern}$"), handler) for pattern, handler in ROUTES]


async def _dispatch(request: Request) -> Response:
    path = request.url.path
    for pattern, handler in _COMPILED:
        match = pattern.match(path)
        if match is None:
            continue
        if request.method != "GET":
            return _error(405, "Method Not Allowed")  # the corpus is read-only
        try:
            return JSONResponse(await handler(request, **match.groupdict()))
        except ApiError as exc:
            return _error(exc.status, exc.error)
    # Spring's default body for an unknown route (corpus: error_bodies_forum.json).
    body = {"timestamp": "2026-09-14T10:00:00.000+00:00", "status": 404, "error": "Not Found", "path": path}
    return JSONResponse(body, status_code=404)


def create_app() -> Starlette:
    """The upstream app; `app.state.forwarder` is the sandbox it asks for what is DERIVED."""
    app = Starlette(routes=[Route("/{rest:path}", _dispatch, methods=["GET", "POST", "PUT", "DELETE"])])
    app.state.forwarder = Forwarder()
    return app
