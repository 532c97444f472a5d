"""Structured workouts: a typed model, the Intervals.icu workout-text parser and renderer, and metrics.

The text syntax is the one Intervals.icu parses from a workout's ``description`` (reference §5)::

    Threshold session, stay seated.        <- description prose

    Warmup                                 <- section header
    - 10m ramp 50%-75% 90rpm               <- step: [cue text] duration|distance targets options

    Main Set 4x                            <- repeat block (blank line before and after)
    - 4m 106-120%
    - 4m 50%

    Cooldown
    - 10m 50%

Structure rules (Intervals documents no grammar, so these are ours, chosen to read natural text the
way a person would):

* A line starting with ``-`` is a step. ``- 4x <step>`` is read as a one-step repeat.
* ``<title> Nx`` or a bare ``Nx`` line starts a repeat block; the block ends at a blank line or any
  non-step line. Repeats do not nest.
* Any other non-blank line is a section header, except before the first step/header, where a line
  is description prose unless the very next line is a step or a repeat header. A section runs until
  the next section header or titled repeat header (blank lines do not end it); a bare ``Nx`` repeat
  stays inside the current section, a titled one ("Main Set 4x") is a top-level block of its own.
* Steps under a header (section or repeat title) containing "warm" get intensity ``warmup``,
  "cool" ``cooldown``, unless the step says ``intensity=...`` itself.
* Inside a step, words before the first duration/distance are the cue text; unrecognised words
  elsewhere are appended to it. Nothing in user text raises.

`render_workout` writes the canonical form; ``parse_workout(render_workout(w)) == w`` holds for any
model the text can express, i.e. when: section titles, cue texts and the description are plain prose
(no durations, targets, ``Nx`` endings or lines starting with ``-``), no top-level step follows a
section (it would be read as part of the section), repeats nested in sections are untitled, the
first item is not an empty section, and a step's intensity is not ``None`` under a warm/cool header
(the header implies it).

Thresholds: power percentages are of FTP, HR percentages of max HR (``% HR``) or LTHR (``% LTHR``),
pace percentages of threshold *speed* (so 80% Pace is slower than threshold), as in Intervals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from integrations.intervals.analysis import normalized_power, time_in_zones

# --------------------------------------------------------------------------------------------------
# Model

POWER_KINDS = frozenset({"%ftp", "w", "power_zone"})
HR_KINDS = frozenset({"%lthr", "%hr", "hr_zone", "bpm"})
PACE_KINDS = frozenset({"%pace", "pace_zone", "pace"})
INTENSITIES = frozenset({"warmup", "cooldown", "active", "rest"})

PACE_UNITS_M: dict[str, float] = {
    "/km": 1000.0,
    "/mi": 1609.344,
    "/100m": 100.0,
    "/100y": 91.44,
    "/500m": 500.0,
    "/400m": 400.0,
    "/250m": 250.0,
}
DISTANCE_UNITS_M: dict[str, float] = {"mtr": 1.0, "km": 1000.0, "mi": 1609.344, "yrd": 0.9144}

# Intervals' default (Coggan) power zones, upper bounds in % of FTP; 999 marks the open top zone.
DEFAULT_POWER_ZONES: tuple[float, ...] = (55, 75, 90, 105, 120, 150, 999)
OPEN_ZONE_BOUND = 999.0  # a zone bound at or above this is "no upper limit"

FREERIDE_PCT = 55.0  # an untargeted freeride step counts as 55% of threshold
DEFAULT_DISTANCE_PCT = 80.0  # untargeted Run/Swim distance steps are assumed at 80% of threshold speed
MAX_PROFILE_S = 2 * 24 * 3600  # longer (absurd) workouts get no per-second profile: load etc. unknown


@dataclass(frozen=True)
class Thresholds:
    """The athlete's thresholds and zones for one sport (Intervals sport settings)."""

    ftp: float | None = None
    lthr: float | None = None
    max_hr: float | None = None
    threshold_pace: float | None = None  # m/s
    power_zones: tuple[float, ...] = ()  # upper bounds in % of FTP, e.g. (55, 75, 90, 105, 120, 150, 999)
    hr_zones: tuple[float, ...] = ()  # upper bounds in bpm
    pace_zones: tuple[float, ...] = ()  # upper bounds in % of threshold pace (speed)


@dataclass(frozen=True)
class Target:
    """One target. `low`/`high` are equal for a single value; for a ramp they are start/end.

    kind: "%ftp", "w", "power_zone", "%lthr", "%hr", "hr_zone", "bpm", "%pace", "pace_zone", "pace".
    For zones low/high are zone numbers; for "pace" they are seconds per `unit` ("/km", "/mi",
    "/100m", "/100y", "/500m", "/400m", "/250m").
    """

    kind: str
    low: float
    high: float
    unit: str | None = None


@dataclass(frozen=True)
class Step:
    duration_s: int | None = None
    distance_m: float | None = None
    power: Target | None = None
    hr: Target | None = None
    pace: Target | None = None
    cadence: tuple[int, int] | None = None
    ramp: bool = False
    freeride: bool = False
    until_lap_press: bool = False
    text: str = ""
    intensity: str | None = None  # "warmup" | "cooldown" | "active" | "rest" | None


@dataclass(frozen=True)
class Repeat:
    count: int
    steps: tuple[Step, ...]
    title: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    items: tuple[Step | Repeat, ...]


@dataclass(frozen=True)
class Workout:
    items: tuple[Step | Repeat | Section, ...]
    description: str = ""


# --------------------------------------------------------------------------------------------------
# Small helpers shared with other modules


def power_zone_pct(bounds: Sequence[float], zone: int) -> tuple[float, float | None] | None:
    """Power zone `zone` (1-based) in % of FTP as Intervals.icu resolves a zone target: from the whole
    percent after the previous zone's top to its own top (`None` for the open top zone).

    With the default bounds Z2 is 56-75 % and Z3 76-90 %: a real workout_doc at FTP 240 resolves "Z2" to
    `_power` 134-180 W and "Z3-Z4" to 182-252 W, and its zone table reads "56% - 75%". (Planned load is
    not computed from these: see `_zone_value`.)
    """
    if zone < 1 or zone > len(bounds):
        return None
    top = float(bounds[zone - 1])
    low = float(bounds[zone - 2]) + 1 if zone > 1 else 0.0
    return low, (None if top >= OPEN_ZONE_BOUND else top)


def pct_watts(pct: float, ftp: float) -> int:
    """`pct` % of `ftp` in whole watts, rounded half up as Intervals.icu rounds its `_power` targets."""
    return math.floor(pct * ftp / 100 + 0.5)


def format_duration(seconds: int) -> str:
    """Compact duration: 3900 → "1h05m", 2700 → "45m", 90 → "1m30s", 30 → "30s", 3600 → "1h".

    Negative input is treated as 0. The output is valid workout-text duration syntax.
    """
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h" + (f"{m:02d}m" if m or s else "") + (f"{s:02d}s" if s else "")
    if m:
        return f"{m}m" + (f"{s:02d}s" if s else "")
    return f"{s}s"


def _unit_metres(unit: str) -> float:
    key = unit if unit.startswith("/") else "/" + unit
    try:
        return PACE_UNITS_M[key.lower()]
    except KeyError:
        raise ValueError(f"unknown pace unit {unit!r}") from None


def speed_to_pace(m_per_s: float, unit: str) -> float:
    """Seconds per `unit` ("/km", "/mi", "/100m", ...; the slash is optional) at a speed in m/s.

    Raises ValueError for a non-positive speed or an unknown unit.
    """
    if m_per_s <= 0:
        raise ValueError("speed must be positive")
    return _unit_metres(unit) / m_per_s


def pace_to_speed(seconds_per_unit: float, unit: str) -> float:
    """Inverse of `speed_to_pace`: m/s for a pace in seconds per `unit`. Raises ValueError if <= 0."""
    if seconds_per_unit <= 0:
        raise ValueError("pace must be positive")
    return _unit_metres(unit) / seconds_per_unit


def format_pace(seconds_per_unit: float, unit: str) -> str:
    """Pace to the nearest second: (275, "/km") → "4:35/km". The unit is appended as given ("/" added)."""
    total = round(seconds_per_unit)
    suffix = unit if unit.startswith("/") else "/" + unit
    return f"{total // 60}:{total % 60:02d}{suffix}"


# --------------------------------------------------------------------------------------------------
# Parsing

# Digit counts are capped so absurd user numbers stay plain text instead of overflowing int()/float().
_INT = r"\d{1,7}"
_NUM = r"\d{1,7}(?:\.\d{1,20})?"
_CLOCK = r"\d{1,4}:\d{2}(?:\.\d{1,20})?"
_PACE_UNIT = r"/(?:km|mi|100m|100y|500m|400m|250m)"

_DURATION_RES = (
    re.compile(rf"(?:(?P<h>{_INT})h)?(?:(?P<m>{_INT})m)?(?:(?P<s>{_INT})s)?"),  # 1h2m30s
    re.compile(rf"(?:(?P<h>{_INT})h)?(?P<m>{_INT})m(?P<s>{_INT})"),  # 1m30 = 1m30s
    re.compile(rf"(?P<m>{_INT})'(?:(?P<s>{_INT})\"?)?"),  # 5'  1'30"
    re.compile(rf"(?P<s>{_INT})\""),  # 30"
)
_DISTANCE_RE = re.compile(rf"(?P<n>{_NUM})(?P<u>mtr|km|mi|yrd)")
_PCT_RE = re.compile(rf"(?P<a>{_NUM})%?(?:-(?P<b>{_NUM}))?%")  # 75%  95-105%  50%-75%
_WATTS_RE = re.compile(rf"(?P<a>{_NUM})w?(?:-(?P<b>{_NUM}))?w")  # 220w  200-240w
_ZONE_RE = re.compile(rf"z(?P<a>{_INT})(?:-z?(?P<b>{_INT}))?")  # Z2  Z3-Z4
_BPM_RE = re.compile(rf"(?P<a>{_NUM})(?:bpm)?(?:-(?P<b>{_NUM}))?bpm")  # 145bpm  140-150bpm
_RPM_RE = re.compile(rf"(?P<a>{_INT})(?:rpm)?(?:-(?P<b>{_INT}))?rpm")  # 90rpm  85-95rpm
_PACE_RE = re.compile(
    rf"(?P<a>{_CLOCK})(?P<ua>{_PACE_UNIT})?(?:-(?P<b>{_CLOCK})(?P<ub>{_PACE_UNIT})?)?"
)  # 5:00/km  4:00-4:30/km  3:00/100m-4:00/100m
# A repeat header ("3x", "Main set 3x"): its count is matched from the end of the line. The former whole-line
# pattern, `(?:(?P<title>.*?)\s+)?(?P<n>\d+)\s*x`, backtracked in quadratic time on a long run of blanks
# (a 50,000-character line took 40 s), and upstream workout text is anyone's text.
_REPEAT_TAIL_RE = re.compile(rf"(?:^|(?<=\s))(?P<n>{_INT})\s*x\Z", re.IGNORECASE)
_INLINE_REPEAT_RE = re.compile(rf"(?P<n>{_INT})\s*x(?:\s+(?P<rest>.*))?", re.IGNORECASE)


def _normalise_token(token: str) -> str:
    lowered = token.lower()
    for fancy, plain in (("’", "'"), ("′", "'"), ("”", '"'), ("″", '"')):  # noqa: RUF001 - phone keyboards
        lowered = lowered.replace(fancy, plain)
    return re.sub(r"(\d)mins?$", r"\1m", re.sub(r"(\d)secs?$", r"\1s", lowered))


def _parse_duration(token: str) -> int | None:
    tok = _normalise_token(token)
    for regex in _DURATION_RES:
        match = regex.fullmatch(tok)
        if match and any(match.groupdict().values()):
            parts = match.groupdict()
            return int(parts.get("h") or 0) * 3600 + int(parts.get("m") or 0) * 60 + int(parts.get("s") or 0)
    return None


def _parse_distance(token: str) -> float | None:
    match = _DISTANCE_RE.fullmatch(token.lower())
    return float(match["n"]) * DISTANCE_UNITS_M[match["u"]] if match else None


def _parse_clock(text: str) -> float:
    minutes, seconds = text.split(":")
    return int(minutes) * 60 + float(seconds)


def _implied_intensity(title: str) -> str | None:
    lowered = title.lower()
    if "warm" in lowered:
        return "warmup"
    if "cool" in lowered:
        return "cooldown"
    return None


@dataclass
class _StepFields:
    """Mutable accumulator while scanning one step line."""

    duration_s: int | None = None
    distance_m: float | None = None
    power: Target | None = None
    hr: Target | None = None
    pace: Target | None = None
    cadence: tuple[int, int] | None = None
    ramp: bool = False
    freeride: bool = False
    until_lap_press: bool = False
    intensity: str | None = None
    text: list[str] = field(default_factory=list)


def _range(match: re.Match[str]) -> tuple[float, float]:
    low = float(match["a"])
    return low, float(match["b"]) if match["b"] else low


def _consume(tokens: Sequence[str], i: int, f: _StepFields) -> int:
    """Try to read a target/option at tokens[i]; return how many tokens were used (0 = not understood)."""
    tok = tokens[i].lower()
    nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
    if f.duration_s is None and (seconds := _parse_duration(tok)) is not None:
        f.duration_s = seconds
        return 1
    if f.distance_m is None and (metres := _parse_distance(tok)) is not None:
        f.distance_m = metres
        return 1
    if tok == "ramp":
        f.ramp = True
        return 1
    if tok == "freeride":
        f.freeride = True
        return 1
    if (tok, nxt) in {("press", "lap"), ("lap", "press")}:
        f.until_lap_press = True
        return 2
    if tok.startswith("intensity=") and tok[10:] in INTENSITIES:
        f.intensity = tok[10:]
        return 1
    if f.cadence is None and (m := _RPM_RE.fullmatch(tok)):
        f.cadence = (int(m["a"]), int(m["b"] or m["a"]))
        return 1
    if f.hr is None and (m := _BPM_RE.fullmatch(tok)):
        f.hr = Target("bpm", *_range(m))
        return 1
    if f.pace is None and (m := _PACE_RE.fullmatch(tok)) and (m["ua"] or m["ub"]):
        unit = m["ub"] or m["ua"]
        f.pace = Target("pace", _parse_clock(m["a"]), _parse_clock(m["b"] or m["a"]), unit)
        return 2 if nxt == "pace" else 1  # the word "Pace" is required by Intervals, optional here
    if m := _PCT_RE.fullmatch(tok):
        if nxt == "mmp":
            return 0  # "%MMP" targets are not modelled; the caller keeps the words as cue text
        slot, kind, used = {
            "hr": ("hr", "%hr", 2),
            "lthr": ("hr", "%lthr", 2),
            "pace": ("pace", "%pace", 2),
            "ftp": ("power", "%ftp", 2),
        }.get(nxt, ("power", "%ftp", 1))
        return _set_target(f, slot, Target(kind, *_range(m)), used)
    if m := _ZONE_RE.fullmatch(tok):
        slot, kind, used = {"hr": ("hr", "hr_zone", 2), "pace": ("pace", "pace_zone", 2)}.get(
            nxt, ("power", "power_zone", 1)
        )
        return _set_target(f, slot, Target(kind, *_range(m)), used)
    if f.power is None and (m := _WATTS_RE.fullmatch(tok)):
        f.power = Target("w", *_range(m))
        return 1
    return 0


def _set_target(f: _StepFields, slot: str, target: Target, used: int) -> int:
    if getattr(f, slot) is not None:
        return 0  # a second target of the same type is kept as text rather than overwriting
    setattr(f, slot, target)
    return used


def _parse_step(body: str, implied: str | None) -> Step:
    tokens = body.split()
    first = next(
        (i for i, t in enumerate(tokens) if _parse_duration(t) is not None or _parse_distance(t) is not None),
        None,
    )
    f = _StepFields()
    if first is not None:
        f.text.extend(tokens[:first])  # cue text comes before the duration, whatever it looks like
    i = first or 0
    while i < len(tokens):
        used = _consume(tokens, i, f)
        if used == 0:
            f.text.append(tokens[i])
            used = 1
        i += used
    return Step(
        duration_s=f.duration_s,
        distance_m=f.distance_m,
        power=f.power,
        hr=f.hr,
        pace=f.pace,
        cadence=f.cadence,
        ramp=f.ramp,
        freeride=f.freeride,
        until_lap_press=f.until_lap_press,
        text=" ".join(f.text),
        intensity=f.intensity or implied,
    )


@dataclass
class _RepeatBuilder:
    count: int
    title: str
    implied: str | None
    steps: list[Step] = field(default_factory=list)


@dataclass
class _SectionBuilder:
    title: str
    items: list[Step | _RepeatBuilder] = field(default_factory=list)


def _repeat_header(line: str) -> tuple[str, int] | None:
    """(title, count) of a repeat header line (title may be empty), else None. Linear in the line."""
    match = _REPEAT_TAIL_RE.search(line)
    return (line[: match.start()].strip(), int(match["n"])) if match else None


def _is_structural(line: str) -> bool:
    return line.startswith("-") or _repeat_header(line) is not None


def parse_workout(text: str) -> Workout:
    """Parse Intervals.icu workout text leniently (see the module docstring for the rules).

    Never raises on user text: lines it does not understand become section headers, description
    prose or steps carrying only cue text.
    """
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = [ln.strip() for ln in raw_lines]
    description: list[str] = []
    top: list[Step | _RepeatBuilder | _SectionBuilder] = []
    section: _SectionBuilder | None = None
    repeat: _RepeatBuilder | None = None
    started = False

    def container() -> list[Any]:
        return section.items if section is not None else top

    for idx, line in enumerate(lines):
        if not line:
            repeat = None
            if not started:
                description.append("")
            continue
        if line.startswith("-"):
            started = True
            body = line[1:].strip()
            inline = _INLINE_REPEAT_RE.fullmatch(body)
            if inline:  # "- 4x 100mtr Z2" (one-step repeat) or "- 4x" (a block header)
                section_implied = _implied_intensity(section.title) if section else None
                repeat = _RepeatBuilder(int(inline["n"]), "", section_implied)
                container().append(repeat)
                if inline["rest"]:
                    repeat.steps.append(_parse_step(inline["rest"], section_implied))
                    repeat = None
                continue
            if repeat is not None:
                repeat.steps.append(_parse_step(body, repeat.implied))
            else:
                container().append(_parse_step(body, _implied_intensity(section.title) if section else None))
            continue
        header = _repeat_header(line)
        if header:
            started = True
            title, count = header
            if title:
                section = None  # a titled repeat is a block of its own
            implied = _implied_intensity(title) or (_implied_intensity(section.title) if section else None)
            repeat = _RepeatBuilder(count, title, implied)
            container().append(repeat)
            continue
        next_line = lines[idx + 1] if idx + 1 < len(lines) else ""
        if not started and not _is_structural(next_line):
            description.append(raw_lines[idx].rstrip())
            continue
        started = True
        repeat = None
        section = _SectionBuilder(line)
        top.append(section)

    def freeze(item: Step | _RepeatBuilder) -> Step | Repeat:
        if isinstance(item, _RepeatBuilder):
            return Repeat(item.count, tuple(item.steps), item.title)
        return item

    items: list[Step | Repeat | Section] = []
    for item in top:
        if isinstance(item, _SectionBuilder):
            items.append(Section(item.title, tuple(freeze(i) for i in item.items)))
        else:
            items.append(freeze(item))
    return Workout(tuple(items), "\n".join(description).strip("\n"))


# --------------------------------------------------------------------------------------------------
# Rendering


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _clock(seconds: float) -> str:
    # seconds - 60*m is exact in binary floating point for m >= 1 (Sterbenz), so this round-trips.
    minutes = int(seconds // 60)
    rest = seconds - minutes * 60
    sec = f"{int(rest):02d}" if float(rest).is_integer() else ("0" if rest < 10 else "") + repr(rest)
    return f"{minutes}:{sec}"


def _render_distance(metres: float) -> str:
    units = ("km", "mtr", "mi", "yrd") if metres >= 1000 else ("mtr", "mi", "yrd")
    for unit in units:
        quantity = _num(metres / DISTANCE_UNITS_M[unit])
        if len(quantity.partition(".")[2]) <= 3 and float(quantity) * DISTANCE_UNITS_M[unit] == metres:
            return quantity + unit
    return _num(metres) + "mtr"


def _render_range(t: Target, fmt: str) -> str:
    low, high = _num(t.low), _num(t.high)
    return fmt.format(low) if t.low == t.high else fmt.format(f"{low}-{high}")


def _render_target(t: Target) -> str:
    if t.kind == "pace":
        unit = t.unit or "/km"
        if t.low == t.high:
            return f"{_clock(t.low)}{unit} Pace"
        return f"{_clock(t.low)}{unit}-{_clock(t.high)}{unit} Pace"
    if t.kind in {"power_zone", "hr_zone", "pace_zone"}:
        zones = f"Z{_num(t.low)}" if t.low == t.high else f"Z{_num(t.low)}-Z{_num(t.high)}"
        return zones + {"power_zone": "", "hr_zone": " HR", "pace_zone": " Pace"}[t.kind]
    fmt = {
        "%ftp": "{}%",
        "w": "{}w",
        "%hr": "{}% HR",
        "%lthr": "{}% LTHR",
        "bpm": "{}bpm",
        "%pace": "{}% Pace",
    }.get(t.kind, "{}%")
    return _render_range(t, fmt)


def _render_step(s: Step, implied: str | None) -> str:
    parts: list[str] = [s.text] if s.text else []
    if s.duration_s is not None:
        parts.append(format_duration(s.duration_s))
    if s.distance_m is not None:
        parts.append(_render_distance(s.distance_m))
    if s.ramp:
        parts.append("ramp")
    parts.extend(_render_target(t) for t in (s.power, s.hr, s.pace) if t is not None)
    if s.cadence is not None:
        low, high = s.cadence
        parts.append(f"{low}rpm" if low == high else f"{low}-{high}rpm")
    if s.freeride:
        parts.append("freeride")
    if s.until_lap_press:
        parts.append("press lap")
    if s.intensity is not None and s.intensity != implied:
        parts.append(f"intensity={s.intensity}")
    return "- " + " ".join(parts) if parts else "-"


def _render_repeat(r: Repeat, section_implied: str | None) -> list[str]:
    header = f"{r.title} {r.count}x" if r.title else f"{r.count}x"
    implied = _implied_intensity(r.title) or section_implied
    return [header, *(_render_step(s, implied) for s in r.steps)]


def render_workout(w: Workout) -> str:
    """Canonical Intervals.icu text: description, then sections/steps, repeat blocks set off by blank lines.

    A repeat directly under a section header gets no blank line before it (that would make the header
    look like description prose when it is the first item).
    """
    lines: list[str] = [w.description, ""] if w.description else []
    for item in w.items:
        if isinstance(item, Step):
            lines.append(_render_step(item, None))
        elif isinstance(item, Repeat):
            lines += ["", *_render_repeat(item, None), ""]
        else:
            implied = _implied_intensity(item.title)
            lines += ["", item.title]
            for j, sub in enumerate(item.items):
                if isinstance(sub, Repeat):
                    lines += ([] if j == 0 else [""]) + [*_render_repeat(sub, implied), ""]
                else:
                    lines.append(_render_step(sub, implied))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return text + "\n" if text else ""


# --------------------------------------------------------------------------------------------------
# Metrics


@dataclass(frozen=True)
class WorkoutMetrics:
    moving_time_s: int
    distance_m: float | None
    load: float | None  # Intervals training load: 1 h at threshold = 100
    intensity: float | None  # IF x 100, like Intervals' icu_intensity
    normalized_power_w: float | None
    target: str  # "POWER" | "HR" | "PACE" | "NONE"
    zone_times_s: tuple[int, ...]  # seconds per zone of the target metric; () when unknown
    step_count: int


def _ride_like(sport: str) -> bool:
    return sport.endswith("Ride") or sport in {"Velomobile", "Handcycle"}


def _pace_sport(sport: str) -> bool:
    return "Run" in sport or "Swim" in sport


def _sport_defaults(step: Step, sport: str, t: Thresholds) -> Step:
    """Bare "75%"/"Z2" parse as power. Outside cycling, when the sport has no FTP and the step no other
    target, read them as % of threshold pace (if known), else "75%" as % of LTHR (if known): that is
    what a runner or swimmer means by them."""
    p = step.power
    if p is None or p.kind == "w" or step.hr or step.pace or _ride_like(sport) or t.ftp is not None:
        return step
    zone = p.kind == "power_zone"
    if t.threshold_pace is not None:
        return replace(step, power=None, pace=Target("pace_zone" if zone else "%pace", p.low, p.high))
    if t.lthr is not None and not zone:
        return replace(step, power=None, hr=Target("%lthr", p.low, p.high))
    return step


def _zone_value(zone: float, bounds: Sequence[float], floor_from_next: bool = False) -> float | None:
    """Midpoint of a zone (1-based) given ascending upper bounds.

    Zone 1 starts at 0, except for bpm zones (`floor_from_next`) where it is assumed as wide as zone 2.
    An open top zone (bound >= 999) resolves to its lower bound.

    The midpoint is taken from the previous zone's top, not the whole percent after it that
    `power_zone_pct` shows: it is what matches Intervals' planned load. The real "power test" workout at
    FTP 240 (10 min each of 10-30 %, 40 %, ramp 10-60 %, Z2, Z3-Z4) has icu_intensity 64.81; midpoints
    of 55-75 and 75-105 give 64.83, of 56-75 and 76-105 65.19.
    """
    n = int(zone)
    if n < 1 or n > len(bounds):
        return None
    upper = float(bounds[n - 1])
    if n > 1:
        lower = float(bounds[n - 2])
    elif floor_from_next and len(bounds) > 1:
        lower = upper - (float(bounds[1]) - upper)
    else:
        lower = 0.0
    return lower if upper >= OPEN_ZONE_BOUND else (lower + upper) / 2


def _ends(target: Target, one: Callable[[float], float | None]) -> tuple[float, float] | None:
    """Apply `one` (value -> value | None) to both ends of a target."""
    low, high = one(target.low), one(target.high)
    return None if low is None or high is None else (low, high)


def _power_pct(target: Target | None, t: Thresholds) -> tuple[float, float] | None:
    """Target as (start, end) % of FTP."""
    if target is None:
        return None
    ftp = t.ftp
    if target.kind == "%ftp":
        return target.low, target.high
    if target.kind == "w":
        return None if not ftp else (target.low / ftp * 100, target.high / ftp * 100)
    if target.kind == "power_zone":
        return _ends(target, lambda z: _zone_value(z, t.power_zones or DEFAULT_POWER_ZONES))
    return None


def _hr_pct(target: Target | None, t: Thresholds) -> tuple[float, float] | None:
    """Target as (start, end) % of LTHR."""
    if target is None:
        return None
    if target.kind == "%lthr":
        return target.low, target.high
    lthr = t.lthr
    if not lthr:
        return None
    if target.kind == "%hr":
        max_hr = t.max_hr
        return None if not max_hr else (target.low * max_hr / lthr, target.high * max_hr / lthr)
    if target.kind == "bpm":
        return target.low / lthr * 100, target.high / lthr * 100
    if target.kind == "hr_zone":
        bpm = _ends(target, lambda z: _zone_value(z, t.hr_zones, floor_from_next=True))
        return None if bpm is None else (bpm[0] / lthr * 100, bpm[1] / lthr * 100)
    return None


def _pace_speeds(target: Target | None, t: Thresholds) -> tuple[float, float] | None:
    """Target as (start, end) speeds in m/s (needs the threshold pace for relative targets)."""
    if target is None:
        return None
    if target.kind == "pace":
        try:
            return _ends(target, lambda s: pace_to_speed(s, target.unit or "/km"))
        except ValueError:
            return None
    tp = t.threshold_pace
    pct = _pace_pct(target, t)
    return None if pct is None or not tp else (pct[0] * tp / 100, pct[1] * tp / 100)


def _pace_pct(target: Target | None, t: Thresholds) -> tuple[float, float] | None:
    """Target as (start, end) % of threshold speed."""
    if target is None:
        return None
    if target.kind == "%pace":
        return target.low, target.high
    if target.kind == "pace_zone":
        return _ends(target, lambda z: _zone_value(z, t.pace_zones))
    if target.kind == "pace":
        speeds = _pace_speeds(target, t)
        tp = t.threshold_pace
        return None if speeds is None or not tp else (speeds[0] / tp * 100, speeds[1] / tp * 100)
    return None


@dataclass(frozen=True)
class _Resolved:
    """One step with everything needed for metrics; `seconds` is 0 when the duration is unknown."""

    seconds: int
    distance_m: float | None
    targets: frozenset[str]  # metrics the step targets ("POWER"/"HR"/"PACE"), resolvable or not
    pct: dict[str, tuple[float, float]]  # resolvable ones -> (start, end) % of threshold
    fallback_pct: float | None  # used without a target: freeride 55%, assumed distance pace 80%
    ramp: bool


def _resolve(step: Step, sport: str, t: Thresholds) -> _Resolved:
    step = _sport_defaults(step, sport, t)
    pct: dict[str, tuple[float, float]] = {}
    for key, value in (
        ("POWER", _power_pct(step.power, t)),
        ("HR", _hr_pct(step.hr, t)),
        ("PACE", _pace_pct(step.pace, t)),
    ):
        if value is not None:
            pct[key] = value
    speeds = _pace_speeds(step.pace, t)
    speed = (speeds[0] + speeds[1]) / 2 if speeds else None
    fallback = FREERIDE_PCT if step.freeride else None
    if speed is None and step.distance_m is not None and _pace_sport(sport) and t.threshold_pace:
        speed = t.threshold_pace * DEFAULT_DISTANCE_PCT / 100
        fallback = fallback or DEFAULT_DISTANCE_PCT  # the pace we assumed is also the effort we count
    if step.duration_s is not None:
        seconds = max(0, step.duration_s)
        distance = step.distance_m if step.distance_m is not None else (seconds * speed if speed else None)
    elif step.distance_m is not None:
        seconds = round(step.distance_m / speed) if speed else 0
        distance = step.distance_m
    else:
        seconds, distance = 0, None
    targets = frozenset(k for k, tgt in (("POWER", step.power), ("HR", step.hr), ("PACE", step.pace)) if tgt)
    return _Resolved(seconds, distance, targets, pct, fallback, step.ramp)


def _blocks(w: Workout) -> list[tuple[int, tuple[Step, ...]]]:
    """The workout as (repetitions, steps) blocks in order, sections flattened."""
    blocks: list[tuple[int, tuple[Step, ...]]] = []

    def add(item: Step | Repeat) -> None:
        if isinstance(item, Repeat):
            blocks.append((max(0, item.count), item.steps))
        else:
            blocks.append((1, (item,)))

    for item in w.items:
        if isinstance(item, Section):
            for sub in item.items:
                add(sub)
        else:
            add(item)
    return blocks


def _step_profile(r: _Resolved, target: str) -> Iterator[float]:
    """Per-second % of threshold for one step. Uses the workout's target metric, else any other
    target the step has (all are % of threshold), else its fallback (55% freeride, 80% for a Run/Swim
    distance step timed at that pace), else 0 (an untargeted step is counted as no work).
    Ranges are held at their midpoint; ramps move linearly, sampled mid-second so the mean is exact."""
    ends = r.pct.get(target) or next(iter(r.pct.values()), None)
    if ends is None:
        ends = (r.fallback_pct or 0.0, r.fallback_pct or 0.0)
    start, end = ends
    if not r.ramp:
        start = end = (start + end) / 2
    for i in range(r.seconds):
        yield start + (end - start) * (i + 0.5) / r.seconds


def workout_metrics(w: Workout, sport: str, t: Thresholds) -> WorkoutMetrics:
    """Duration, distance, load and zone times of a planned workout, as Intervals estimates them.

    * Repeats are expanded; every target is resolved to % of its threshold (zones → midpoint of the
      zone, see `_zone_value`; bare %/Z outside cycling see `_sport_defaults`).
    * Distance steps take their duration from their pace target, else (Run/Swim) from 80% of threshold
      speed, which then is also their intensity; otherwise their duration is unknown and counted as
      0 s (they still count in step_count).
      `distance_m` sums the steps whose distance is known or derivable; ``None`` if none is.
    * target: the metric targeted for the most time (ties: POWER > HR > PACE); "NONE" without targets.
    * Load (our documented choice for all three metrics): a 1-s profile in % of threshold is built
      and the Normalised-Power formula applied (30-s rolling mean, 4th-power mean, 4th root) giving
      IF; load = hours * IF^2 * 100. For power this is Intervals' formula; for HR/pace it is our
      approximation of their (unpublished) HR and pace load. Load is ``None`` when no step has a
      usable target or freeride, or the workout is longer than MAX_PROFILE_S.
    * normalized_power_w only for POWER workouts with a known FTP. load/intensity/NP are rounded to
      0.1, computed unrounded.
    * zone_times_s: power zones (FTP zones or Intervals' defaults), HR zones (needs hr_zones and
      LTHR) or pace zones (needs pace_zones) for the chosen target. HR/pace zone targets likewise
      only resolve with the athlete's zones; an unresolvable target counts like no target.
    """
    blocks = [(count, [_resolve(s, sport, t) for s in steps]) for count, steps in _blocks(w)]
    step_count = sum(count * len(steps) for count, steps in blocks)
    moving = sum(count * sum(r.seconds for r in steps) for count, steps in blocks)
    known = [(count, r.distance_m) for count, steps in blocks for r in steps if r.distance_m is not None]
    distance = round(math.fsum(c * d for c, d in known), 1) if known else None

    weight = {"POWER": 0, "HR": 0, "PACE": 0}
    for count, steps in blocks:
        for r in steps:
            for key in r.targets:
                weight[key] += count * max(r.seconds, 1)  # max: a targeted step of unknown length counts
    order = ("POWER", "HR", "PACE")
    target = max(order, key=lambda k: (weight[k], -order.index(k))) if any(weight.values()) else "NONE"

    usable = any(r.pct or r.fallback_pct for _, steps in blocks for r in steps)
    if not usable or moving == 0 or moving > MAX_PROFILE_S:
        return WorkoutMetrics(moving, distance, None, None, None, target, (), step_count)

    # Each block's seconds are built once and repeated: iterating the repeats themselves cost count x steps
    # even for steps of no known duration (ten million repeats of a distance step took 5 s).
    profile: list[float] = []
    for count, steps in blocks:
        profile.extend([v for r in steps for v in _step_profile(r, target)] * count)
    np_pct = normalized_power(profile) or 0.0
    if_ = np_pct / 100
    load = moving / 3600 * if_**2 * 100
    np_w = round(if_ * t.ftp, 1) if target == "POWER" and t.ftp else None
    return WorkoutMetrics(
        moving_time_s=moving,
        distance_m=distance,
        load=round(load, 1),
        intensity=round(if_ * 100, 1),
        normalized_power_w=np_w,
        target=target,
        zone_times_s=_zone_times(profile, target, t),
        step_count=step_count,
    )


def _zone_times(profile: Sequence[float], target: str, t: Thresholds) -> tuple[int, ...]:
    if target == "POWER":
        return time_in_zones(profile, t.power_zones or DEFAULT_POWER_ZONES)
    if target == "HR" and t.hr_zones and t.lthr:
        lthr = t.lthr
        return time_in_zones([p * lthr / 100 for p in profile], t.hr_zones)
    if target == "PACE" and t.pace_zones:
        return time_in_zones(profile, t.pace_zones)
    return ()


# --------------------------------------------------------------------------------------------------
# workout_doc


_DOC_UNITS = {"pace": "secs"}  # absolute pace: our own encoding, see _doc_target


def _doc_target(target: Target, ramp: bool) -> dict[str, Any]:
    """{value|start,end, units} like Intervals. Absolute paces (not documented upstream) are encoded as
    ``{"value"|"start","end": seconds, "units": "secs", "pace_units": "/km"}`` ([INF])."""
    single = target.low == target.high and not ramp
    doc: dict[str, Any] = {"value": target.low} if single else {"start": target.low, "end": target.high}
    doc["units"] = _DOC_UNITS.get(target.kind, target.kind)
    if target.kind == "pace":
        doc["pace_units"] = target.unit or "/km"
    return doc


def _doc_step(step: Step) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if step.text:
        doc["text"] = step.text
    if step.duration_s is not None:
        doc["duration"] = step.duration_s
    if step.distance_m is not None:
        doc["distance"] = step.distance_m
    if step.until_lap_press:
        doc["until_lap_press"] = True
    if step.intensity == "warmup":
        doc["warmup"] = True
    if step.intensity == "cooldown":
        doc["cooldown"] = True
    if step.intensity is not None:
        doc["intensity"] = step.intensity
    if step.ramp:
        doc["ramp"] = True
    if step.freeride:
        doc["freeride"] = True
    for key, target in (("power", step.power), ("hr", step.hr), ("pace", step.pace)):
        if target is not None:
            doc[key] = _doc_target(target, step.ramp)
    if step.cadence is not None:
        low, high = step.cadence
        doc["cadence"] = {"value": low} if low == high else {"start": low, "end": high}
        doc["cadence"]["units"] = "rpm"
    return doc


def workout_doc(w: Workout, t: Thresholds, *, sport: str = "Ride") -> dict[str, Any]:
    """The workout in the shape of Intervals' ``workout_doc`` (reference §5), for the fake server.

    Sections are flattened (their titles are not steps; warmup/cooldown flags carry the meaning),
    a repeat is ``{"text": title, "reps": n, "steps": [...]}``. Targets keep the units written
    (no ``_power`` resolution). ``target`` is "AUTO" when the workout has no target. Zone times go to
    ``zoneTimes`` / ``hrZoneTimes`` / ``paceZoneTimes`` according to the target.
    """
    metrics = workout_metrics(w, sport, t)
    steps: list[dict[str, Any]] = []
    for item in w.items:
        for sub in item.items if isinstance(item, Section) else (item,):
            if isinstance(sub, Repeat):
                rep: dict[str, Any] = {"text": sub.title} if sub.title else {}
                rep["reps"] = sub.count
                rep["steps"] = [_doc_step(s) for s in sub.steps]
                steps.append(rep)
            else:
                steps.append(_doc_step(sub))
    zones = list(metrics.zone_times_s)
    return {
        "description": w.description or None,
        "duration": metrics.moving_time_s,
        "distance": metrics.distance_m,
        "ftp": t.ftp,
        "lthr": t.lthr,
        "threshold_pace": t.threshold_pace,
        "target": "AUTO" if metrics.target == "NONE" else metrics.target,
        "steps": steps,
        "zoneTimes": zones if metrics.target == "POWER" else [],
        "hrZoneTimes": zones if metrics.target == "HR" else [],
        "paceZoneTimes": zones if metrics.target == "PACE" else [],
    }
