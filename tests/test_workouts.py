"""Structured workouts: the text syntax both ways, planned load and the workout_doc shape."""

import pytest

from integrations.intervals.workouts import (
    Repeat,
    Section,
    Step,
    Target,
    Thresholds,
    Workout,
    format_duration,
    format_pace,
    parse_workout,
    pct_watts,
    power_zone_pct,
    render_workout,
    speed_to_pace,
    workout_doc,
    workout_metrics,
)


def one_step(text: str) -> Step:
    (item,) = parse_workout(text).items
    assert isinstance(item, Step)
    return item


def pct(low: float, high: float | None = None) -> Target:
    return Target("%ftp", low, low if high is None else high)


# ---- parsing: step syntax ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),  # m is minutes, never metres
        ("1h", 3600),
        ("1h2m30s", 3750),
        ("5m30s", 330),
        ("1m30", 90),
        ("5'", 300),
        ('30"', 30),
        ("1'30\"", 90),
        ("10min", 600),
    ],
)
def test_it_parses_durations(token: str, seconds: int) -> None:
    assert one_step(f"- {token} 50%").duration_s == seconds


@pytest.mark.parametrize(
    ("token", "metres"),
    [("400mtr", 400.0), ("2km", 2000.0), ("0.4km", 400.0), ("1mi", 1609.344), ("100yrd", 91.44)],
)
def test_it_parses_distances(token: str, metres: float) -> None:
    step = one_step(f"- {token} Z2 Pace")
    assert step.duration_s is None
    assert step.distance_m == pytest.approx(metres)


@pytest.mark.parametrize(
    ("text", "power"),
    [
        ("75%", Target("%ftp", 75, 75)),
        ("95-105%", Target("%ftp", 95, 105)),
        ("50%-75%", Target("%ftp", 50, 75)),
        ("220w", Target("w", 220, 220)),
        ("200-240w", Target("w", 200, 240)),
        ("Z2", Target("power_zone", 2, 2)),
        ("Z3-Z4", Target("power_zone", 3, 4)),
    ],
)
def test_it_parses_power_targets(text: str, power: Target) -> None:
    assert one_step(f"- 5m {text}").power == power


@pytest.mark.parametrize(
    ("text", "hr"),
    [
        ("70% HR", Target("%hr", 70, 70)),
        ("75-80% HR", Target("%hr", 75, 80)),
        ("95% LTHR", Target("%lthr", 95, 95)),
        ("90-95% LTHR", Target("%lthr", 90, 95)),
        ("Z2 HR", Target("hr_zone", 2, 2)),
        ("Z2-Z3 hr", Target("hr_zone", 2, 3)),  # keywords are case-insensitive
        ("145bpm", Target("bpm", 145, 145)),
    ],
)
def test_it_parses_heart_rate_targets(text: str, hr: Target) -> None:
    step = one_step(f"- 5m {text}")
    assert (step.hr, step.power) == (hr, None)


@pytest.mark.parametrize(
    ("text", "pace"),
    [
        ("80% Pace", Target("%pace", 80, 80)),
        ("78-82% Pace", Target("%pace", 78, 82)),
        ("Z2 Pace", Target("pace_zone", 2, 2)),
        ("5:00/km Pace", Target("pace", 300, 300, "/km")),  # 5 * 60 s per km
        ("1:45/100m Pace", Target("pace", 105, 105, "/100m")),
        ("3:00/100m-4:00/100m Pace", Target("pace", 180, 240, "/100m")),
        ("4:00-4:30/km Pace", Target("pace", 240, 270, "/km")),
    ],
)
def test_it_parses_pace_targets(text: str, pace: Target) -> None:
    step = one_step(f"- 400mtr {text}")
    assert (step.pace, step.power) == (pace, None)


def test_it_parses_cadence_ramps_and_options() -> None:
    step = one_step("- 10m ramp 50%-75% 85-95rpm")
    assert (step.ramp, step.power, step.cadence) == (True, pct(50, 75), (85, 95))
    assert one_step("- 5m 90% 90rpm").cadence == (90, 90)
    assert one_step("- 20m freeride").freeride
    assert one_step("- 95% press lap").until_lap_press
    assert one_step("- 2m 50% lap press").until_lap_press
    assert one_step("- 2m 50% intensity=rest").intensity == "rest"


def test_it_reads_cue_text_before_the_duration() -> None:
    step = one_step("- Big gear, seated 5m 60% 60rpm")
    assert (step.text, step.duration_s, step.cadence) == ("Big gear, seated", 300, (60, 60))


def test_it_keeps_unrecognised_words_as_cue_text() -> None:
    assert one_step("- 10m 75% smooth").text == "smooth"
    assert one_step("- 5m 60% MMP 5m").text == "60% MMP 5m"  # %MMP targets are not modelled


@pytest.mark.parametrize("line", ["- ???", "- 4x", "-", "- 5m 5m 5m", "- Z9 HR 99-1%", "- 1:99/km Pace", "@@@"])
def test_it_never_crashes_on_odd_text(line: str) -> None:
    workout = parse_workout(line)
    render_workout(workout)
    workout_metrics(workout, "Ride", Thresholds(ftp=250))


def test_it_keeps_unparseable_step_lines_as_text_steps() -> None:
    assert one_step("- stretch & foam roll") == Step(text="stretch & foam roll")


# ---- parsing: structure ------------------------------------------------------------------------

EXAMPLE = """Threshold session. Stay seated.

Warmup
- 10m ramp 50%-75% 90rpm

Main Set 4x
- 4m 106-120%
- 4m 50%

Cooldown
- 10m 50%
"""


def test_it_parses_the_reference_example() -> None:
    assert parse_workout(EXAMPLE) == Workout(
        description="Threshold session. Stay seated.",
        items=(
            Section("Warmup", (Step(600, power=pct(50, 75), cadence=(90, 90), ramp=True, intensity="warmup"),)),
            Repeat(4, (Step(240, power=pct(106, 120)), Step(240, power=pct(50))), title="Main Set"),
            Section("Cooldown", (Step(600, power=pct(50), intensity="cooldown"),)),
        ),
    )


def test_it_ends_a_repeat_block_at_a_blank_line() -> None:
    workout = parse_workout("3x\n- 1m 120%\n- 1m 50%\n\n- 5m 60%")
    assert workout.items == (
        Repeat(3, (Step(60, power=pct(120)), Step(60, power=pct(50)))),
        Step(300, power=pct(60)),
    )


def test_it_keeps_a_bare_repeat_inside_its_section() -> None:
    text = "Main Set\n- 5m 60%\n\n3x\n- 1m 120%\n- 1m 50%\n\n- 5m 60%\nCooldown\n- 5m 40%"
    main, cool = parse_workout(text).items
    assert isinstance(main, Section) and isinstance(cool, Section)
    assert [type(i).__name__ for i in main.items] == ["Step", "Repeat", "Step"]
    assert cool.items == (Step(300, power=pct(40), intensity="cooldown"),)


def test_it_reads_inline_repeats() -> None:
    (item,) = parse_workout("- 4x 100mtr Z2 Pace").items
    assert item == Repeat(4, (Step(distance_m=100.0, pace=Target("pace_zone", 2, 2)),))


def test_it_flags_warmup_steps_inside_bare_repeats_of_a_warmup_section() -> None:
    (section,) = parse_workout("Warm up\n2x\n- 30s 100%\n- 30s 50% intensity=rest").items
    assert isinstance(section, Section)
    (repeat,) = section.items
    assert isinstance(repeat, Repeat)
    assert [s.intensity for s in repeat.steps] == ["warmup", "rest"]  # explicit intensity wins


def test_it_tells_description_prose_from_headers() -> None:
    workout = parse_workout("Easy spin.\nKeep it chatty.\n\nAll\n- 30m Z2\n\nNotes at the end")
    assert workout.description == "Easy spin.\nKeep it chatty."
    assert workout.items == (
        Section("All", (Step(1800, power=Target("power_zone", 2, 2)),)),
        Section("Notes at the end", ()),
    )


def test_it_accepts_windows_line_endings() -> None:
    assert parse_workout(EXAMPLE.replace("\n", "\r\n")) == parse_workout(EXAMPLE)


# ---- rendering and round trips -----------------------------------------------------------------


def test_it_renders_canonical_text() -> None:
    assert render_workout(parse_workout(EXAMPLE)) == (
        "Threshold session. Stay seated.\n"
        "\n"
        "Warmup\n"
        "- 10m ramp 50-75% 90rpm\n"
        "\n"
        "Main Set 4x\n"
        "- 4m 106-120%\n"
        "- 4m 50%\n"
        "\n"
        "Cooldown\n"
        "- 10m 50%\n"
    )


ROUND_TRIP_CASES = [
    Workout(
        description="Sweet spot.\n\nFuel every 20 min.",
        items=(
            Section("Warmup", (Step(600, power=pct(40, 70), ramp=True, cadence=(85, 95), intensity="warmup"),)),
            Section(
                "Main Set",
                (
                    Step(300, power=pct(60)),
                    Repeat(3, (Step(720, power=pct(88, 94)), Step(180, power=Target("w", 150, 150)))),
                    Step(300, power=Target("power_zone", 2, 2), text="Spin it out"),
                ),
            ),
            Section("Cool down", (Step(600, freeride=True, intensity="cooldown"),)),
        ),
    ),
    Workout(  # run: distances, paces, HR, text cues, lap button, explicit intensities
        items=(
            Step(900, hr=Target("hr_zone", 1, 2), intensity="warmup"),
            Repeat(
                6,
                (
                    Step(distance_m=400.0, pace=Target("pace", 225, 225, "/km"), text="Strides"),
                    Step(90, pace=Target("%pace", 60, 70), intensity="rest"),
                ),
                title="Track",
            ),
            Step(distance_m=2000.0, hr=Target("%lthr", 85, 90), cadence=(170, 180)),
            Step(600, pace=Target("%pace", 70, 90), ramp=True),
            Step(hr=Target("bpm", 130, 130), until_lap_press=True, text="Easy"),
            Step(1200, hr=Target("%hr", 70, 75), pace=Target("pace_zone", 2, 3)),
        ),
    ),
    Workout(  # swim: yards, miles, odd paces and decimals
        items=(
            Step(distance_m=91.44, pace=Target("pace", 105.5, 105.5, "/100y")),
            Step(distance_m=1609.344, pace=Target("pace", 95, 110, "/100m")),
            Step(distance_m=1234.5, power=pct(72.5), intensity="active"),
            Step(45, pace=Target("pace", 275.25, 300, "/mi")),
            Step(3725, power=pct(100)),
        ),
    ),
    Workout(items=(Section("Main", (Repeat(5, (Step(30, power=pct(150)), Step(30, power=pct(50)))),)),)),
]


@pytest.mark.parametrize("workout", ROUND_TRIP_CASES)
def test_it_round_trips_model_workouts(workout: Workout) -> None:
    text = render_workout(workout)
    assert parse_workout(text) == workout, text


def test_it_round_trips_the_reference_text() -> None:
    once = parse_workout(EXAMPLE)
    assert parse_workout(render_workout(once)) == once


# ---- metrics -----------------------------------------------------------------------------------

FTP250 = Thresholds(ftp=250)


def test_it_counts_an_hour_at_ftp_as_100() -> None:
    m = workout_metrics(parse_workout("- 1h 100%"), "Ride", FTP250)
    assert (m.moving_time_s, m.load, m.intensity, m.normalized_power_w) == (3600, 100.0, 100.0, 250.0)
    assert (m.target, m.step_count, m.distance_m) == ("POWER", 1, None)


def test_it_uses_normalized_power_not_average_for_load() -> None:
    # Intervals forum: 60 min @ 50% + 60 min @ 100% is ~145, not 25 + 100 = 125.
    # 1-s profile in % FTP, 30-s windows ending 29..7199 = 7171 windows: 3571 at 50%, 3571 at 100%,
    # 29 straddling (50 + 50k/30 %, k = 1..29). Mean 4th power of the fractions:
    # (3571 * 0.0625 + 3571 * 1 + 10.67) / 7171 = 0.53065 -> IF = 0.53065^(1/4) = 0.8535
    # load = 2 h * 0.8535^2 * 100 = 145.7 (an even 0.75 average would give 2 * 0.5625 * 100 = 112.5)
    m = workout_metrics(parse_workout("- 60m 50%\n- 60m 100%"), "Ride", FTP250)
    assert m.load == 145.7
    assert m.intensity == 85.3
    assert m.normalized_power_w == pytest.approx(0.8535 * 250, abs=0.1)  # 213.4 W


def test_it_expands_repeats() -> None:
    text = "Warmup\n- 10m 50%\n\nMain Set 4x\n- 4m 110%\n- 4m 50%\n\nCooldown\n- 5m 50%"
    m = workout_metrics(parse_workout(text), "Ride", FTP250)
    # 600 + 4 * (240 + 240) + 300 = 2820 s; 1 + 4 * 2 + 1 = 10 steps
    assert (m.moving_time_s, m.step_count) == (2820, 10)
    # zones (55, 75, 90, 105, 120, 150, 999): 50% -> Z1 for 600 + 960 + 300 = 1860 s, 110% -> Z5 960 s
    assert m.zone_times_s == (1860, 0, 0, 0, 960, 0, 0)


def test_it_spreads_ramps_linearly_over_zones() -> None:
    m = workout_metrics(parse_workout("- 10m ramp 50-100%"), "Ride", FTP250)
    # 50 -> 100% over 600 s gains 1% per 12 s: 50-55 is 60 s (Z1), 55-75 240 s (Z2),
    # 75-90 180 s (Z3), 90-100 120 s (Z4)
    assert m.zone_times_s == (60, 240, 180, 120, 0, 0, 0)


def test_it_resolves_zones_to_their_midpoint() -> None:
    m = workout_metrics(parse_workout("- 1h Z3"), "Ride", FTP250)
    # Z3 = 75-90% -> 82.5%; load = 1 h * 0.825^2 * 100 = 68.06
    assert (m.intensity, m.load) == (82.5, 68.1)
    custom = workout_metrics(parse_workout("- 1h Z2"), "Ride", Thresholds(ftp=250, power_zones=(60, 80, 999)))
    assert custom.intensity == 70.0  # (60 + 80) / 2
    top = workout_metrics(parse_workout("- 1h Z3"), "Ride", Thresholds(ftp=250, power_zones=(60, 80, 999)))
    assert top.intensity == 80.0  # the open top zone resolves to its lower bound


def test_it_resolves_a_power_zone_target_as_intervals_does() -> None:
    # A real workout_doc at FTP 240 with the default zones (freekode/tp2intervals
    # intervals-events-response.json @722a53f): "Z2" -> `_power` 134-180 W, "Z3-Z4" -> 182-252 W.
    zones = (55, 75, 90, 105, 120, 150, 999)
    assert [power_zone_pct(zones, z) for z in (1, 2, 3, 4, 7)] == [
        (0.0, 55.0),
        (56.0, 75.0),  # the whole percent after Z1's top, as its zone table's "56% - 75%"
        (76.0, 90.0),
        (91.0, 105.0),
        (151.0, None),  # open top
    ]
    assert power_zone_pct(zones, 0) is None and power_zone_pct(zones, 8) is None
    assert (pct_watts(56, 240), pct_watts(75, 240)) == (134, 180)  # 134.4, 180
    assert (pct_watts(76, 240), pct_watts(105, 240)) == (182, 252)  # 182.4, 252
    # Rounded half up, as its single-value targets (40 % at 240 = 96 W is given 93-99 W: 98.88 -> 99)
    assert (pct_watts(90, 225), pct_watts(76, 231)) == (203, 176)  # 202.5, 175.56


def test_it_shows_targets_in_the_watts_intervals_resolves() -> None:
    from mcpserver.tools.events import Rendering, describe_step

    r = Rendering(Thresholds(ftp=225, power_zones=(55, 75, 90, 105, 120, 150, 999)), "/km")
    assert describe_step(one_step("- 10m 90%"), r) == "10m 90% FTP (203 W)"  # 202.5 half up, not to even (202)
    assert describe_step(one_step("- 10m Z2"), r) == "10m Z2 (126-169 W)"  # 56 % = 126, 75 % = 168.75


def test_it_converts_watts_with_ftp() -> None:
    m = workout_metrics(parse_workout("- 30m 200w"), "Ride", FTP250)
    # 200 / 250 = 80%; load = 0.5 h * 0.64 * 100 = 32
    assert (m.intensity, m.load, m.normalized_power_w) == (80.0, 32.0, 200.0)


def test_it_counts_freeride_at_55_percent() -> None:
    m = workout_metrics(parse_workout("- 1h freeride"), "Ride", FTP250)
    # 1 h * 0.55^2 * 100 = 30.25
    assert m.intensity == 55.0
    assert m.load == pytest.approx(30.25, abs=0.06)
    assert m.target == "NONE"


def test_it_has_no_load_without_targets() -> None:
    m = workout_metrics(parse_workout("- 30m\n- 10m"), "Ride", FTP250)
    assert (m.moving_time_s, m.load, m.intensity, m.target, m.zone_times_s) == (2400, None, None, "NONE", ())


def test_it_uses_heart_rate_for_hr_only_workouts() -> None:
    t = Thresholds(lthr=170, max_hr=190, hr_zones=(140, 155, 165, 175, 190))
    m = workout_metrics(parse_workout("- 30m 153bpm\n- 30m 90% LTHR"), "Run", t)
    # 153 / 170 = 90% LTHR for the whole hour: IF 0.9, load = 1 h * 0.81 * 100 = 81
    assert (m.target, m.intensity, m.load, m.normalized_power_w) == ("HR", 90.0, 81.0, None)
    # 153 bpm sits in Z2 (141-155) for the whole hour
    assert m.zone_times_s == (0, 3600, 0, 0, 0)
    by_max = workout_metrics(parse_workout("- 1h 80% HR"), "Run", t)
    # 80% of max 190 = 152 bpm = 89.41% of LTHR
    assert by_max.intensity == 89.4


def test_it_uses_pace_for_pace_only_workouts() -> None:
    t = Thresholds(threshold_pace=1000 / 270)  # 4:30/km
    m = workout_metrics(parse_workout("- 1h 5:00/km Pace"), "Run", t)
    # speed 1000/300 m/s is 270/300 = 90% of threshold speed: load = 1 h * 0.81 * 100 = 81
    # distance = 3600 s at 3.333 m/s = 12 km
    assert (m.target, m.intensity, m.load, m.distance_m) == ("PACE", 90.0, 81.0, 12000.0)


def test_it_times_distance_steps_from_their_pace() -> None:
    t = Thresholds(threshold_pace=5.0)
    m = workout_metrics(parse_workout("- 2km 5:00/km Pace\n- 1km 80% Pace\n- 1km"), "Run", t)
    # 2 km at 300 s/km = 600 s; 1 km at 80% of 5 m/s = 4 m/s = 250 s; untargeted 1 km assumed at 80% too
    assert (m.moving_time_s, m.distance_m) == (1100, 4000.0)


def test_it_leaves_untimed_distance_steps_at_zero_seconds() -> None:
    m = workout_metrics(parse_workout("- 10km 75%\n- 10m 75%"), "Ride", FTP250)
    assert (m.moving_time_s, m.step_count, m.distance_m) == (600, 2, 10000.0)


def test_it_reads_bare_percentages_by_sport() -> None:
    t = Thresholds(threshold_pace=4.0)  # a runner without a running FTP
    m = workout_metrics(parse_workout("- 10m 75%"), "Run", t)
    # 75% Pace: 600 s at 3 m/s = 1800 m
    assert (m.target, m.distance_m, m.intensity) == ("PACE", 1800.0, 75.0)
    assert workout_metrics(parse_workout("- 10m 75%"), "Ride", t).target == "POWER"


def test_it_picks_the_target_with_the_most_time() -> None:
    m = workout_metrics(parse_workout("- 10m 95% LTHR\n- 5m 80%"), "Ride", Thresholds(ftp=250, lthr=170))
    assert m.target == "HR"


def test_it_gives_up_on_absurdly_long_workouts_without_hanging() -> None:
    m = workout_metrics(parse_workout("9999999x\n- 10h 100%"), "Ride", FTP250)
    assert (m.step_count, m.moving_time_s, m.load) == (9999999, 9999999 * 36000, None)


# ---- workout_doc and helpers -------------------------------------------------------------------


def test_it_builds_an_intervals_style_workout_doc() -> None:
    doc = workout_doc(parse_workout(EXAMPLE), Thresholds(ftp=200, lthr=165))
    assert doc["duration"] == 600 + 4 * 480 + 600
    assert (doc["ftp"], doc["lthr"], doc["threshold_pace"], doc["target"]) == (200, 165, None, "POWER")
    assert doc["description"] == "Threshold session. Stay seated."
    warm, main, cool = doc["steps"]
    assert warm == {
        "duration": 600,
        "warmup": True,
        "intensity": "warmup",
        "ramp": True,
        "power": {"start": 50.0, "end": 75.0, "units": "%ftp"},
        "cadence": {"value": 90, "units": "rpm"},
    }
    assert main == {
        "text": "Main Set",
        "reps": 4,
        "steps": [
            {"duration": 240, "power": {"start": 106.0, "end": 120.0, "units": "%ftp"}},
            {"duration": 240, "power": {"value": 50.0, "units": "%ftp"}},
        ],
    }
    assert cool["cooldown"] is True
    # the warmup ramp gains 1% per 24 s: 50-55% is 120 s in Z1, 55-75% 480 s in Z2;
    # 50% recoveries 4 x 240 s and the 600 s cooldown are Z1; 106-120% holds 113% -> Z5
    assert doc["zoneTimes"] == [120 + 960 + 600, 480, 0, 0, 960, 0, 0]
    assert sum(doc["zoneTimes"]) == doc["duration"]


def test_it_puts_hr_targets_and_zone_times_in_the_doc() -> None:
    t = Thresholds(lthr=170, hr_zones=(140, 155, 165, 175, 190))
    doc = workout_doc(parse_workout("- 2km Z2 HR"), t, sport="Run")
    assert doc["steps"] == [{"distance": 2000.0, "hr": {"value": 2.0, "units": "hr_zone"}}]
    assert doc["target"] == "HR"


@pytest.mark.parametrize(
    ("seconds", "text"), [(3900, "1h05m"), (2700, "45m"), (30, "30s"), (90, "1m30s"), (3600, "1h")]
)
def test_it_formats_durations(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text
    assert one_step(f"- {text}").duration_s == seconds  # and they are valid workout syntax


def test_it_converts_and_formats_paces() -> None:
    assert speed_to_pace(4.0, "/km") == 250.0  # 1000 m / 4 m/s
    assert speed_to_pace(2.0, "/100m") == 50.0
    assert format_pace(275, "/km") == "4:35/km"
    assert format_pace(speed_to_pace(1000 / 275.4, "/km"), "/km") == "4:35/km"
    assert format_pace(59.6, "/100m") == "1:00/100m"
    with pytest.raises(ValueError, match="positive"):
        speed_to_pace(0.0, "/km")


def test_it_does_not_take_plain_numbers_for_durations() -> None:
    step = one_step("- Sprint 3 times 30s 150%")
    assert (step.text, step.duration_s, step.power) == ("Sprint 3 times", 30, pct(150))


def test_it_keeps_absurd_numbers_as_text() -> None:
    huge = "9" * 5000
    step = one_step(f"- {huge}s {huge}% {huge}rpm")
    assert (step.duration_s, step.power, step.cadence) == (None, None, None)
    assert parse_workout(f"{huge}x\n- 1m 50%").items[0] == Section(f"{huge}x", (Step(60, power=pct(50)),))


def test_it_names_the_target_even_when_thresholds_are_missing() -> None:
    m = workout_metrics(parse_workout("- 30m 150bpm"), "Run", Thresholds())
    assert (m.target, m.moving_time_s, m.load, m.zone_times_s) == ("HR", 1800, None, ())


# Upstream workout text is anyone's text (and push_workout's description is the model's): reading it back
# must cost time in proportion to its length, never more.
def _seconds(fn: object, *args: object) -> float:
    import time

    started = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - started


def test_it_reads_a_long_line_of_blanks_in_linear_time() -> None:
    # The repeat-header pattern used to backtrack quadratically: 50,000 characters took 40 s.
    assert _seconds(parse_workout, "a" + "\t" * 50_000 + "1") < 0.5
    assert _seconds(parse_workout, "x" + " " * 50_000 + "1y") < 0.5
    assert parse_workout("Main set   3x\n- 5m 100%").items == (
        Repeat(3, (Step(duration_s=300, power=pct(100)),), "Main set"),
    )
    assert parse_workout("a 12345678x").items == ()  # a count of 8 digits is no repeat header


def test_it_costs_a_repeat_of_ten_million_zero_second_steps_at_once() -> None:
    # A distance step has no duration in a Ride without a pace target: expanding its repeats one by one
    # took 5 s for 27 characters of text.
    text = ("9999999x\n- 1mtr\n\n" * 220 + "- 1s 100%\n")[:4000]
    workout = parse_workout(text)
    assert _seconds(workout_metrics, workout, "Ride", Thresholds(ftp=250)) < 0.5
    metrics = workout_metrics(workout, "Ride", Thresholds(ftp=250))
    assert metrics.step_count > 10**9 and metrics.moving_time_s == 1
