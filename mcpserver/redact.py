"""What a coach sees of an answer about an athlete who hid data classes from them: an allow-list.

An athlete can hide data classes from a coach (`CoachGrant.hidden_classes`). Every answer a coach gets about
such an athlete goes through `answer()`: a field passes only if it is registered here and none of the classes
its value may reveal is hidden. Anything else is dropped: an unknown key, an upstream (camelCase) key, and
free text that may carry hidden data. A key added to a tool's answer is therefore hidden from such coaches
until it is registered (tests/test_hidden_classes.py fails on every unregistered key a tool answers with).

The one-line text is kept only for tools whose text carries no data of any class (`PLAIN_TEXT`); any other
tool's text is rebuilt from the redacted answer, so a client that shows the model only the text still gets
the answer, minus what is hidden.

The athlete's own access log keeps the whole answer (mcpserver.catalogue logs it before redaction): the
athlete always sees everything about their own data. Pure: no Django, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

# The hideable classes, as CoachGrant.DataClass spells them (tests check the two lists agree).
DATA_CLASSES = ("weight", "hrv", "sleep", "menstrual", "location", "notes")

SAFE: frozenset[str] = frozenset()
ALL = frozenset(DATA_CLASSES)
WEIGHT, HRV, SLEEP = frozenset({"weight"}), frozenset({"hrv"}), frozenset({"sleep"})
MENSTRUAL, LOCATION, NOTES = frozenset({"menstrual"}), frozenset({"location"}), frozenset({"notes"})

# Free text the athlete wrote for themselves (a wellness record's comment, an activity's description) may
# mention anything (sleep, weight, their cycle, where they were...): any hidden class hides it. Comments
# written to the coach on an activity (its thread) are the "notes" class alone.
OWN_TEXT = ALL

_SAFE_NAMES = """
    athlete id name timezone date time window start end today since when count total page pages units
    activities activity activity_id activities_more totals moving_time distance_km load strava_unavailable
    unavailable sport sports duration elapsed climb_m intensity_pct avg_hr_bpm max_hr_bpm avg_power_w
    norm_power_w ftp_w lthr_bpm threshold_pace rpe feel race indoor gear avg_speed_kmh pace cadence_rpm
    variability_index efficiency_factor decoupling_pct planned_event_id work_intervals work_time
    intervals_omitted intervals zones power hr type zone group metrics best_efforts over power_w hr_bpm
    starts_at at speed_kmh altitude_m periods period sessions power_zones hr_zones pace_zones range pct plan
    planned done missed upcoming planned_load done_load planned_time done_time unplanned_sessions
    done_sessions planned_sessions planned_done note rows columns current ctl atl form form_zone ramp
    ramp_rate ctl_weekly projection projected_end fitness fatigue form_without efforts value label first
    second change_pct first_pace second_pace events category steps text workouts folders kind weeks plan_day
    sex connected profile summary last_2_weeks next_2_weeks races in_days priority skipped errors status
    event before logged previous undone entry_id tool result restore saved private private_notes tools
    selected is_default hidden_data via owner role athletes quiet calendar added changed removed
    soreness stress mood motivation injury scales baseline untrusted athlete_id confirm
    by deleted load_from cadence_spm strokes_per_min figures hr_dropout from_intervals hr_starts_at
    sport_filter no_load strava_day planned_today strava_imports
"""

# Field names as the answers spell them -> the classes the field's value may reveal.
FIELDS: dict[str, frozenset[str]] = {name: SAFE for name in _SAFE_NAMES.split()}
FIELDS.update(
    {
        # weight and body composition (power per kg is power divided by the athlete's weight)
        "weight_kg": WEIGHT,
        "w_per_kg": WEIGHT,
        "body_fat_pct": WEIGHT,
        # HRV and resting heart rate; readiness is computed from HRV and sleep
        "hrv_ms": HRV,
        "hrv_sdnn_ms": HRV,
        # blood oxygen: measured overnight by the watch, a recovery marker like resting HR
        "spo2_pct": HRV | SLEEP,
        "resting_hr_bpm": HRV,
        "resting_hr": HRV,
        "readiness_pct": HRV | SLEEP,
        # sleep
        "sleep_h": SLEEP,
        "sleep_hours": SLEEP,
        "sleep_score": SLEEP,
        "sleep_quality": SLEEP,
        # menstrual cycle (get_wellness's column)
        "menstrual_phase": MENSTRUAL,
        # location: where the athlete lives or rode, and the weather there
        "location": LOCATION,
        "temp_c": LOCATION,
        "latlng": LOCATION,
        # what the athlete wrote: for themselves, or on an activity's comment thread
        "description": OWN_TEXT,  # an activity's description
        "comment": NOTES,
        "open_threads": NOTES,
        "threads": NOTES,
        "awaiting_reply": NOTES,
        "messages": NOTES,
        "last": NOTES,  # the last message of a comment thread
        "last_by": NOTES,  # who wrote it
        # the wellness record's own comment, by its names in our answers
        "comments": OWN_TEXT,
        "notes": OWN_TEXT,
        # legends: descriptions of other fields, named after the fields they describe
        "soreness, fatigue, stress": SAFE,
        "first/second": SAFE,
        "ctl/atl/form": SAFE,
        "dates": SAFE,
        "order": SAFE,
        "email": SAFE,
    }
)

# Names whose meaning in one tool's answer differs from the rest.
TOOL_FIELDS: dict[str, dict[str, frozenset[str]]] = {
    # The coach's own private notes are not the athlete's: they stay whatever the athlete hides.
    "add_private_note": {"notes": SAFE},
    "get_private_notes": {"notes": SAFE},
    # The activity's comment count and thread messages are comments, not the wellness record's text.
    "get_activity_detail": {"comments": NOTES},
    # catch_up lists new thread messages; its wellness line is built without the hidden classes
    # (coach_catchup._wellness leaves them out), so what is left of it is not hidden.
    "catch_up": {"comments": NOTES, "wellness": SAFE},
    # undo_last_write quotes what an earlier write changed: the access log's summary of that write and the
    # action in words may name any field's values (the same values are in `result`, field by field).
    "undo_last_write": {"summary": ALL, "action": ALL},
}

# Values passed as they are: maps keyed by labels rather than field names (athlete_overview's profile is
# keyed by sport: {"Ride/VirtualRide": "FTP 265 W, LTHR 168 bpm"}).
OPAQUE: dict[str, frozenset[str]] = {"athlete_overview": frozenset({"profile"})}

# Tools whose one-line text carries no data of any hideable class (names, dates, loads, thresholds,
# counts): a coach gets it as it is. Every other tool's text is rebuilt from the redacted answer.
PLAIN_TEXT = frozenset(
    {
        "whoami",
        "list_athletes",
        "select_athlete",
        "search_roster",
        "roster_digest",
        "catch_up",
        "get_conversations",
        "athlete_overview",
        "add_private_note",
        "get_private_notes",
        "get_training_history",
        "get_activity_detail",
        "get_extended_metrics",
        "get_training_summary",
        "get_fitness",
        "get_best_efforts",
        "get_power_curves",
        "get_events",
        "get_workout_library",
        "get_athlete_profile",
        "push_workout",
        "schedule_library_workout",
        "edit_workout",
        "delete_workout",
        "add_calendar_note",
        "add_race",
        "add_activity_comment",
    }
)


def classes_of(tool: str, key: str) -> frozenset[str] | None:
    """The classes a field of `tool`'s answer may reveal; None for a name nobody registered."""
    own = TOOL_FIELDS.get(tool)
    if own is not None and key in own:
        return own[key]
    return FIELDS.get(key)


def allowed(tool: str, key: str, hidden: frozenset[str]) -> bool:
    classes = classes_of(tool, key)
    return classes is not None and not (classes & hidden)


def _is_table(obj: Mapping[str, Any]) -> bool:
    return isinstance(obj.get("columns"), list) and isinstance(obj.get("rows"), list)


def _table(tool: str, table: Mapping[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """A column/row table keeps the columns whose names pass, in every row."""
    columns = table["columns"]
    keep = [i for i, c in enumerate(columns) if isinstance(c, str) and allowed(tool, c, hidden)]
    rows = [[row[i] for i in keep if i < len(row)] if isinstance(row, list) else None for row in table["rows"]]
    out = _fields(tool, {k: v for k, v in table.items() if k not in ("columns", "rows")}, hidden)
    return {**out, "columns": [columns[i] for i in keep], "rows": [r for r in rows if r is not None]}


def _fields(tool: str, obj: Mapping[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    opaque = OPAQUE.get(tool, frozenset())
    return {k: v if k in opaque else _walk(tool, v, hidden) for k, v in obj.items() if allowed(tool, str(k), hidden)}


def _walk(tool: str, obj: Any, hidden: frozenset[str]) -> Any:
    if isinstance(obj, dict):
        return _table(tool, obj, hidden) if _is_table(obj) else _fields(tool, obj, hidden)
    if isinstance(obj, list):
        return [_walk(tool, v, hidden) for v in obj]
    return obj  # a scalar under a field that passed (a list's strings are that field's values)


def redact_data(tool: str, data: Mapping[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """The structured answer of `tool` without anything that may reveal a hidden class."""
    if not hidden:
        return dict(data)
    out = _walk(tool, dict(data), frozenset(hidden))
    assert isinstance(out, dict)
    return out


def render_text(athlete_name: str, hidden: frozenset[str], data: Mapping[str, Any]) -> str:
    """A text rendering of a redacted answer (for tools whose own text may quote hidden data)."""
    body = {k: v for k, v in data.items() if k != "athlete"}
    shown = json.dumps(body, ensure_ascii=False, separators=(", ", ": "))
    return f"{athlete_name}, without {', '.join(sorted(hidden))} data (hidden by the athlete): {shown}"


def answer(
    tool: str, data: Mapping[str, Any], text: str, hidden: frozenset[str], athlete_name: str
) -> tuple[dict[str, Any], str]:
    """(structured answer, text) as a coach who may not see `hidden` gets them."""
    if not hidden:
        return dict(data), text
    redacted = redact_data(tool, data, hidden)
    if tool in PLAIN_TEXT:
        return redacted, text
    return redacted, render_text(athlete_name, hidden, redacted)


def visible(tool: str, names: Iterable[str], hidden: frozenset[str]) -> list[str]:
    """The field names of `names` a coach who may not see `hidden` may be told about."""
    return [n for n in names if not hidden or allowed(tool, n, hidden)]
