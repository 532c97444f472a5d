"""The fitness model (Banister impulse-response / Performance Management Chart) as Intervals.icu runs it.

Daily update (reference §6), with L_t the day's total training load::

    ctl_t = ctl_{t-1} + (L_t - ctl_{t-1}) * (1 - e^(-1/ctl_days))      Fitness, 42-day constant
    atl_t = atl_{t-1} + (L_t - atl_{t-1}) * (1 - e^(-1/atl_days))      Fatigue, 7-day constant
    form_t = ctl_t - atl_t                                             same-day values, like Intervals
    ramp_rate_t = ctl_t - ctl_{t-7}                                    Fitness gained over a week

Values are kept unrounded; round for display only. Pure: stdlib only, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

CTL_DAYS = 42
ATL_DAYS = 7
RAMP_DAYS = 7

FORM_ZONE_LABELS = {
    "transition": "Transition",
    "fresh": "Fresh",
    "grey": "Grey zone",
    "optimal": "Optimal",
    "high_risk": "High risk",
}


@dataclass(frozen=True)
class DayFitness:
    date: date
    load: float
    ctl: float
    atl: float
    form: float  # ctl - atl of the same day (Intervals convention)
    ramp_rate: float  # ctl - ctl 7 days earlier


@dataclass(frozen=True)
class WeekFitness:
    week_start: date  # Monday
    days: int  # rows present in this week (< 7 for a partial first/last week)
    load: float  # total load of those days
    ctl: float  # values on the week's last row
    atl: float
    form: float
    ramp_rate: float  # ramp rate of the week's last row, i.e. CTL change over the 7 days ending there


def _decay(days: int) -> float:
    return 1.0 - math.exp(-1.0 / days)


def _run(
    first: date,
    end: date,
    loads: Mapping[date, float],
    ctl: float,
    atl: float,
    ctl_before: Callable[[date], float],
    ctl_days: int,
    atl_days: int,
) -> list[DayFitness]:
    """Iterate the model over `first`..`end`; `ctl_before(d)` gives CTL on days before `first`."""
    k_ctl, k_atl = _decay(ctl_days), _decay(atl_days)
    rows: list[DayFitness] = []
    day = first
    while day <= end:
        load = float(loads.get(day, 0.0))
        ctl += (load - ctl) * k_ctl
        atl += (load - atl) * k_atl
        index = (day - first).days
        if index >= RAMP_DAYS:
            week_ago = rows[index - RAMP_DAYS].ctl
        else:
            week_ago = ctl_before(day - timedelta(days=RAMP_DAYS))
        rows.append(DayFitness(day, load, ctl, atl, ctl - atl, ctl - week_ago))
        day += timedelta(days=1)
    return rows


def fitness_series(
    daily_loads: Mapping[date, float],
    start: date,
    end: date,
    *,
    ctl0: float = 0.0,
    atl0: float = 0.0,
    ctl_days: int = CTL_DAYS,
    atl_days: int = ATL_DAYS,
) -> list[DayFitness]:
    """One row per day from `start` to `end` inclusive (empty if end < start); missing days have load 0.

    `ctl0`/`atl0` are the values on the day before `start`. For the first 7 rows the ramp rate needs
    CTL from before `start`, which is taken as `ctl0` (i.e. the athlete is assumed to have been steady
    at ctl0), so starting from 0 the first week's ramp rate is simply the CTL built so far.
    """
    return _run(start, end, daily_loads, ctl0, atl0, lambda _day: ctl0, ctl_days, atl_days)


def project(
    history_last: DayFitness,
    planned_loads: Mapping[date, float],
    end: date,
    *,
    history: Sequence[DayFitness] = (),
    ctl_days: int = CTL_DAYS,
    atl_days: int = ATL_DAYS,
) -> list[DayFitness]:
    """Continue the series from the day after `history_last.date` through `end` with planned loads.

    CTL/ATL continue exactly. The ramp rate of the first 6 projected days needs CTL from before
    `history_last`: it is looked up in `history` when given, otherwise interpolated linearly from
    ``history_last.ctl - history_last.ramp_rate`` (CTL a week before it) to ``history_last.ctl``.
    """
    known = {row.date: row.ctl for row in history}
    known[history_last.date] = history_last.ctl

    def ctl_before(day: date) -> float:
        if day in known:
            return known[day]
        days_back = (history_last.date - day).days
        return history_last.ctl - history_last.ramp_rate * days_back / RAMP_DAYS

    return _run(
        history_last.date + timedelta(days=1),
        end,
        planned_loads,
        history_last.ctl,
        history_last.atl,
        ctl_before,
        ctl_days,
        atl_days,
    )


def without_planned(
    day: DayFitness, planned: float, *, ctl_days: int = CTL_DAYS, atl_days: int = ATL_DAYS
) -> DayFitness:
    """`day` as done so far: Intervals.icu counts the load planned for today, and not done yet, in today's
    values. The day's update is linear in its load, so taking `planned` out lowers CTL by
    planned x (1 - e^(-1/ctl_days)), ATL by planned x (1 - e^(-1/atl_days)) and the ramp rate with CTL.
    (Exact for the default constants and a sport whose load counts fully on both lines.)"""
    if planned <= 0:
        return day
    ctl = day.ctl - planned * _decay(ctl_days)
    atl = day.atl - planned * _decay(atl_days)
    return DayFitness(day.date, max(day.load - planned, 0.0), ctl, atl, ctl - atl, day.ramp_rate - (day.ctl - ctl))


def weekly(rows: Sequence[DayFitness]) -> list[WeekFitness]:
    """Group daily rows into ISO weeks (Monday-Sunday), oldest first.

    Load is summed; CTL/ATL/form/ramp rate are those of the week's last row, so a complete week's ramp
    rate is the CTL change from the previous Sunday to this Sunday.
    """
    weeks: dict[date, list[DayFitness]] = {}
    for row in sorted(rows, key=lambda r: r.date):
        weeks.setdefault(row.date - timedelta(days=row.date.weekday()), []).append(row)
    result: list[WeekFitness] = []
    for monday, days in weeks.items():
        last = days[-1]
        total = math.fsum(d.load for d in days)
        result.append(WeekFitness(monday, len(days), total, last.ctl, last.atl, last.form, last.ramp_rate))
    return result


def form_zone(form: float, ctl: float, *, as_percent: bool = False) -> str:
    """Intervals' form zone for a form (TSB) value.

    Boundaries in form points: "transition" > +25, "fresh" +5..+25, "grey" -10..+5, "optimal"
    -30..-10, "high_risk" < -30. A value on a boundary belongs to the less extreme zone (+25 is fresh,
    +5 grey, -10 grey, -30 optimal). By default the boundaries are absolute points and `ctl` is not
    used; with ``as_percent=True`` form is first expressed as % of `ctl` (Intervals'
    "form as percent" option), falling back to points when ctl <= 0. Labels: FORM_ZONE_LABELS.
    """
    value = form / ctl * 100 if as_percent and ctl > 0 else form
    if value > 25:
        return "transition"
    if value > 5:
        return "fresh"
    if value >= -10:
        return "grey"
    if value >= -30:
        return "optimal"
    return "high_risk"
