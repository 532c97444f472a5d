"""get_wellness: HRV, resting HR, sleep, weight and subjective scores with their scales, vs the athlete's baseline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel

from integrations.intervals.schemas import Wellness
from mcpserver import present
from mcpserver.catalogue import AthleteEcho, DateWindowInput, ToolCall, ToolResult, ToolSpec, Untrusted, register
from mcpserver.tools.activity import tidy, window
from mcpserver.tools.history import resolve_window

DEFAULT_DAYS = 14
DAILY_MAX_DAYS = 14  # longer windows default to weekly means (ask by=day for daily rows)
BASELINE_DAYS = 28

# Columns: name -> reader. Subjective scores follow Intervals.icu's 1-4 scales where 1 is the good end.
# HRV comes as rMSSD (`hrv`) or SDNN (`hrvSDNN`, e.g. Apple Watch): two measures, two columns, never mixed.
COLUMNS: dict[str, Callable[[Wellness], float | None]] = {
    "hrv_ms": lambda w: w.hrv,
    "hrv_sdnn_ms": lambda w: w.hrvSDNN,
    "spo2_pct": lambda w: w.spO2,
    "resting_hr_bpm": lambda w: w.restingHR,
    "sleep_h": lambda w: w.sleepSecs / 3600 if w.sleepSecs else None,
    "sleep_score": lambda w: w.sleepScore,
    "sleep_quality": lambda w: w.sleepQuality,
    "readiness_pct": lambda w: w.readiness,
    "weight_kg": lambda w: w.weight,
    "soreness": lambda w: w.soreness,
    "fatigue": lambda w: w.fatigue,
    "stress": lambda w: w.stress,
    "mood": lambda w: w.mood,
    "motivation": lambda w: w.motivation,
    "injury": lambda w: w.injury,
}
BASELINE = ("hrv_ms", "hrv_sdnn_ms", "resting_hr_bpm", "sleep_h", "sleep_score", "readiness_pct", "weight_kg")
DIGITS = {"hrv_ms": 1, "hrv_sdnn_ms": 1, "sleep_h": 1, "weight_kg": 1}
SCALES = {
    "hrv_ms": "rMSSD ms, higher = more recovered",
    "hrv_sdnn_ms": "SDNN ms, another HRV measure (not comparable with rMSSD), higher = more recovered",
    "spo2_pct": "blood oxygen saturation %",
    "menstrual_phase": "as logged; '(predicted)' = Intervals.icu's prediction",
    "resting_hr_bpm": "lower = better",
    "sleep_score": "device 0-100",
    "readiness_pct": "device 0-100",
    "sleep_quality": "1 great, 2 good, 3 average, 4 poor",
    "soreness, fatigue, stress": "1 low, 2 average, 3 high, 4 extreme",
    "mood": "1 great, 2 good, 3 ok, 4 grumpy",
    "motivation": "1 extreme, 2 high, 3 average, 4 low",
    "injury": "1 none, 2 niggle, 3 poor, 4 injured",
    "rows": "weekly rows are means",
    "baseline": (
        f"[window mean, baseline = mean of the {BASELINE_DAYS} days before the latest value's day, latest, "
        "latest vs baseline %]"
    ),
}
OPTIONAL_SCALES = ("hrv_sdnn_ms", "spo2_pct", "menstrual_phase")  # legends shown only with their column


class WellnessInput(DateWindowInput):
    by: Literal["day", "week"] | None = None


class WellnessOutput(BaseModel):
    athlete: AthleteEcho
    window: str
    columns: list[str] = []
    rows: list[list[float | str | None]] = []
    comments: list[list[str | Untrusted]] = []  # [date, the athlete's (or device's) comment]
    baseline: dict[str, list[float | None]] = {}
    scales: dict[str, str]


def _mean(values: Sequence[float | None]) -> float | None:
    nums = [v for v in values if v is not None]
    return sum(nums) / len(nums) if nums else None


def _day(w: Wellness) -> date:
    return date.fromisoformat(w.id[:10])


def _value(name: str, group: Sequence[Wellness]) -> float | None:
    return present.rnd(_mean([COLUMNS[name](w) for w in group]), DIGITS.get(name, 0 if len(group) == 1 else 1))


def _phase(w: Wellness) -> str | None:
    if w.menstrualPhase:
        return w.menstrualPhase.lower()
    return f"{w.menstrualPhasePredicted.lower()} (predicted)" if w.menstrualPhasePredicted else None


def _has_data(w: Wellness) -> bool:
    return any(get(w) is not None for get in COLUMNS.values()) or _phase(w) is not None


def _baseline(period: Sequence[Wellness], records: Sequence[Wellness]) -> dict[str, list[float | None]]:
    """Per measure: the window's mean, then the latest value against the mean of the 28 days before *its*
    day, so a day's baseline is the same whatever window is asked (records reach 28 days before the window)."""
    out: dict[str, list[float | None]] = {}
    for key in BASELINE:
        get = COLUMNS[key]
        last = next((w for w in reversed(period) if get(w) is not None), None)
        latest = get(last) if last is not None else None
        base = None
        if last is not None:
            lo, hi = _day(last) - timedelta(days=BASELINE_DAYS), _day(last)
            base = _mean([get(w) for w in records if lo <= _day(w) < hi])
        change = round((latest - base) / base * 100, 1) if latest is not None and base else None
        values = [
            present.rnd(_mean([get(w) for w in period]), 1),
            present.rnd(base, 1),
            present.rnd(latest, DIGITS.get(key, 0)),
            change,
        ]
        if any(v is not None for v in values):
            out[key] = values
    return out


async def get_wellness(call: ToolCall, args: WellnessInput) -> ToolResult:
    access = call.athlete(args.athlete)
    start, end = resolve_window(access, args.start, args.end, default_days=DEFAULT_DAYS)
    client = access.client()
    oldest = start - timedelta(days=BASELINE_DAYS)
    fetched = await client.list_wellness(access.athlete_id, oldest.isoformat(), end.isoformat())
    records = sorted((w for w in fetched if _has_data(w)), key=lambda w: w.id)
    period = [w for w in records if start <= _day(w) <= end]
    by = args.by or ("day" if (end - start).days < DAILY_MAX_DAYS else "week")
    groups: list[tuple[str, list[Wellness]]]
    if by == "week":
        weeks: dict[date, list[Wellness]] = {}
        for w in period:
            weeks.setdefault(_day(w) - timedelta(days=_day(w).weekday()), []).append(w)
        groups = [(f"week of {present.day_label(monday)}", group) for monday, group in weeks.items()]
    else:
        groups = [(present.day_label(_day(w)), [w]) for w in period]
    columns = [c for c in COLUMNS if any(COLUMNS[c](w) is not None for w in period)]
    rows: list[list[float | str | None]] = [[label, *(_value(c, g) for c in columns)] for label, g in groups]
    if any(_phase(w) for w in period):  # the latest phase logged in each row's days
        columns.append("menstrual_phase")
        for row, (_, group) in zip(rows, groups, strict=True):
            row.append(next((p for w in reversed(group) if (p := _phase(w))), None))
    baseline = _baseline(period, records)
    data = {
        "athlete": access.echo(),
        "window": window(start, end),
        "columns": ["date", *columns],
        "rows": rows,
        "comments": [
            [present.day_label(_day(w)), present.untrusted(w.comments, 160)]
            for w in period
            if (w.comments or "").strip()
        ],
        "baseline": baseline,
        "scales": {k: v for k, v in SCALES.items() if k not in OPTIONAL_SCALES or k in columns},
    }
    bits = []
    for key, label, unit in (
        ("hrv_ms", "HRV", " ms"),
        ("hrv_sdnn_ms", "HRV SDNN", " ms"),
        ("resting_hr_bpm", "resting HR", " bpm"),
        ("sleep_h", "sleep", " h"),
    ):
        b = baseline.get(key)
        if b and b[2] is not None and b[1] is not None:
            bits.append(f"{label} {b[2]:g}{unit} (baseline {b[1]:g}{unit})")
    text = f"{present.fence(access.name)}: {len(period)} wellness days {data['window']}" + (
        "; latest " + ", ".join(bits) if bits else ""
    )
    return ToolResult(data=tidy(data), text=text + ".")


register(
    ToolSpec(
        name="get_wellness",
        title="Wellness",
        description="HRV, resting HR, sleep, weight, SpO2, subjective scores (scales given) vs own 28-day baseline.",
        input_model=WellnessInput,
        output_model=WellnessOutput,
        handler=get_wellness,
        scope="WELLNESS:READ",
    )
)
