"""Typed workout steps as the model writes them, mapped onto `integrations.intervals.workouts`.

The model never writes Intervals.icu workout text itself: it sends a list of `StepIn` (durations in
seconds, distances in metres, one typed target per step, repeat blocks one level deep) and the server
renders the canonical text with `workouts.render_workout`. Pure: no Django, no HTTP.

Phases: consecutive ``warmup`` steps become a "Warmup" section and ``cooldown`` steps a "Cooldown"
section (Intervals flags their steps as warm-up/cool-down); ``rest`` marks a recovery step
(``intensity=rest``). When a workout has such sections, the work in between goes under "Main Set" (a
single repeat block becomes "Main Set Nx"), so the text reads back exactly as it was meant.

Every rendering is checked by parsing it back: cue text that Intervals would read as a duration or
target (e.g. "sprint 10s") is refused with a message naming the step, instead of silently changing
the workout.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from integrations.intervals.workouts import (
    PACE_UNITS_M,
    Repeat,
    Section,
    Step,
    Target,
    Workout,
    parse_workout,
    render_workout,
)

TargetType = Literal["%ftp", "watts", "power_zone", "%lthr", "%hr", "hr_zone", "bpm", "%pace", "pace_zone", "pace"]
Phase = Literal["warmup", "cooldown", "rest"]

_KIND = {"watts": "w"}  # input name -> workouts.Target.kind (the others are the same)
_SLOT = {
    "%ftp": "power",
    "watts": "power",
    "power_zone": "power",
    "%lthr": "hr",
    "%hr": "hr",
    "hr_zone": "hr",
    "bpm": "hr",
    "%pace": "pace",
    "pace_zone": "pace",
    "pace": "pace",
}
_PACE_RE = re.compile(r"^\s*(\d{1,2}):([0-5]\d)(?:\.\d+)?\s*(/\w+)?\s*$")
_ZONE_MAX = 10
# Step lines of one workout, counting each step inside a repeat block once (the schema alone allows 40
# blocks of 20): every line is rendered, parsed back and costed; 200 is far more than any real session.
MAX_STEP_LINES = 200


def lean_schema(schema: dict[str, Any]) -> None:
    """Trim a model's JSON schema in place (it is sent to the model in every tools/list): no
    ``default: false/null``, no sanity bounds (max >= 1000, maxLength >= 40, maxItems >= 20, min 0 or 1).
    Validation keeps them all."""
    for prop in (schema.get("properties") or {}).values():
        if not isinstance(prop, dict):
            continue
        if prop.get("default", True) in (False, None):
            prop.pop("default")
        for node in (prop, *(n for n in prop.get("anyOf", ()) if isinstance(n, dict))):
            if isinstance(node.get("maximum"), int | float) and node["maximum"] >= 1000:
                node.pop("maximum")
            if isinstance(node.get("maxLength"), int) and node["maxLength"] >= 40:
                node.pop("maxLength")
            if node.get("minLength") == 1:
                node.pop("minLength")
            if isinstance(node.get("maxItems"), int) and node["maxItems"] >= 20:
                node.pop("maxItems")
            for bound in ("minimum", "exclusiveMinimum"):
                if node.get(bound) in (0, 1) and node.get("type") in ("integer", "number"):
                    node.pop(bound)


_NumOrPace = Annotated[float | str, WithJsonSchema({"type": ["number", "string"]})]


class WorkoutInputError(ValueError):
    """The steps cannot be written as Intervals.icu text; the message says which step and why."""


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=lean_schema)

    type: TargetType
    value: _NumOrPace = Field(
        description="Number (zone: 1-7); pace: '4:30/km' (/km /mi /100m /100y /500m /400m /250m)."
    )
    to: _NumOrPace | None = Field(default=None, description="Range top, or ramp end.")


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=lean_schema)

    seconds: int | None = Field(default=None, ge=1, le=86400, description="Duration, seconds.")
    meters: float | None = Field(default=None, gt=0, le=1_000_000, description="Or distance, metres.")
    target: TargetIn | None = None
    ramp: bool = Field(default=False, description="Ramp from target value to target.to.")
    cadence: int | None = Field(default=None, ge=20, le=200, description="rpm")
    cadence_to: int | None = Field(default=None, ge=20, le=200)
    phase: Phase | None = Field(default=None, description="Omit for work.")
    cue: str | None = Field(default=None, max_length=60, description="Short on-device label.")
    repeat: int | None = Field(default=None, ge=2, le=50, description="Repeat block: `steps` done this many times.")
    steps: list[StepIn] | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _shape(self) -> StepIn:
        block = self.repeat is not None or self.steps is not None
        if block:
            if self.repeat is None or not self.steps:
                raise ValueError("a repeat block needs both `repeat` (count) and `steps`")
            if any(v is not None for v in (self.seconds, self.meters, self.target, self.cadence, self.cue)):
                raise ValueError("a repeat block takes only `repeat`, `steps` and `phase`; put the rest in its steps")
            if any(s.repeat is not None for s in self.steps):
                raise ValueError("repeat blocks cannot be nested")
            return self
        if (self.seconds is None) == (self.meters is None):
            raise ValueError("each step needs exactly one of `seconds` or `meters`")
        if self.ramp and (self.target is None or self.target.to is None):
            raise ValueError("a ramp needs a target with `value` (start) and `to` (end)")
        if self.cadence_to is not None and self.cadence is None:
            raise ValueError("cadence_to needs cadence")
        return self


# ----------------------------------------------------------------------------------------------------
# Mapping


def _number(raw: float | str, what: str) -> float:
    if isinstance(raw, int | float):
        return float(raw)
    try:
        return float(raw.strip().rstrip("%"))
    except ValueError:
        raise WorkoutInputError(f"{what}: expected a number, got {raw!r}") from None


def _pace(raw: float | str, unit: str | None, what: str) -> tuple[float, str]:
    """'4:30/km' -> (270.0, '/km'); a bare '4:30' takes `unit` (the other end's)."""
    match = _PACE_RE.match(str(raw)) if isinstance(raw, str) else None
    if match is None:
        raise WorkoutInputError(f"{what}: a pace is written like '4:30/km', got {raw!r}")
    seconds = int(match[1]) * 60 + int(match[2])
    found = (match[3] or unit or "").lower()
    if found not in PACE_UNITS_M:
        raise WorkoutInputError(f"{what}: pace unit must be one of {', '.join(PACE_UNITS_M)}, got {raw!r}")
    if seconds <= 0:
        raise WorkoutInputError(f"{what}: pace must be positive")
    return float(seconds), found


def _unit_of(raw: float | str | None) -> str | None:
    match = _PACE_RE.match(raw) if isinstance(raw, str) else None
    return match[3].lower() if match and match[3] else None


def to_target(t: TargetIn, what: str = "target") -> Target:
    """One input target as a `workouts.Target` (low/high are the range ends or the ramp's start/end)."""
    kind = _KIND.get(t.type, t.type)
    if t.type == "pace":
        hint = _unit_of(t.value) or _unit_of(t.to)
        low, unit = _pace(t.value, hint, what)
        high, unit_to = _pace(t.to, unit, what) if t.to is not None else (low, unit)
        if unit_to != unit:
            raise WorkoutInputError(f"{what}: both ends of a pace range need the same unit")
        return Target("pace", low, high, unit)
    low = _number(t.value, what)
    high = _number(t.to, what) if t.to is not None else low
    if low <= 0 or high <= 0:
        raise WorkoutInputError(f"{what}: values must be positive")
    if t.type.endswith("_zone"):
        if not (low.is_integer() and high.is_integer() and 1 <= low <= _ZONE_MAX and 1 <= high <= _ZONE_MAX):
            raise WorkoutInputError(f"{what}: zones are whole numbers 1-{_ZONE_MAX}")
    return Target(kind, low, high)


def to_step(s: StepIn, implied: str | None, what: str) -> Step:
    """One input step as a `workouts.Step`; `implied` is the intensity its section gives it."""
    power = hr = pace = None
    if s.target is not None:
        target = to_target(s.target, what)
        slot = _SLOT[s.target.type]
        power = target if slot == "power" else None
        hr = target if slot == "hr" else None
        pace = target if slot == "pace" else None
    cadence = None
    if s.cadence is not None:
        cadence = (s.cadence, s.cadence_to if s.cadence_to is not None else s.cadence)
    intensity = "rest" if s.phase == "rest" else implied
    return Step(
        duration_s=s.seconds,
        distance_m=float(s.meters) if s.meters is not None else None,
        power=power,
        hr=hr,
        pace=pace,
        cadence=cadence,
        ramp=s.ramp,
        text=" ".join((s.cue or "").split()),
        intensity=intensity,
    )


def _item(s: StepIn, implied: str | None, where: str, title: str = "") -> Step | Repeat:
    if s.repeat is not None and s.steps:
        steps = tuple(to_step(sub, implied, f"{where}.steps[{j}]") for j, sub in enumerate(s.steps))
        return Repeat(s.repeat, steps, title)
    return to_step(s, implied, where)


def _group(steps: list[StepIn]) -> list[tuple[str, list[tuple[int, StepIn]]]]:
    """Consecutive runs of warmup / cooldown / main items, with their input positions."""
    runs: list[tuple[str, list[tuple[int, StepIn]]]] = []
    for i, s in enumerate(steps):
        key = s.phase if s.phase in ("warmup", "cooldown") else "main"
        if runs and runs[-1][0] == key:
            runs[-1][1].append((i, s))
        else:
            runs.append((key, [(i, s)]))
    return runs


def to_workout(steps: list[StepIn], notes: str = "") -> Workout:
    """The input steps as a `workouts.Workout` that renders to text and parses back to itself."""
    runs = _group(steps)
    sectioned = any(key != "main" for key, _ in runs)
    items: list[Step | Repeat | Section] = []
    for key, run in runs:
        if key in ("warmup", "cooldown"):
            title = "Warmup" if key == "warmup" else "Cooldown"
            items.append(Section(title, tuple(_item(s, key, f"steps[{i}]") for i, s in run)))
        elif not sectioned:
            items.extend(_item(s, None, f"steps[{i}]") for i, s in run)
        elif len(run) == 1 and run[0][1].repeat is not None:
            i, s = run[0]
            items.append(_item(s, None, f"steps[{i}]", title="Main Set"))
        else:
            items.append(Section("Main Set", tuple(_item(s, None, f"steps[{i}]") for i, s in run)))
    return Workout(tuple(items), _clean_notes(notes))


def _clean_notes(notes: str) -> str:
    lines = [ln.rstrip() for ln in notes.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n").strip()


def render(steps: list[StepIn], notes: str = "") -> tuple[Workout, str]:
    """Map and render, refusing anything Intervals.icu would read back differently."""
    if not steps:
        raise WorkoutInputError("steps is empty; omit it and use description for a plain-text session")
    lines = sum(len(s.steps or ()) or 1 for s in steps)
    if lines > MAX_STEP_LINES:
        raise WorkoutInputError(
            f"{lines} steps in all; a workout takes at most {MAX_STEP_LINES} (each step of a repeat block counts "
            "once). Use repeat blocks for repeated work."
        )
    workout = to_workout(steps, notes)
    text = render_workout(workout)
    if parse_workout(text) != workout:
        raise WorkoutInputError(_explain(workout, steps, notes))
    return workout, text


def _explain(workout: Workout, steps: list[StepIn], notes: str) -> str:
    """Name the step (or the notes) whose text would be misread."""
    for i, s in enumerate(steps):
        for j, sub in enumerate(s.steps or [s]):
            single = Workout((to_step(sub, None, ""),))
            if parse_workout(render_workout(single)) != single:
                where = f"steps[{i}]" + (f".steps[{j}]" if s.steps else "")
                return (
                    f"{where}: the cue {sub.cue!r} would be read by Intervals.icu as part of the step "
                    "(a duration, distance or target). Reword it, e.g. spell the numbers out."
                )
    if notes.strip():
        return (
            "description: a line of it would be read as a workout step or repeat header (a line starting with '-' "
            "or ending in e.g. '3x'). Reword it."
        )
    return "These steps cannot be written as Intervals.icu workout text unambiguously; simplify them."


def plain_text(description: str) -> str:
    """A session without steps (e.g. strength): the description as is, trimmed."""
    return _clean_notes(description) + "\n"
