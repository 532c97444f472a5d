"""catch_up: what changed since this coach URL last asked, per athlete (cursor kept server-side).

New activities, new comments, wellness logged, missed workouts and calendar edits (added, changed,
removed events) since the token's cursor for that athlete; the first call covers the last 7 days and
records the calendar as the baseline for later edits. Each call moves the cursor. Reads use the same
windows as the other coach tools, so they are mostly served by the shared cache.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

from django.utils import timezone as dj_timezone
from pydantic import BaseModel

from integrations.intervals.schemas import Activity, Event, Wellness
from mcpserver import present
from mcpserver.catalogue import AthleteInput, ToolCall, ToolResult, ToolSpec, register
from mcpserver.db import run_db
from mcpserver.principal import AthleteAccess
from mcpserver.tools import coach_common as cc
from mcpserver.tools.activity import tidy

FIRST_DAYS = 7
MAX_ITEMS = 5


class CatchUpInput(AthleteInput):
    pass


class CatchUpOutput(BaseModel):
    athletes: list[dict[str, Any]] = []  # each: athlete (echo), since, then only what is new
    quiet: list[str] = []
    errors: list[str] = []
    units: dict[str, str]


UNITS = {
    "since": "athlete-local date the catch-up starts from (last call, or 7 days back on the first)",
    "activities": "moving time h:mm:ss, training load (1 h at threshold = 100)",
    "calendar": "events added / changed / removed since the last call (first call records the baseline)",
}


def _print(e: Event) -> str:
    raw = "|".join(str(x) for x in (e.start_date_local, e.name, e.moving_time, e.icu_training_load, e.description))
    return f"{(e.start_date_local or '')[:10]}|{hashlib.sha256(raw.encode()).hexdigest()[:10]}"


def _activity(a: Activity) -> dict[str, Any]:
    d = cc.local_day(a.start_date_local)
    day = present.day_label(d) if d else "?"
    if a.is_strava_stub:
        return {"date": day, "id": a.id, "unavailable": "Strava import (no details via the API)"}
    return tidy(
        {
            "date": day,
            "id": a.id,
            "sport": a.type,
            "name": present.untrusted(cc.short(a.name, 40)),
            "duration": present.hms(a.moving_time),
            "load": round(a.icu_training_load) if a.icu_training_load else None,
        }
    )


def _wellness(ws: list[Wellness], since: date, hidden: frozenset[str]) -> str | None:
    fields = [
        ("hrv", "HRV", lambda w: w.hrv, " ms"),
        ("hrv", "HRV SDNN", lambda w: w.hrvSDNN, " ms"),  # another measure than rMSSD: its own label
        ("hrv", "resting HR", lambda w: w.restingHR, " bpm"),
        ("sleep", "sleep", lambda w: round(w.sleepSecs / 3600, 1) if w.sleepSecs else None, " h"),
        ("weight", "weight", lambda w: w.weight, " kg"),
        ("", "fatigue (1 low-4 extreme)", lambda w: w.fatigue, ""),
        ("", "soreness (1 low-4 extreme)", lambda w: w.soreness, ""),
    ]
    shown = [f for f in fields if f[0] not in hidden]
    days = sorted(
        (w for w in ws if date.fromisoformat(w.id[:10]) >= since and any(get(w) is not None for _, _, get, _ in shown)),
        key=lambda w: w.id,
    )
    if not days:
        return None
    last = days[-1]
    values = ", ".join(f"{label} {get(last):g}{unit}" for _, label, get, unit in shown if get(last) is not None)
    return f"{len(days)} days logged; latest {present.day_label(date.fromisoformat(last.id[:10]))}: {values}"


def _load_cursors(token_id: int) -> dict[str, Any]:
    from coaching.models import CatchUpCursor

    return {c.athlete_id: c for c in CatchUpCursor.objects.filter(token_id=token_id)}


def _save_cursors(token_id: int, rows: list[dict[str, Any]]) -> None:
    from coaching.models import CatchUpCursor

    for row in rows:
        CatchUpCursor.objects.update_or_create(token_id=token_id, athlete_id=row.pop("athlete_id"), defaults=row)


def _changes(data: cc.AthleteData, cursor: Any, now_ids: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what is new for this athlete, the cursor's new state)."""
    a: AthleteAccess = data.access
    today = data.today
    if cursor is not None:
        seen_day = cursor.last_seen_at.astimezone(present.zone(a.timezone)).date()
        since = max(seen_day, today - timedelta(days=cc.ACTIVITY_DAYS - 1))
    else:
        since = today - timedelta(days=FIRST_DAYS - 1)
    out: dict[str, Any] = {"athlete": a.echo(), "since": present.day_label(since)}
    state: dict[str, Any] = {"athlete_id": a.athlete_id, "last_seen_at": dj_timezone.now()}
    skipped = []
    if data.activities is not None:
        seen = set(cursor.activity_ids if cursor is not None else [])
        new = [
            x
            for x in sorted(data.activities, key=lambda x: x.start_date_local or "")
            if x.id not in seen and (cc.local_day(x.start_date_local) or date.min) >= since
        ]
        if new:
            out["activities"] = [_activity(x) for x in new[-MAX_ITEMS:]]
            if len(new) > MAX_ITEMS:
                out["activities_more"] = len(new) - MAX_ITEMS
        state["activity_ids"] = now_ids
    else:
        skipped.append("activities")
    if data.threads is not None:
        last_id = cursor.last_message_id if cursor is not None else 0
        fresh = sorted(
            ((aid, m) for aid, msgs in data.threads.items() for m in msgs if (m.id or 0) > last_id),
            key=lambda pair: pair[1].id or 0,
        )
        if fresh:
            out["comments"] = [
                {**cc.activity_ref(data, aid), **cc.message_item(m, 90)} for aid, m in fresh[-MAX_ITEMS:]
            ]
            waiting = sum(1 for msgs in data.threads.values() if cc.awaiting_reply(a, msgs))
            if waiting:
                out["awaiting_reply"] = waiting
        state["last_message_id"] = max([last_id, *(m.id or 0 for _, m in fresh)])
    elif not cc.can_comments(a):
        skipped.append("comments")
    if data.wellness is not None and cc.can_wellness(a):
        line = _wellness(data.wellness, since, a.hidden)
        if line:
            out["wellness"] = line
    elif not cc.can_wellness(a):
        skipped.append("wellness")
    if data.events is not None:
        missed = cc.missed_workouts(data, since, today)
        if missed:
            out["missed"] = [cc.ev_item(e) for e in missed[:MAX_ITEMS]]
        prints = {str(e.id): _print(e) for e in data.events}
        if cursor is not None and cursor.event_prints:
            old: dict[str, str] = cursor.event_prints
            lo = (today - timedelta(days=cc.EVENT_PAST_DAYS - 1)).isoformat()
            by_id = {str(e.id): e for e in data.events}
            added = [cc.ev_item(by_id[k]) for k in prints if k not in old]
            changed = [cc.ev_item(by_id[k]) for k in prints if k in old and old[k] != prints[k]]
            removed = [f"{v[:10]} event {k}" for k, v in old.items() if k not in prints and v[:10] >= lo]
            cal = {"added": added[:MAX_ITEMS], "changed": changed[:MAX_ITEMS], "removed": removed[:MAX_ITEMS]}
            cal = {k: v for k, v in cal.items() if v}
            if cal:
                out["calendar"] = cal
        state["event_prints"] = prints
    else:
        skipped += ["missed", "calendar"]
    if skipped:
        out["skipped"] = skipped
    return out, state


async def catch_up(call: ToolCall, args: CatchUpInput) -> ToolResult:
    roster = [call.athlete(args.athlete)] if args.athlete else call.principal.athletes
    cursors = await run_db(_load_cursors, call.principal.token_id)
    fetcher = cc.Fetcher()

    async def one(a: AthleteAccess) -> cc.AthleteData:
        today = present.local_today(a.timezone)
        cur = cursors.get(a.athlete_id)
        since = today - timedelta(days=FIRST_DAYS - 1)
        if cur is not None:
            since = max(cur.last_seen_at.astimezone(present.zone(a.timezone)).date(), today - timedelta(days=27))
        return await fetcher.athlete(a, threads_since=since)

    fetched = await cc.gather_roster(roster, one)
    rows, quiet, states, problems = [], [], [], []
    newsworthy: list[AthleteAccess] = []
    for data in fetched:
        ids = [x.id for x in data.activities or []]
        out, state = _changes(data, cursors.get(data.access.athlete_id), ids)
        problems += [f"{data.access.athlete_id}: {e}" for e in data.errors]
        if data.errors:
            state = {"athlete_id": data.access.athlete_id}  # a failed read must not skip changes: keep the cursor
            if data.access.athlete_id in cursors:
                states.append({**state, "last_seen_at": cursors[data.access.athlete_id].last_seen_at})
        else:
            states.append(state)
        news = {k for k in out if k not in ("athlete", "since", "skipped")}
        if news:
            rows.append(out)
            newsworthy.append(data.access)
        else:
            quiet.append(f"{data.access.athlete_id} since {out['since']}")
    await run_db(_save_cursors, call.principal.token_id, states)
    data_out = present.compact({"athletes": rows, "quiet": quiet, "errors": problems, "units": UNITS})
    names = ", ".join(present.fence(a.name, 40) for a in newsworthy[:6])
    text = f"Catch-up: news for {len(rows)} of {len(roster)} athletes" + (f" ({names})" if names else "")
    return ToolResult(data=data_out, text=text + "; cursor moved to now.")  # type: ignore[arg-type]


register(
    ToolSpec(
        name="catch_up",
        title="Catch up",
        description=(
            "What changed since you last asked, per athlete: new activities, comments, wellness, missed "
            "workouts, calendar edits. First call: last 7 days."
        ),
        input_model=CatchUpInput,
        output_model=CatchUpOutput,
        handler=catch_up,
        scope=None,
        group="coach",
    )
)
