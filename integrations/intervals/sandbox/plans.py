"""Session templates: one structure rendered both as Intervals workout text and as segments.

This module only *generates* workout text (it never parses it); parsing is done by
``integrations.intervals.workouts``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    secs: int
    lo: float  # % of FTP (power) or % of threshold pace (pace)
    hi: float
    ramp: bool = False
    text: str = ""

    @property
    def mid(self) -> float:
        return (self.lo + self.hi) / 2


@dataclass
class Block:
    title: str
    steps: list[Step]
    reps: int = 1
    kind: str = "main"  # warmup | main | cooldown


@dataclass
class Segment:
    """One constant or ramped stretch of an activity (fractions of threshold)."""

    secs: int
    start: float
    end: float
    kind: str  # warmup | work | recovery | cooldown | steady
    label: str = ""
    rep: int = 0
    group: str = ""

    @property
    def mean(self) -> float:
        return (self.start + self.end) / 2

    def value_at(self, t: float) -> float:
        if self.start == self.end:
            return self.start
        return self.start + (self.end - self.start) * (t / max(1, self.secs))


@dataclass
class Session:
    name: str
    sport: str  # Ride | VirtualRide | Run | Swim
    blocks: list[Block]
    description: str = ""
    structured: bool = True
    tags: list[str] = field(default_factory=list)

    @property
    def pace_based(self) -> bool:
        return self.sport in ("Run", "Swim", "TrailRun", "VirtualRun")

    def text(self) -> str:
        return render_text(self)

    def segments(self) -> list[Segment]:
        out: list[Segment] = []
        for b in self.blocks:
            top = max(st.mid for st in b.steps)
            for r in range(b.reps):
                for s in b.steps:
                    if b.kind in ("warmup", "cooldown"):
                        kind = b.kind
                    elif b.reps > 1:
                        kind = "work" if s.mid >= top else "recovery"
                    else:
                        kind = "steady"
                    group = f"{b.title}:{s.secs}:{s.mid:.0f}" if kind == "work" else ""
                    lo, hi = (s.lo / 100, s.hi / 100) if s.ramp else (s.mid / 100, s.mid / 100)
                    out.append(Segment(s.secs, lo, hi, kind, s.text, r + 1 if b.reps > 1 else 0, group))
        return out

    @property
    def total_secs(self) -> int:
        return sum(b.reps * sum(s.secs for s in b.steps) for b in self.blocks)


def fmt_duration(secs: int) -> str:
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    out = ""
    if h:
        out += f"{h}h"
    if m:
        out += f"{m}m"
    if s or not out:
        out += f"{s}s"
    return out


def _fmt_pct(x: float) -> str:
    return f"{x:g}"


def render_step(step: Step, pace: bool) -> str:
    suffix = " Pace" if pace else ""
    if step.ramp:
        target = f"ramp {_fmt_pct(step.lo)}%-{_fmt_pct(step.hi)}%{suffix}"
    elif step.lo == step.hi:
        target = f"{_fmt_pct(step.lo)}%{suffix}"
    else:
        target = f"{_fmt_pct(step.lo)}-{_fmt_pct(step.hi)}%{suffix}"
    cue = f"{step.text} " if step.text else ""
    return f"- {cue}{fmt_duration(step.secs)} {target}"


def render_text(session: Session) -> str:
    parts: list[str] = []
    if session.description:
        parts.append(session.description)
    for b in session.blocks:
        header = f"{b.title} {b.reps}x" if b.reps > 1 else b.title
        lines = [header] if header else []
        lines += [render_step(s, session.pace_based) for s in b.steps]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _m(minutes: float) -> int:
    return round(minutes) * 60


def _wu(sport: str, mins: int = 15) -> Block:
    if sport in ("Run", "Swim"):
        return Block("Warmup", [Step(_m(mins), 68, 75)], kind="warmup")
    return Block("Warmup", [Step(_m(mins), 50, 75, ramp=True)], kind="warmup")


def _cd(sport: str, mins: int = 10) -> Block:
    if sport in ("Run", "Swim"):
        return Block("Cooldown", [Step(_m(mins), 65, 70)], kind="cooldown")
    return Block("Cooldown", [Step(_m(mins), 50, 50)], kind="cooldown")


def ride_session(kind: str, rng: random.Random, scale: float = 1.0, indoor: bool = False) -> Session:
    sport = "VirtualRide" if indoor else "Ride"
    if kind == "recovery":
        return Session(
            "Recovery spin",
            sport,
            [Block("", [Step(_m(rng.choice([40, 45, 50]) * scale), 50, 55)])],
            description="Easy spin, keep it conversational.",
        )
    if kind == "endurance":
        mins = int(rng.choice([75, 90, 105, 120]) * scale)
        return Session(
            "Endurance ride",
            sport,
            [_wu(sport, 10), Block("Main Set", [Step(_m(mins), 65, 72)]), _cd(sport, 5)],
            description="Zone 2, steady.",
        )
    if kind == "long":
        mins = int(rng.choice([180, 210, 240, 270]) * scale)
        chunks = max(2, mins // 45)
        steps = [
            Step(_m(mins / chunks), 62, 68) if i % 2 == 0 else Step(_m(mins / chunks), 68, 74) for i in range(chunks)
        ]
        return Session(
            "Long ride",
            sport,
            [_wu(sport, 15), Block("Main Set", steps), _cd(sport, 10)],
            description="Long aerobic ride, fuel 80 g carbs/h.",
        )
    if kind == "sweetspot":
        reps, mins = rng.choice([(3, 12), (3, 15), (2, 20), (4, 10)])
        return Session(
            f"Sweet spot {reps}x{mins}",
            sport,
            [_wu(sport), Block("Main Set", [Step(_m(mins), 88, 93), Step(_m(5), 55, 55)], reps=reps), _cd(sport)],
        )
    if kind == "threshold":
        reps, mins = rng.choice([(2, 20), (3, 12), (4, 10), (2, 15)])
        return Session(
            f"Threshold {reps}x{mins}",
            sport,
            [
                _wu(sport),
                Block("Main Set", [Step(_m(mins), 95, 100), Step(_m(mins // 2), 55, 55)], reps=reps),
                _cd(sport),
            ],
        )
    if kind == "vo2":
        reps, mins = rng.choice([(5, 4), (6, 3), (4, 5)])
        return Session(
            f"VO2max {reps}x{mins}m",
            sport,
            [_wu(sport), Block("Main Set", [Step(_m(mins), 110, 118), Step(_m(mins), 50, 50)], reps=reps), _cd(sport)],
        )
    if kind == "anaerobic":
        return Session(
            "Anaerobic 8x30s",
            sport,
            [_wu(sport, 20), Block("Main Set", [Step(30, 150, 170), Step(270, 50, 50)], reps=8), _cd(sport)],
        )
    if kind == "tempo":
        mins = rng.choice([20, 25, 30])
        return Session(
            f"Tempo 2x{mins}",
            sport,
            [_wu(sport), Block("Main Set", [Step(_m(mins), 80, 85), Step(_m(10), 60, 60)], reps=2), _cd(sport)],
        )
    if kind == "race":
        return Session(
            "Gran Fondo",
            "Ride",
            [Block("", [Step(_m(20), 70, 75), Step(_m(150), 82, 88), Step(_m(10), 100, 106)])],
            structured=False,
            tags=["race"],
        )
    raise ValueError(kind)


def run_session(kind: str, rng: random.Random, scale: float = 1.0) -> Session:
    if kind == "easy":
        return Session(
            "Easy run",
            "Run",
            [Block("", [Step(_m(rng.choice([40, 45, 50, 60]) * scale), 75, 82)])],
            description="Easy aerobic running.",
        )
    if kind == "recovery":
        return Session("Recovery jog", "Run", [Block("", [Step(_m(30 * scale), 68, 74)])])
    if kind == "long":
        mins = int(rng.choice([90, 100, 110, 120]) * scale)
        return Session(
            "Long run",
            "Run",
            [Block("", [Step(_m(mins * 0.8), 74, 80), Step(_m(mins * 0.2), 82, 86)])],
            description="Progression long run, last 20% at steady pace.",
        )
    if kind == "tempo":
        reps = rng.choice([3, 4])
        return Session(
            f"Tempo {reps}x10m",
            "Run",
            [_wu("Run"), Block("Main Set", [Step(_m(10), 92, 96), Step(_m(3), 70, 70)], reps=reps), _cd("Run")],
        )
    if kind == "intervals":
        reps = rng.choice([5, 6, 8])
        return Session(
            f"Track {reps}x3m",
            "Run",
            [_wu("Run", 20), Block("Main Set", [Step(_m(3), 104, 108), Step(_m(2), 65, 65)], reps=reps), _cd("Run")],
        )
    if kind == "strides":
        return Session(
            "Easy run + strides",
            "Run",
            [
                Block("", [Step(_m(40 * scale), 75, 80)]),
                Block("Strides", [Step(20, 115, 120), Step(100, 65, 65)], reps=6),
                _cd("Run", 5),
            ],
        )
    if kind == "race":
        return Session(
            "Half marathon",
            "Run",
            [Block("", [Step(_m(10), 70, 75), Step(_m(76), 98, 101)])],
            structured=False,
            tags=["race"],
        )
    raise ValueError(kind)


def swim_session(kind: str, rng: random.Random, scale: float = 1.0) -> Session:
    if kind == "endurance":
        return Session(
            "Endurance swim",
            "Swim",
            [_wu("Swim", 8), Block("Main Set", [Step(_m(8), 85, 88), Step(60, 60, 60)], reps=4), _cd("Swim", 5)],
        )
    if kind == "css":
        return Session(
            "CSS 10x2m",
            "Swim",
            [_wu("Swim", 10), Block("Main Set", [Step(120, 98, 102), Step(30, 50, 50)], reps=10), _cd("Swim", 5)],
        )
    if kind == "technique":
        return Session(
            "Technique swim",
            "Swim",
            [Block("", [Step(_m(35 * scale), 75, 80)])],
            description="Drills: catch-up, fist, 6-kick switch.",
        )
    raise ValueError(kind)


# week templates: weekday → list of (sport family, session kind)
Template = dict[int, list[tuple[str, str]]]

CYCLIST: Template = {
    1: [("ride", "Q1")],
    2: [("ride", "endurance")],
    3: [("ride", "Q2")],
    4: [("ride", "recovery")],
    5: [("ride", "long")],
    6: [("ride", "endurance")],
}
RUNNER: Template = {
    1: [("run", "intervals")],
    2: [("run", "easy")],
    3: [("run", "tempo")],
    4: [("run", "recovery")],
    5: [("run", "strides")],
    6: [("run", "long")],
}
TRIATHLETE: Template = {
    0: [("swim", "technique")],
    1: [("ride", "Q1"), ("run", "easy")],
    2: [("swim", "css"), ("run", "intervals")],
    3: [("ride", "endurance")],
    4: [("swim", "endurance")],
    5: [("ride", "long")],
    6: [("run", "long")],
}
COACH: Template = {1: [("ride", "Q1")], 3: [("ride", "Q2")], 5: [("ride", "long")], 6: [("ride", "endurance")]}

TEMPLATES = {"cyclist": CYCLIST, "runner": RUNNER, "triathlete": TRIATHLETE, "coach": COACH}


def pick_session(
    family: str, kind: str, week_no: int, recovery_week: bool, rng: random.Random, scale: float, indoor: bool
) -> Session:
    if family == "ride":
        if kind == "Q1":
            kind = ["vo2", "threshold", "anaerobic"][week_no % 3]
        elif kind == "Q2":
            kind = ["sweetspot", "tempo", "sweetspot", "threshold"][week_no % 4]
        if recovery_week and kind not in ("recovery", "endurance"):
            kind = "endurance"
            scale *= 0.7
        return ride_session(kind, rng, scale, indoor=indoor)
    if family == "run":
        if recovery_week and kind in ("intervals", "tempo"):
            kind = "easy"
        if recovery_week:
            scale *= 0.75
        return run_session(kind, rng, scale)
    if recovery_week:
        scale *= 0.8
    return swim_session(kind, rng, scale)
