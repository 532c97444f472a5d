"""log_wellness (a day's wellness record, only the given fields) and add_activity_comment."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

from coaching.actions import WriteRecord
from integrations.intervals import errors
from mcpserver import present
from mcpserver.bounds import BoundedDate
from mcpserver.catalogue import AthleteEcho, ToolCall, ToolFailure, ToolResult, ToolSpec, register
from mcpserver.tools.activity import ACTIVITY_ID
from mcpserver.tools.writes_common import UNDO_HINT, WriteInput, today_for, who
from mcpserver.tools.writes_confirm import ConfirmInput, confirm_note, confirmed, issue

SCORE = "1-4, 1 = best"

# input field -> (Intervals wellness field, unit shown to the model)
WELLNESS_FIELDS: dict[str, tuple[str, str]] = {
    "weight_kg": ("weight", "kg"),
    "hrv_ms": ("hrv", "rMSSD ms"),
    "resting_hr": ("restingHR", "bpm"),
    "sleep_hours": ("sleepSecs", "hours"),
    "sleep_quality": ("sleepQuality", SCORE),
    "soreness": ("soreness", SCORE),
    "fatigue": ("fatigue", SCORE),
    "stress": ("stress", SCORE),
    "mood": ("mood", SCORE),
    "motivation": ("motivation", SCORE),
    "notes": ("comments", "text"),
}
NUMERIC_CLEAR = -1  # Intervals.icu clears a numeric wellness field sent as -1 (reference §1)


def _score() -> Any:
    return Field(default=None, ge=1, le=4)


_Num = WithJsonSchema({"type": "number"})  # sanity bounds are validated, not published


class WellnessInput(ConfirmInput):
    date: BoundedDate | None = Field(default=None, description="Athlete-local; default today.")
    weight_kg: Annotated[float | None, _Num] = Field(default=None, ge=20, le=300)
    hrv_ms: Annotated[float | None, _Num] = Field(default=None, gt=0, le=300, description="rMSSD")
    resting_hr: Annotated[int | None, _Num] = Field(default=None, ge=20, le=150)
    sleep_hours: Annotated[float | None, _Num] = Field(default=None, ge=0, le=24)
    sleep_quality: int | None = _score()
    soreness: int | None = _score()
    fatigue: int | None = _score()
    stress: int | None = _score()
    mood: int | None = _score()
    motivation: int | None = _score()
    notes: str | None = Field(default=None, max_length=2000)


class WellnessOutput(BaseModel):
    athlete: AthleteEcho
    status: str
    date: str
    logged: dict[str, Any]
    previous: dict[str, Any]
    units: dict[str, str]
    note: str | None = None
    confirm: str | None = None  # replacing a value needs the code of its preview (writes_confirm)


class CommentInput(WriteInput):
    activity_id: str = Field(max_length=40)
    text: str = Field(min_length=1, max_length=2000)


class CommentOutput(BaseModel):
    athlete: AthleteEcho
    status: str
    activity: dict[str, Any]
    comment: dict[str, Any]


def _upstream_value(field: str, value: Any) -> Any:
    if field == "sleep_hours":
        return round(float(value) * 3600)
    if field == "notes":
        return str(value).strip()
    return value


def _shown(field: str, value: Any) -> Any:
    """An upstream value in the units the model sees (sleep in hours; notes, free text, as untrusted data)."""
    if value is None:
        return None
    if field == "sleep_hours":
        return round(float(value) / 3600, 2)
    if field == "notes":
        return present.untrusted(value)
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) < 1e-6
    return a == b


async def log_wellness(call: ToolCall, args: WellnessInput) -> ToolResult:
    access = call.athlete(args.athlete)
    client = access.client()
    today = today_for(access)
    day = args.date or today
    if day > today:
        raise ToolFailure(
            f"{present.day_label(day)} is in the future for athlete {access.athlete_id} (today is "
            f"{present.day_label(today)}); "
            "wellness is logged for today or earlier."
        )
    given = {f: getattr(args, f) for f in WELLNESS_FIELDS if getattr(args, f) is not None}
    if not given:
        raise ToolFailure("Nothing to log: pass at least one of " + ", ".join(WELLNESS_FIELDS) + ".")
    changes = {WELLNESS_FIELDS[f][0]: _upstream_value(f, v) for f, v in given.items()}
    path = f"/api/v1/athlete/{access.athlete_id}/wellness/{day.isoformat()}"
    current = await client.request("GET", path)
    current = current if isinstance(current, dict) else {}
    before = {key: current.get(key) for key in changes}
    units = {f: WELLNESS_FIELDS[f][1] for f in given}
    previous = {f: _shown(f, before[WELLNESS_FIELDS[f][0]]) for f in given}
    label = present.day_label(day)
    summary = ", ".join(f"{f} {v}" for f, v in given.items() if f != "notes") or "notes"

    shown = {f: _shown(f, v) for f, v in given.items()}

    def result(
        status: str,
        logged: dict[str, Any],
        text: str,
        write: WriteRecord | None = None,
        note: str | None = None,
        confirm: str | None = None,
    ) -> ToolResult:
        data: dict[str, Any] = {
            "athlete": access.echo(),
            "status": status,
            "date": label,
            "logged": logged,
            "previous": previous,  # null: the day had no value there
            "units": units,
        }
        data.update({k: v for k, v in (("note", note), ("confirm", confirm)) if v is not None})
        return ToolResult(data=data, text=text, write=write, preview=status == "preview")

    # Filling empty fields is additive; replacing a value the day already has needs the user's go-ahead.
    replaces = any(not _empty(before[k]) and not _same(before[k], v) for k, v in changes.items())
    state = {"day": day.isoformat(), "before": before}  # the day too: `date` may be left to default to today
    if args.dry_run or (replaces and not confirmed(call, access, args, state)):
        code = issue(call, access, args, state) if replaces else None
        note = confirm_note(args, code)
        text = f"Preview for {who(access)}, nothing written: {label}: {summary}." + (f" {note}" if note else "")
        return result("preview", shown, text, note=note, confirm=code)
    if all(_same(before[k], v) for k, v in changes.items()):
        return result("unchanged", shown, f"{who(access)} {label} already has {summary}; nothing changed.")
    saved = await client.request("PUT", path, json=changes)
    saved = saved if isinstance(saved, dict) else {**current, **changes}
    after = {key: saved.get(key, changes[key]) for key in changes}
    logged = {f: _shown(f, after[WELLNESS_FIELDS[f][0]]) for f in given}
    write = WriteRecord(kind="wellness.update", target=day.isoformat(), before=before, after=after)
    return result("updated", logged, f"Logged for {who(access)} on {label}: {summary}.{UNDO_HINT}", write)


async def add_activity_comment(call: ToolCall, args: CommentInput) -> ToolResult:
    access = call.athlete(args.athlete)
    client = access.client()
    activity_id = args.activity_id.strip()
    missing = ToolFailure(f"No activity {activity_id} for athlete {access.athlete_id}.")
    if not access.allows_scope("ACTIVITY:READ"):
        raise ToolFailure(
            "Checking the activity needs the Intervals.icu permission ACTIVITY:READ, which was not granted. "
            "Reconnect Intervals.icu from the Threshold dashboard and tick it."
        )
    if not ACTIVITY_ID.fullmatch(activity_id):
        raise missing  # '/', '..', '?', '%2F' would change the upstream path the id is pasted into
    try:
        # Asked through the athlete's own collection (like owned_activity): another athlete's id comes back
        # as an empty list, so nothing of theirs is read, even through a coach API key that could read it.
        found = await client.request("GET", f"/api/v1/athlete/{access.athlete_id}/activities/{activity_id}")
    except (errors.UpstreamNotFound, errors.UpstreamForbidden, errors.UpstreamInvalid):
        raise missing from None
    rows = found if isinstance(found, list) else []
    activity = next((a for a in rows if isinstance(a, dict) and str(a.get("id")) == activity_id), None)
    if activity is None:
        raise missing
    owner = str(activity.get("icu_athlete_id") or "")
    if owner.removeprefix("i") != access.athlete_id.removeprefix("i"):
        raise missing
    local = present.parse_local(activity.get("start_date_local"))
    day = present.day_label(local.date()) if local else ""
    shown_activity: dict[str, Any] = {"id": activity_id, "date": day or None}
    shown_activity.update({"name": present.untrusted(activity.get("name")), "sport": activity.get("type")})
    shown_activity = {k: v for k, v in shown_activity.items() if v is not None}
    text = args.text.strip()
    label = f"{present.fence(activity.get('name'), 40)} ({activity_id}, {day})"

    def result(status: str, comment: dict[str, Any], line: str, write: WriteRecord | None = None) -> ToolResult:
        data = {"athlete": access.echo(), "status": status, "activity": shown_activity, "comment": comment}
        return ToolResult(data=data, text=line, write=write, preview=status == "preview")

    if args.dry_run:
        return result("preview", {"text": text}, f"Preview for {who(access)}, nothing posted: comment on {label}.")
    messages = await client.request("GET", f"/api/v1/activity/{activity_id}/messages")
    me = access.athlete_id.removeprefix("i")
    rows = messages if isinstance(messages, list) else []
    mine = [m for m in rows if isinstance(m, dict) and str(m.get("athlete_id") or "").removeprefix("i") == me]
    if mine and (mine[-1].get("content") or "").strip() == text:
        comment = {"id": mine[-1].get("id"), "text": text}
        return result("unchanged", comment, f"That comment is already the latest on {label}; not posted twice.")
    posted = await client.request("POST", f"/api/v1/activity/{activity_id}/messages", json={"content": text})
    message_id = posted.get("id") if isinstance(posted, dict) else None
    comment = {"id": message_id, "text": text} if message_id is not None else {"text": text}
    write = WriteRecord(
        kind="comment.create",
        target=activity_id,
        before=None,
        after={"activity_id": activity_id, "message_id": message_id, "content": text},
    )
    line = (
        f"Commented on {present.fence(access.name, 40)}'s activity {label}. Comments cannot be undone through "
        "Intervals.icu's API; delete it in Intervals.icu if needed."
    )
    return result("created", comment, line, write)


register(
    ToolSpec(
        name="log_wellness",
        title="Log wellness",
        description=(
            "Log a day's wellness (default today): weight, HRV, resting HR, sleep, notes, and 1-4 scores where "
            "1 is best. Only given fields change. Undoable."
        ),
        input_model=WellnessInput,
        output_model=WellnessOutput,
        handler=log_wellness,
        scope="WELLNESS:WRITE",
        read_only=False,
        destructive=True,  # it may replace a value the day already has (then it needs a confirm code)
        idempotent=True,
        group="write",
    )
)

register(
    ToolSpec(
        name="add_activity_comment",
        title="Comment on activity",
        description="Post a comment on one of the athlete's activities (they and coaches see it). Not undoable.",
        input_model=CommentInput,
        output_model=CommentOutput,
        handler=add_activity_comment,
        scope="CHATS:WRITE",
        read_only=False,
        group="write",
    )
)
