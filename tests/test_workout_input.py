"""Typed workout steps → workouts.* → Intervals.icu text, against hand-written expected text."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from integrations.intervals.workouts import Repeat, Section, Step, Target, Workout, parse_workout
from mcpserver.workout_input import StepIn, WorkoutInputError, plain_text, render, to_target, to_workout


def steps(*raw: dict[str, Any]) -> list[StepIn]:
    return [StepIn.model_validate(r) for r in raw]


def text_of(*raw: dict[str, Any], notes: str = "") -> str:
    return render(steps(*raw), notes)[1]


def test_it_renders_a_threshold_session_with_ramp_cadence_repeats_and_sections() -> None:
    workout, text = render(
        steps(
            {
                "seconds": 600,
                "phase": "warmup",
                "ramp": True,
                "target": {"type": "%ftp", "value": 50, "to": 75},
                "cadence": 90,
            },
            {
                "repeat": 3,
                "steps": [
                    {"seconds": 720, "target": {"type": "%ftp", "value": 95, "to": 100}},
                    {"seconds": 360, "phase": "rest", "target": {"type": "%ftp", "value": 55}},
                ],
            },
            {"seconds": 600, "phase": "cooldown", "target": {"type": "%ftp", "value": 50}},
        ),
        "Threshold session, stay seated.",
    )
    assert text == (
        "Threshold session, stay seated.\n"
        "\n"
        "Warmup\n"
        "- 10m ramp 50-75% 90rpm\n"
        "\n"
        "Main Set 3x\n"
        "- 12m 95-100%\n"
        "- 6m 55% intensity=rest\n"
        "\n"
        "Cooldown\n"
        "- 10m 50%\n"
    )
    assert workout == Workout(
        (
            Section(
                "Warmup",
                (Step(duration_s=600, power=Target("%ftp", 50, 75), cadence=(90, 90), ramp=True, intensity="warmup"),),
            ),
            Repeat(
                3,
                (
                    Step(duration_s=720, power=Target("%ftp", 95, 100)),
                    Step(duration_s=360, power=Target("%ftp", 55, 55), intensity="rest"),
                ),
                "Main Set",
            ),
            Section("Cooldown", (Step(duration_s=600, power=Target("%ftp", 50, 50), intensity="cooldown"),)),
        ),
        "Threshold session, stay seated.",
    )


def test_it_renders_a_run_with_distance_steps_pace_and_hr_targets() -> None:
    text = text_of(
        {"meters": 2000, "target": {"type": "pace", "value": "4:30/km"}},
        {
            "repeat": 5,
            "steps": [
                {"meters": 400, "cue": "Fast", "target": {"type": "pace", "value": "3:40", "to": "3:35/km"}},
                {"seconds": 90, "phase": "rest", "target": {"type": "hr_zone", "value": 1}},
            ],
        },
        {"seconds": 600, "target": {"type": "%lthr", "value": 80, "to": 85}},
    )
    assert text == (
        "- 2km 4:30/km Pace\n"
        "\n"
        "5x\n"
        "- Fast 400mtr 3:40/km-3:35/km Pace\n"
        "- 1m30s Z1 HR intensity=rest\n"
        "\n"
        "- 10m 80-85% LTHR\n"
    )


@pytest.mark.parametrize(
    ("step", "line"),
    [
        (
            {"seconds": 300, "target": {"type": "watts", "value": 200, "to": 240}, "cadence": 85, "cadence_to": 95},
            "- 5m 200-240w 85-95rpm",
        ),
        ({"seconds": 1200, "target": {"type": "bpm", "value": 145}}, "- 20m 145bpm"),
        ({"seconds": 600, "target": {"type": "%hr", "value": 70, "to": 75}}, "- 10m 70-75% HR"),
        ({"seconds": 1800, "target": {"type": "pace_zone", "value": 2}}, "- 30m Z2 Pace"),
        ({"seconds": 600, "ramp": True, "target": {"type": "%pace", "value": 60, "to": 80}}, "- 10m ramp 60-80% Pace"),
        ({"seconds": 900, "target": {"type": "power_zone", "value": 3, "to": 4}}, "- 15m Z3-Z4"),
        ({"meters": 100, "target": {"type": "pace", "value": "1:45/100m"}}, "- 100mtr 1:45/100m Pace"),
        ({"seconds": 3900, "target": {"type": "%ftp", "value": "65"}}, "- 1h05m 65%"),
        ({"seconds": 45, "cue": "Spin up"}, "- Spin up 45s"),
    ],
)
def test_it_renders_each_target_kind(step: dict[str, Any], line: str) -> None:
    assert text_of(step) == line + "\n"


def test_it_keeps_top_level_steps_when_there_are_no_sections() -> None:
    workout = to_workout(steps({"seconds": 600, "target": {"type": "%ftp", "value": 60}}, {"seconds": 60}))
    assert workout.items == (Step(duration_s=600, power=Target("%ftp", 60, 60)), Step(duration_s=60))


def test_it_groups_mixed_main_work_under_main_set() -> None:
    text = text_of(
        {"seconds": 600, "phase": "warmup", "target": {"type": "%ftp", "value": 55}},
        {"seconds": 300, "target": {"type": "%ftp", "value": 90}},
        {
            "repeat": 4,
            "steps": [{"seconds": 30, "target": {"type": "%ftp", "value": 150}}, {"seconds": 30, "phase": "rest"}],
        },
        {"seconds": 600, "phase": "cooldown", "target": {"type": "%ftp", "value": 50}},
    )
    assert text == (
        "Warmup\n- 10m 55%\n\nMain Set\n- 5m 90%\n\n4x\n- 30s 150%\n- 30s intensity=rest\n\nCooldown\n- 10m 50%\n"
    )
    assert parse_workout(text) == to_workout(
        steps(
            {"seconds": 600, "phase": "warmup", "target": {"type": "%ftp", "value": 55}},
            {"seconds": 300, "target": {"type": "%ftp", "value": 90}},
            {
                "repeat": 4,
                "steps": [{"seconds": 30, "target": {"type": "%ftp", "value": 150}}, {"seconds": 30, "phase": "rest"}],
            },
            {"seconds": 600, "phase": "cooldown", "target": {"type": "%ftp", "value": 50}},
        )
    )


def test_it_keeps_a_strength_session_as_plain_text() -> None:
    assert (
        plain_text("  Strength A\r\nSquat 4x6 @ RPE 8  \nPlank 3 x 45 s\n\n")
        == "Strength A\nSquat 4x6 @ RPE 8\nPlank 3 x 45 s\n"
    )


def test_it_maps_pace_strings_and_numbers_to_targets() -> None:
    from mcpserver.workout_input import TargetIn

    assert to_target(TargetIn(type="pace", value="4:30/km", to="4:10/km")) == Target("pace", 270, 250, "/km")
    assert to_target(TargetIn(type="pace", value="1:50", to="1:40/100m")) == Target("pace", 110, 100, "/100m")
    assert to_target(TargetIn(type="watts", value=250)) == Target("w", 250, 250)
    assert to_target(TargetIn(type="hr_zone", value=2, to=3)) == Target("hr_zone", 2, 3)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"seconds": 60, "meters": 400}, "exactly one of `seconds` or `meters`"),
        ({"target": {"type": "%ftp", "value": 50}}, "exactly one of `seconds` or `meters`"),
        ({"seconds": 60, "ramp": True, "target": {"type": "%ftp", "value": 50}}, "a ramp needs"),
        ({"repeat": 3}, "needs both `repeat`"),
        ({"repeat": 3, "seconds": 60, "steps": [{"seconds": 30}]}, "takes only `repeat`, `steps` and `phase`"),
        ({"repeat": 2, "steps": [{"repeat": 2, "steps": [{"seconds": 30}]}]}, "cannot be nested"),
        ({"seconds": 60, "cadence_to": 95}, "cadence_to needs cadence"),
        ({"seconds": 60, "target": {"type": "%ftp", "value": 50, "extra": 1}}, "Extra inputs"),
    ],
)
def test_it_rejects_malformed_steps(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StepIn.model_validate(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"seconds": 30, "cue": "sprint 10s", "target": {"type": "watts", "value": 600}},
            r"steps\[0\]: the cue 'sprint 10s'",
        ),
        ({"seconds": 60, "target": {"type": "pace", "value": "4:30"}}, "pace unit must be one of"),
        ({"seconds": 60, "target": {"type": "pace", "value": "4:30/km", "to": "1:40/100m"}}, "same unit"),
        ({"seconds": 60, "target": {"type": "power_zone", "value": 0}}, "values must be positive"),
        ({"seconds": 60, "target": {"type": "power_zone", "value": 2.5}}, "zones are whole numbers"),
        ({"seconds": 60, "target": {"type": "%ftp", "value": "fast"}}, "expected a number"),
    ],
)
def test_it_refuses_steps_intervals_would_misread(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkoutInputError, match=message):
        render(steps(raw))


def test_it_refuses_notes_that_would_read_as_steps() -> None:
    with pytest.raises(WorkoutInputError, match="description"):
        render(steps({"seconds": 60}), "Plan:\n- 10m easy first")
