"""Stream analysis on small synthetic series whose answers are worked out by hand."""

from collections.abc import Sequence

import pytest

from integrations.intervals.analysis import (
    BestEffort,
    Stretch,
    average_hr,
    best_distance_efforts,
    best_efforts,
    best_hr_efforts,
    decoupling,
    downsample,
    downsample_profile,
    efficiency_factor,
    hr_dropout_s,
    normalized_power,
    rolling_means,
    stretches,
    time_in_zones,
    variability_index,
)

# 20 min steady at 200 W then 20 min at 300 W, 1 Hz
STEP_UP: Sequence[float | None] = [200.0] * 1200 + [300.0] * 1200


def test_it_computes_rolling_means_of_full_windows() -> None:
    # windows of 2 over 1,2,3,4: (1+2)/2, (2+3)/2, (3+4)/2
    assert rolling_means([1.0, 2.0, 3.0, 4.0], 2) == [1.5, 2.5, 3.5]
    assert rolling_means([1.0], 2) == []


def test_it_gives_steady_power_as_normalized_power() -> None:
    assert normalized_power([250.0] * 600) == pytest.approx(250.0)


def test_it_weights_hard_efforts_in_normalized_power() -> None:
    # 30-s windows ending at samples 29..2399 = 2371 windows:
    #   1171 windows of pure 200 W (ending 29..1199), 1171 of pure 300 W (ending 1229..2399),
    #   29 straddling the change, holding k seconds of 300 W (k = 1..29): mean 200 + 100k/30.
    # NP = (sum of mean^4 / 2371)^(1/4) = 263.8 W (without the 29 straddling windows:
    # ((200^4 + 300^4) / 2)^(1/4) = (4.85e9)^(1/4) = 263.9), well above the 250 W average.
    fourth = 1171 * 200.0**4 + 1171 * 300.0**4 + sum((200 + 100 * k / 30) ** 4 for k in range(1, 30))
    expected = (fourth / 2371) ** 0.25
    assert normalized_power(STEP_UP) == pytest.approx(expected)
    assert expected == pytest.approx(263.8, abs=0.05)


def test_it_counts_gaps_as_zero_power() -> None:
    # 30 samples, one window: mean (3 * 100 + 27 * 0) / 30 = 10 W
    assert normalized_power([100.0, None, 100.0, 100.0] + [0.0] * 26) == pytest.approx(10.0)


def test_it_uses_average_power_for_series_shorter_than_the_window() -> None:
    assert normalized_power([100.0, 200.0, 300.0]) == pytest.approx(200.0)


def test_it_returns_none_without_data() -> None:
    assert normalized_power([]) is None
    assert normalized_power([None, None]) is None
    assert variability_index([0.0] * 60) is None
    assert efficiency_factor([200.0], [None, 0.0]) is None
    assert decoupling([], []) is None


def test_it_computes_variability_index() -> None:
    assert variability_index([180.0] * 300) == pytest.approx(1.0)
    # average power (200 + 300) / 2 = 250 W, so VI = NP / 250 = 263.8 / 250 = 1.055
    np_w = normalized_power(STEP_UP)
    assert np_w is not None
    assert variability_index(STEP_UP) == pytest.approx(np_w / 250)


def test_it_computes_efficiency_factor_from_power() -> None:
    hr: list[float | None] = [140.0] * 599 + [None]  # dropouts are ignored in the HR average
    # NP 200 W / 140 bpm = 1.4286
    assert efficiency_factor([200.0] * 600, hr) == pytest.approx(200 / 140)


def test_it_computes_efficiency_factor_from_speed() -> None:
    speed: list[float | None] = [3.0, 0.0, 3.0, None, 3.0]  # stops and gaps are not moving time
    hr: list[float | None] = [150.0, 150.0, 0.0, 150.0, 150.0]
    # 3.0 m/s = 180 m/min; 180 / 150 bpm = 1.2
    assert efficiency_factor(speed, hr, kind="speed") == pytest.approx(1.2)


def test_it_measures_decoupling_as_hr_drift() -> None:
    power: Sequence[float | None] = [200.0] * 3600
    hr: Sequence[float | None] = [140.0] * 1800 + [147.0] * 1800
    # first half 200/140 = 1.42857 W/bpm, second 200/147 = 1.36054
    # (1.42857 - 1.36054) / 1.42857 = 1 - 140/147 = 4.762 %
    assert decoupling(power, hr) == pytest.approx(100 * (1 - 140 / 147))
    assert decoupling(power, hr) == pytest.approx(4.762, abs=1e-3)


def test_it_ignores_zero_and_missing_samples_in_decoupling() -> None:
    power: list[float | None] = [200.0, 0.0, 200.0, None, 210.0, 210.0, 0.0, 210.0]
    hr: list[float | None] = [150.0, 150.0, None, 150.0, 140.0, 0.0, 140.0, 140.0]
    # first half pairs: (200, 150) only -> 1.3333; second: (210, 140), (210, 140) -> 1.5
    # (1.3333 - 1.5) / 1.3333 = -12.5 %: output per beat improved (HR came down)
    assert decoupling(power, hr) == pytest.approx(-12.5)


def test_it_finds_best_efforts_with_their_start() -> None:
    efforts = best_efforts(STEP_UP, [60, 1800, 5000, 0])
    assert efforts[60] == BestEffort(duration_s=60, value=300.0, start_s=1200)
    # best 30 min: all 1200 s at 300 W plus the last 600 s at 200 W, starting at 600:
    # (1200 * 300 + 600 * 200) / 1800 = 480000 / 1800 = 266.67 W
    assert efforts[1800].start_s == 600
    assert efforts[1800].value == pytest.approx(266.6667, abs=1e-4)
    assert set(efforts) == {60, 1800}  # longer than the ride, and non-positive, are skipped


def test_it_prefers_the_earliest_of_equal_best_efforts() -> None:
    assert best_efforts([5.0, 1.0, 5.0], [1])[1].start_s == 0
    assert best_efforts([None, None], [1]) == {}


def test_it_finds_best_distance_efforts_with_interpolation() -> None:
    # 200 s at 4 m/s (800 m) then 100 s at 5 m/s (500 m), 1 Hz
    time = [float(t) for t in range(301)]
    distance = [4.0 * t if t <= 200 else 800 + 5.0 * (t - 200) for t in range(301)]
    efforts = best_distance_efforts(distance, time, [400, 1000, 5000])
    # fastest 400 m lies fully in the 5 m/s part: 400 / 5 = 80 s, starting at 200 s
    assert efforts[400].value == pytest.approx(80.0)
    assert efforts[400].start_s == pytest.approx(200.0)
    # fastest 1000 m ends at the end: last 500 m in 100 s + previous 500 m at 4 m/s in 125 s = 225 s;
    # its start (300 m in, at 300 / 4 = 75 s) is interpolated in time
    assert efforts[1000].value == pytest.approx(225.0)
    assert efforts[1000].duration_s == 225
    assert efforts[1000].start_s == pytest.approx(75.0)
    assert 5000 not in efforts


def test_it_skips_gaps_in_distance_streams() -> None:
    distance: list[float | None] = [0.0, 10.0, None, 30.0, 40.0]
    time: list[float | None] = [0.0, 1.0, 2.0, 3.0, None]
    # usable samples (0 s, 0 m), (1 s, 10 m), (3 s, 30 m): 20 m takes 2 s at best
    assert best_distance_efforts(distance, time, [20])[20].value == pytest.approx(2.0)


def test_it_bins_time_in_zones_with_inclusive_upper_bounds() -> None:
    # 100, 150 -> Z1 (<= 150); 200, 250 -> Z2 (<= 250); 400 -> Z3; None skipped
    assert time_in_zones([100.0, 150.0, 200.0, 250.0, None, 400.0], [150, 250, 999]) == (2, 2, 1)
    # the last zone is open-ended
    assert time_in_zones([100.0, 1200.0], [150, 250]) == (1, 1)
    assert time_in_zones([100.0], []) == ()


def test_it_downsamples_with_bucket_means() -> None:
    series: list[float | None] = [float(v) for v in range(1, 11)]
    # 10 samples into 5 buckets of 2: (1+2)/2, (3+4)/2, ...
    assert downsample(series, 5) == [1.5, 3.5, 5.5, 7.5, 9.5]
    # into 3 buckets: [1,2,3] [4,5,6] [7,8,9,10] -> 2, 5, 8.5
    assert downsample(series, 3) == [2.0, 5.0, 8.5]
    assert downsample(series, 20) == series
    assert downsample(series, 0) == []


def test_it_keeps_gaps_when_downsampling() -> None:
    assert downsample([1.0, None, None, None, 3.0, 5.0], 3) == [1.0, None, 4.0]


def test_it_never_returns_more_than_max_points() -> None:
    for n in (1, 7, 100, 1001):
        for k in (1, 3, 10, 250):
            assert len(downsample([1.0] * n, k)) == min(n, k)


def test_it_downsamples_aligned_profiles() -> None:
    time: list[float | None] = [0.0, 1.0, 2.0, 3.0]
    rows = downsample_profile(time, {"watts": [100.0, 200.0, None, 300.0], "heartrate": [120.0, 130.0]}, 2)
    # buckets [0,1] and [2,3]; heartrate is padded with None to the time axis
    assert rows == [
        {"time": 0.0, "watts": 150.0, "heartrate": 125.0},
        {"time": 2.0, "watts": 300.0, "heartrate": None},
    ]


# --- time: recording stops and heart-rate dropouts ------------------------------------------------------

# Three 4-s blocks of recording with stops between (the time stream jumps from 13 to 40, and from 43 to 100),
# the shape of the corpus' track ride (2400-2459, 2765-2824, 2869-2928 s) made small.
STOPS_TIME: list[float | None] = [10.0, 11.0, 12.0, 13.0, 40.0, 41.0, 42.0, 43.0, 100.0, 101.0, 102.0, 103.0]
STOPS_WATTS: list[float | None] = [100.0, 100.0, 300.0, 300.0, 300.0, 300.0, 100.0, 100.0, 200.0, 200.0, 200.0, 200.0]


def test_it_lays_samples_on_the_time_stream_and_splits_at_stops() -> None:
    assert stretches(STOPS_WATTS, STOPS_TIME) == [
        Stretch(10, (100.0, 100.0, 300.0, 300.0)),
        Stretch(40, (300.0, 300.0, 100.0, 100.0)),
        Stretch(100, (200.0, 200.0, 200.0, 200.0)),
    ]
    # A sample every 2 s counts for 2 s; a time not after the last is skipped (the 9.0); a jump of more
    # than 5 s (3 -> 10) is a stop: the sample before it counts its own second only
    assert stretches([1.0, 2.0, 3.0, 9.0, 4.0], [0.0, 2.0, 3.0, 3.0, 10.0]) == [
        Stretch(0, (1.0, 1.0, 2.0, 3.0)),
        Stretch(10, (4.0,)),
    ]
    # Without a time stream one sample is one second
    assert stretches([1.0, None]) == [Stretch(0, (1.0, None))]


def test_it_never_lets_an_effort_span_a_recording_stop() -> None:
    efforts = best_efforts(STOPS_WATTS, [2, 4, 5], STOPS_TIME)
    # 2 s: 300 + 300 first at 12 s (12-13); by index 2-3 as well, but its start is read from the time stream
    assert efforts[2] == BestEffort(duration_s=2, value=300.0, start_s=12)
    # 4 s: 800 / 4 = 200 in each block (the first wins the tie), never 300 + 300 + 300 + 300 across the stop
    assert efforts[4] == BestEffort(duration_s=4, value=200.0, start_s=10)
    assert 5 not in efforts  # no 5 s of continuous recording
    # By position alone samples 2-5 would make a 4-s best of 300 W "at 0:02".
    assert best_efforts(STOPS_WATTS, [4])[4] == BestEffort(duration_s=4, value=300.0, start_s=2)


def test_it_leaves_heart_rate_dropouts_out_of_best_efforts_averages_and_zones() -> None:
    hr: list[float | None] = [150.0, 152.0, 0.0, 0.0, 0.0, 0.0, 0.0, 154.0, 156.0, None]
    # 4-s windows need 2 s with a heart rate: 0-3 (150, 152) = 151; 5-8 (0, 0, 154, 156) = 155, the
    # earliest of the equal bests (6-9 too); 2-5 has none
    assert best_hr_efforts(hr, [4]) == {4: BestEffort(duration_s=4, value=155.0, start_s=5)}
    assert best_hr_efforts(hr, [10]) == {}  # 4 of 10 s with a heart rate: no honest 10-s value
    assert average_hr(hr) == pytest.approx((150 + 152 + 154 + 156) / 4)
    assert hr_dropout_s(hr) == 6  # five 0 bpm and one None
    assert hr_dropout_s([None, 0.0]) == 0  # no heart rate at all is not a dropout of one
    assert time_in_zones([v or None for v in hr], [153, 999]) == (2, 2)


def test_it_measures_over_recorded_seconds_on_the_time_stream() -> None:
    # 1 Hz, then one sample every 2 s: each counts for 2 s, so the second half of the time is the 2-s part
    time: list[float | None] = [0.0, 1.0, 2.0, 3.0, 4.0, 6.0]
    power: list[float | None] = [200.0, 200.0, 200.0, 200.0, 200.0, 200.0]
    hr: list[float | None] = [140.0, 140.0, 140.0, 147.0, 147.0, 147.0]
    # seconds 0-6 hold HR 140, 140, 140, 147, 147, 147, 147: halves 0-2 (140) and 3-6 (147) -> 4.762 %
    assert decoupling(power, hr, time) == pytest.approx(100 * (1 - 140 / 147))
    assert time_in_zones(hr, [145, 999], time) == (3, 4)
    assert efficiency_factor(power, hr, time=time) == pytest.approx(200 / ((3 * 140 + 4 * 147) / 7))
    # and never over a stop: 60 s at 100 W, a stop, 60 s at 300 W -> NP over 120 recorded seconds
    stop_time = [float(t) for t in range(60)] + [float(t) for t in range(1000, 1060)]
    assert normalized_power([100.0] * 60 + [300.0] * 60, stop_time) == normalized_power([100.0] * 60 + [300.0] * 60)
