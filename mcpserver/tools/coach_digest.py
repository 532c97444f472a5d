"""roster_digest: every athlete of the coach URL, ranked by urgency, each flag with its reason and numbers.

Checks run per athlete only where the athlete granted the athlete tool that reads that data (missed
sessions and races need get_events, load and uploads get_training_history, form and ramp get_fitness,
HRV get_wellness and "hrv" not hidden, comments a comment-reading tool with CHATS:READ and "notes" not
hidden); every skipped check is listed with the athletes it was skipped for. Sized for 50 athletes.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, Field

from integrations.intervals.schemas import Wellness
from mcpserver import present
from mcpserver.catalogue import ToolCall, ToolInput, ToolResult, ToolSpec, register
from mcpserver.principal import AthleteAccess
from mcpserver.tools import coach_common as cc
from mcpserver.tools.fitness import as_done

LEVEL_SCORE = {"high": 3, "medium": 2, "low": 1}


class DigestInput(ToolInput):
    idle_days: int = Field(default=4, ge=1, le=27)  # names say it; the answer's "checks" spell it out
    race_days: int = Field(default=14, ge=1, le=14)


class DigestOutput(BaseModel):
    athletes: dict[str, Any]
    clear: list[str] = []
    skipped: dict[str, list[str]] = {}
    errors: list[str] = []
    checks: dict[str, str]


CHECKS = {
    "missed": "planned workouts of the last 7 days (not today) with no paired activity (nor a Strava import that day)",
    "ramp": "fitness (CTL) ramp rate above 7 per week (high above 10)",
    "load_jump": "last 7 days' training load at least 1.5x the weekly mean of the 3 weeks before, +100 or more",
    "form": "form (TSB = CTL - ATL) below -30 (high-risk zone)",
    "hrv": (
        "mean HRV of the last 3 readings 10% or more below the 28 days before (high: 20%); rMSSD ms, or SDNN ms "
        "where the device records only SDNN (the two are never mixed)"
    ),
    "idle": "no activity uploaded for idle_days or more",
    "race": "A/B/C race within race_days (athlete-local date)",
    "comments": "comment threads on activities of the last 7 days (today included) where the athlete wrote last",
    "flags": "[check, level high/medium/low, reason, event names if any]; rows ranked by urgency; dates athlete-local",
}


def _flag(check: str, level: str, why: str, names: list[str] | None = None) -> list[Any]:
    """One flag. The reason is Threshold's own sentence; event names (anyone's words) come after it, as data."""
    flag: list[Any] = [check, level, why]
    named = present.untrusted("; ".join(cc.short(n, 40) for n in names or [] if n))
    if named is not None:
        flag.append(named)
    return flag


def _fitness_flags(data: cc.AthleteData) -> list[list[Any]]:
    rows = as_done(data.wellness or [], data.events, data.activities, data.today)  # today: done so far
    if not rows:
        return []
    last = rows[-1]
    out = []
    form = last.form
    day = present.day_label(last.date)
    if form < -30:
        out.append(_flag("form", "high", f"form {form:+.1f} on {day} (fitness {last.ctl:.1f}, fatigue {last.atl:.1f})"))
    ramp = last.ramp_rate
    if ramp > 7:
        level = "high" if ramp > 10 else "medium"
        out.append(_flag("ramp", level, f"CTL ramp {ramp:+.1f}/week on {day} (fitness {last.ctl:.1f})"))
    return out


def _hrv_flag(ws: list[Wellness]) -> list[list[Any]]:
    # rMSSD (`hrv`) where recorded, else SDNN (`hrvSDNN`, e.g. Apple Watch): one measure, never a mix.
    measure, label = ("hrv", "HRV") if sum(1 for w in ws if w.hrv) >= 10 else ("hrvSDNN", "HRV (SDNN)")
    rows = sorted((w for w in ws if getattr(w, measure)), key=lambda w: w.id)
    if len(rows) < 10:
        return []
    recent, before = rows[-3:], rows[:-3]
    start = date.fromisoformat(recent[0].id[:10]) - timedelta(days=28)
    before = [w for w in before if date.fromisoformat(w.id[:10]) >= start]
    if len(before) < 7:
        return []
    now = sum(getattr(w, measure) or 0 for w in recent) / len(recent)
    base = sum(getattr(w, measure) or 0 for w in before) / len(before)
    drop = (base - now) / base * 100 if base else 0
    if drop < 10:
        return []
    level = "high" if drop >= 20 else "medium"
    why = f"{label} {now:.0f} ms vs baseline {base:.0f} ms ({-drop:.0f}%), to {recent[-1].id[:10]}"
    return [_flag("hrv", level, why)]


def _load_flag(data: cc.AthleteData) -> list[list[Any]]:
    week: float = 0
    before: float = 0
    for a in data.activities or []:
        d = cc.local_day(a.start_date_local)
        if d is None:
            continue
        age = (data.today - d).days
        if 0 <= age < 7:
            week += a.icu_training_load or 0
        elif 7 <= age < 28:
            before += a.icu_training_load or 0
    mean = before / 3
    if mean > 0 and week >= 1.5 * mean and week - mean >= 100:
        return [
            _flag("load_jump", "medium", f"load {week:.0f} in 7 days vs {mean:.0f}/week before (x{week / mean:.1f})")
        ]
    return []


def _idle_flag(data: cc.AthleteData, idle_days: int) -> list[list[Any]]:
    days = [d for a in data.activities or [] if (d := cc.local_day(a.start_date_local)) is not None]
    if not days:
        return [_flag("idle", "high", f"no activity in {cc.ACTIVITY_DAYS} days")]
    last = max(days)
    idle = (data.today - last).days
    if idle < idle_days:
        return []
    return [
        _flag(
            "idle", "high" if idle >= 7 else "medium", f"{idle} days since the last upload ({present.day_label(last)})"
        )
    ]


def _race_flags(data: cc.AthleteData, race_days: int) -> list[list[Any]]:
    out = []
    for e in sorted(data.events or [], key=lambda e: e.start_date_local or ""):
        d = cc.local_day(e.start_date_local)
        if e.category in cc.RACES and d is not None and 0 <= (d - data.today).days <= race_days:
            n = (d - data.today).days
            level = "medium" if n <= 7 else "low"
            kind = (e.category or "RACE_A")[-1]
            why = f"{kind} race in {n} days: {present.day_label(d)} (event {e.id})"
            out.append(_flag("race", level, why, [e.name or ""]))
    return out


def _missed_flag(data: cc.AthleteData) -> list[list[Any]]:
    missed = cc.missed_workouts(data, data.today - timedelta(days=7), data.today)
    if not missed:
        return []
    load = sum(e.icu_training_load or 0 for e in missed)
    days = "; ".join(f"{item['date']} (event {item['id']})" for item in map(cc.ev_item, missed[:3]))
    days += "; …" if len(missed) > 3 else ""
    level = "high" if len(missed) >= 2 else "medium"
    why = f"{len(missed)} missed, planned load {load:.0f}: {days}"
    return [_flag("missed", level, why, [e.name or "" for e in missed[:3]])]


def _comment_flag(data: cc.AthleteData) -> list[list[Any]]:
    waiting = [aid for aid, msgs in (data.threads or {}).items() if cc.awaiting_reply(data.access, msgs)]
    if not waiting:
        return []
    names = {a.id: a for a in data.activities or []}
    labels = []
    for aid in waiting[:2]:
        a = names.get(aid)
        d = cc.local_day(a.start_date_local) if a else None
        labels.append(f"{present.day_label(d) if d else ''} {aid}".strip())
    return [_flag("comments", "medium", f"{len(waiting)} awaiting a reply: {', '.join(labels)}")]


def assess(data: cc.AthleteData, idle_days: int, race_days: int) -> tuple[list[list[Any]], list[str]]:
    """(flags, skipped checks) for one athlete, following exactly what the grant let us fetch."""
    a: AthleteAccess = data.access
    flags: list[list[Any]] = []
    skipped: list[str] = []
    if data.activities is not None:
        flags += _idle_flag(data, idle_days) + _load_flag(data)
    elif not cc.can_activities(a):
        skipped += ["idle", "load_jump"]
    if data.events is not None:
        flags += _race_flags(data, race_days)
        if data.activities is not None:
            flags += _missed_flag(data)
    if not cc.can_calendar(a):
        skipped += ["missed", "race"]
    elif not cc.can_activities(a):
        skipped += ["missed"]
    ws = data.wellness
    if ws is not None and cc.can_fitness(a):
        flags += _fitness_flags(data)
    elif not cc.can_fitness(a):
        skipped += ["form", "ramp"]
    if "hrv" in a.hidden:
        skipped.append("hrv (hidden)")
    elif ws is not None and cc.can_wellness(a):
        flags += _hrv_flag(ws)
    elif not cc.can_wellness(a):
        skipped.append("hrv")
    if data.threads is not None:
        flags += _comment_flag(data)
    elif not cc.can_comments(a):
        skipped.append("comments (hidden)" if "notes" in a.hidden else "comments")
    flags.sort(key=lambda f: -LEVEL_SCORE[f[1]])
    return flags, skipped


async def roster_digest(call: ToolCall, args: DigestInput) -> ToolResult:
    roster = call.principal.athletes
    fetcher = cc.Fetcher()

    async def one(a: AthleteAccess) -> cc.AthleteData:
        today = present.local_today(a.timezone)
        return await fetcher.athlete(a, threads_since=cc.comment_since(today))

    fetched = await cc.gather_roster(roster, one)
    ranked: list[tuple[int, str, list[Any]]] = []
    clear: list[str] = []
    skipped: dict[str, list[str]] = {}
    problems: list[str] = []
    for data in fetched:
        a = data.access
        flags, skips = assess(data, args.idle_days, args.race_days)
        for s in skips:
            skipped.setdefault(s, []).append(a.athlete_id)
        problems += [f"{a.athlete_id}: {e}" for e in data.errors]
        if flags:
            score = sum(LEVEL_SCORE[f[1]] for f in flags)
            ranked.append(
                (
                    score,
                    a.name,
                    [
                        a.athlete_id,
                        {present.UNTRUSTED: a.name},
                        a.timezone or "UTC",
                        present.day_label(data.today),
                        score,
                        flags,
                    ],
                )
            )
        else:
            clear.append(a.athlete_id)
    ranked.sort(key=lambda r: (-r[0], r[1]))
    data_out: dict[str, Any] = {
        "athletes": {"columns": ["id", "name", "tz", "today", "urgency", "flags"], "rows": [r[2] for r in ranked]},
        "clear": clear,
        "skipped": skipped,
        "errors": problems,
        "checks": CHECKS,
    }
    top = ", ".join(f"{present.fence(r[1], 40)} ({r[2][0]}, {r[0]})" for r in ranked[:5])
    text = f"Roster digest: {len(ranked)} of {len(roster)} athletes flagged" + (f"; most urgent: {top}" if top else "")
    if skipped:
        text += f". Some checks skipped where not granted ({len(skipped)} kinds, see skipped)"
    if problems:
        text += f". {len(problems)} fetches failed (see errors)"
    return ToolResult(data=present.compact(data_out), text=text + ".")  # type: ignore[arg-type]


register(
    ToolSpec(
        name="roster_digest",
        title="Roster digest",
        description="Athletes by urgency: missed sessions, load/ramp, form, HRV, idle, races, unanswered comments.",
        input_model=DigestInput,
        output_model=DigestOutput,
        handler=roster_digest,
        scope=None,
        group="coach",
    )
)
