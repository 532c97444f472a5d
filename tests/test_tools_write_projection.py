"""The load-aware part of the write tools, without HTTP: adding a workout to a day of the fitness model."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from integrations.intervals import load
from mcpserver.tools.writes_common import _run_to, _shift

DAY = date(2026, 11, 24)
BASE = load.DayFitness(DAY, 0.0, 52.0, 61.0, -9.0, 3.0)


def test_it_adds_load_to_the_anchor_day_like_the_model_would() -> None:
    yesterday = load.DayFitness(DAY - timedelta(days=1), 0.0, 50.0, 58.0, -8.0, 2.5)
    easy = load.project(yesterday, {DAY: 30.0}, DAY)[-1]
    hard = load.project(yesterday, {DAY: 100.0}, DAY)[-1]
    shifted = _shift(easy, 70.0)
    assert shifted.ctl == pytest.approx(hard.ctl)
    assert shifted.atl == pytest.approx(hard.atl)
    assert shifted.form == pytest.approx(hard.form)
    assert _shift(shifted, -70.0).ctl == pytest.approx(easy.ctl)


def test_it_projects_through_planned_days_to_the_workout_day() -> None:
    later = DAY + timedelta(days=3)
    loads = {DAY + timedelta(days=1): 60.0, later: 90.0}
    assert _run_to(BASE, loads, later) == load.project(BASE, loads, later)[-1]
    assert _run_to(BASE, {}, DAY) == _shift(BASE, 0.0)
    today_workout = _run_to(BASE, {DAY: 80.0}, DAY)
    assert today_workout.ctl > BASE.ctl and today_workout.form < BASE.form
