"""The Banister/PMC fitness model: hand-computed CTL/ATL/form, projection, weekly roll-up, form zones."""

import math
from datetime import date, timedelta

import pytest

from integrations.intervals.load import (
    ATL_DAYS,
    CTL_DAYS,
    DayFitness,
    fitness_series,
    form_zone,
    project,
    weekly,
)

D0 = date(2024, 1, 1)  # a Monday


def days(n: int, start: date = D0) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def test_it_uses_intervals_default_time_constants() -> None:
    assert (CTL_DAYS, ATL_DAYS) == (42, 7)


def test_it_computes_one_day_of_load_from_zero() -> None:
    rows = fitness_series({D0: 100.0}, D0, D0)
    # ctl = 0 + (100 - 0)(1 - e^(-1/42)) = 100 * 0.0235283 = 2.35283
    # atl = 0 + (100 - 0)(1 - e^(-1/7))  = 100 * 0.1331221 = 13.31221
    # form = 2.35283 - 13.31221 = -10.95938 (same-day values)
    (row,) = rows
    assert row.ctl == pytest.approx(2.35283, abs=1e-5)
    assert row.atl == pytest.approx(13.31221, abs=1e-5)
    assert row.form == pytest.approx(-10.95938, abs=1e-5)
    # the day before start is ctl0 = 0, and is assumed for the whole week before start
    assert row.ramp_rate == pytest.approx(row.ctl)


def test_it_reaches_63_percent_of_a_constant_load_after_one_time_constant() -> None:
    loads = {d: 100.0 for d in days(42)}
    rows = fitness_series(loads, D0, D0 + timedelta(days=41))
    # each day keeps e^(-1/42) of the gap to 100, so after n days ctl = 100 (1 - e^(-n/42));
    # n = 42: 100 (1 - e^-1) = 63.212; atl: 100 (1 - e^(-42/7)) = 100 (1 - e^-6) = 99.752
    assert len(rows) == 42
    assert rows[-1].ctl == pytest.approx(100 * (1 - math.exp(-1)))  # 63.212
    assert rows[-1].ctl == pytest.approx(63.212, abs=1e-3)
    assert rows[-1].atl == pytest.approx(99.752, abs=1e-3)
    assert rows[-1].form == pytest.approx(63.212 - 99.752, abs=2e-3)  # -36.54


def test_it_fills_missing_days_with_zero_load() -> None:
    rows = fitness_series({D0: 100.0}, D0, D0 + timedelta(days=2))
    assert [r.load for r in rows] == [100.0, 0.0, 0.0]
    # a rest day keeps e^(-1/42) of ctl: 2.35283 * 0.976472 = 2.29747
    assert rows[1].ctl == pytest.approx(rows[0].ctl * math.exp(-1 / 42))
    assert rows[1].ctl == pytest.approx(2.29747, abs=1e-5)
    assert rows[2].atl == pytest.approx(rows[0].atl * math.exp(-2 / 7))


def test_it_starts_from_the_seed_values_of_the_day_before() -> None:
    rows = fitness_series({}, D0, D0, ctl0=50.0, atl0=70.0)
    # no load: ctl = 50 e^(-1/42) = 48.8236, atl = 70 e^(-1/7) = 60.6815, form = -11.8579
    assert rows[0].ctl == pytest.approx(48.8236, abs=1e-4)
    assert rows[0].atl == pytest.approx(60.6815, abs=1e-4)
    assert rows[0].form == pytest.approx(-11.8579, abs=1e-4)
    assert rows[0].ramp_rate == pytest.approx(48.8236 - 50.0, abs=1e-4)


def test_it_returns_nothing_when_end_is_before_start() -> None:
    assert fitness_series({D0: 100.0}, D0, D0 - timedelta(days=1)) == []


def test_it_measures_ramp_rate_over_seven_days() -> None:
    loads = {d: 100.0 for d in days(14)}
    rows = fitness_series(loads, D0, D0 + timedelta(days=13))
    # day 7 (index 6): ctl - ctl0 = 100 (1 - e^(-7/42)) = 15.352
    assert rows[6].ramp_rate == pytest.approx(100 * (1 - math.exp(-7 / 42)))
    assert rows[6].ramp_rate == pytest.approx(15.352, abs=1e-3)
    # day 14 (index 13): ctl_14 - ctl_7 = 100 (e^(-7/42) - e^(-14/42)) = 84.648 - 71.653 = 12.995
    assert rows[13].ramp_rate == pytest.approx(rows[13].ctl - rows[6].ctl)
    assert rows[13].ramp_rate == pytest.approx(12.995, abs=1e-3)


def test_it_honours_custom_time_constants() -> None:
    rows = fitness_series({D0: 100.0}, D0, D0, ctl_days=28, atl_days=5)
    # 100 (1 - e^(-1/28)) = 3.5084; 100 (1 - e^(-1/5)) = 18.1269
    assert rows[0].ctl == pytest.approx(3.5084, abs=1e-4)
    assert rows[0].atl == pytest.approx(18.1269, abs=1e-4)


def test_it_projects_continuously_from_history() -> None:
    loads = {d: float(40 + 10 * (i % 4)) for i, d in enumerate(days(30))}
    full = fitness_series(loads, D0, D0 + timedelta(days=29), ctl0=30.0, atl0=35.0)
    history = full[:12]
    projected = project(history[-1], loads, D0 + timedelta(days=29), history=history)
    # the projection is the same recurrence picked up from the last known day: identical rows
    assert [r.date for r in projected] == [r.date for r in full[12:]]
    for got, want in zip(projected, full[12:], strict=True):
        assert got.ctl == pytest.approx(want.ctl)
        assert got.atl == pytest.approx(want.atl)
        assert got.form == pytest.approx(want.form)
        assert got.ramp_rate == pytest.approx(want.ramp_rate)


def test_it_projects_ctl_exactly_without_history_and_interpolates_early_ramp_rate() -> None:
    last = DayFitness(D0, load=50.0, ctl=60.0, atl=55.0, form=5.0, ramp_rate=7.0)
    rows = project(last, {}, D0 + timedelta(days=7))
    assert len(rows) == 7
    # day+1, no planned load: ctl = 60 e^(-1/42) = 58.5883, atl = 55 e^(-1/7) = 47.6783
    assert rows[0].ctl == pytest.approx(58.5883, abs=1e-4)
    assert rows[0].atl == pytest.approx(47.6783, abs=1e-4)
    # CTL 6 days before `last` is interpolated: 60 - 7 * 6/7 = 54, so ramp = 58.5883 - 54 = 4.5883
    assert rows[0].ramp_rate == pytest.approx(4.5883, abs=1e-4)
    # day+7 compares with `last` itself: 60 e^(-7/42) - 60 = -9.211
    assert rows[6].ramp_rate == pytest.approx(60 * math.exp(-7 / 42) - 60, abs=1e-9)


def test_it_uses_planned_loads_in_projection() -> None:
    last = DayFitness(D0, load=0.0, ctl=50.0, atl=50.0, form=0.0, ramp_rate=0.0)
    (row,) = project(last, {D0 + timedelta(days=1): 150.0}, D0 + timedelta(days=1))
    # ctl = 50 + (150 - 50) 0.0235283 = 52.3528; atl = 50 + 100 * 0.1331221 = 63.3122
    assert row.ctl == pytest.approx(52.3528, abs=1e-4)
    assert row.atl == pytest.approx(63.3122, abs=1e-4)
    assert row.load == 150.0


def test_it_aggregates_weeks_across_a_boundary() -> None:
    start = date(2024, 1, 3)  # Wednesday
    loads = {d: 10.0 * (i + 1) for i, d in enumerate(days(7, start))}  # Wed..Tue: 10, 20, ... 70
    rows = fitness_series(loads, start, start + timedelta(days=6))
    weeks = weekly(rows)
    assert [w.week_start for w in weeks] == [date(2024, 1, 1), date(2024, 1, 8)]
    assert [w.days for w in weeks] == [5, 2]
    # Wed-Sun: 10+20+30+40+50 = 150; Mon-Tue: 60+70 = 130
    assert [w.load for w in weeks] == [150.0, 130.0]
    sunday, tuesday = rows[4], rows[6]
    assert (weeks[0].ctl, weeks[0].atl, weeks[0].form) == (sunday.ctl, sunday.atl, sunday.form)
    assert (weeks[1].ctl, weeks[1].ramp_rate) == (tuesday.ctl, tuesday.ramp_rate)


def test_it_aggregates_unsorted_rows() -> None:
    rows = fitness_series({d: 50.0 for d in days(14)}, D0, D0 + timedelta(days=13))
    weeks = weekly(list(reversed(rows)))
    assert [w.load for w in weeks] == [350.0, 350.0]
    # a full week's ramp rate = Sunday's ctl - previous Sunday's ctl
    assert weeks[1].ramp_rate == pytest.approx(rows[13].ctl - rows[6].ctl)


@pytest.mark.parametrize(
    ("form", "zone"),
    [
        (30.0, "transition"),
        (25.0, "fresh"),  # boundaries belong to the less extreme zone
        (10.0, "fresh"),
        (5.0, "grey"),
        (0.0, "grey"),
        (-10.0, "grey"),
        (-20.0, "optimal"),
        (-30.0, "optimal"),
        (-30.5, "high_risk"),
    ],
)
def test_it_labels_form_zones_in_points(form: float, zone: str) -> None:
    assert form_zone(form, ctl=80.0) == zone


def test_it_labels_form_zones_as_percent_of_fitness() -> None:
    # -15 points at ctl 100 is -15% (optimal); at ctl 40 it is -37.5% (high risk)
    assert form_zone(-15.0, 100.0, as_percent=True) == "optimal"
    assert form_zone(-15.0, 40.0, as_percent=True) == "high_risk"
    assert form_zone(-15.0, 0.0, as_percent=True) == "optimal"  # no fitness: falls back to points
