"""Adapters to the pure product modules ``integrations.intervals.workouts`` and ``.load``.

The sandbox never parses workout text or computes CTL itself: it delegates to those modules, which are
imported lazily so the sandbox still starts (with reduced fidelity) if they are missing.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"integrations.intervals.{name}")
    except ImportError:
        return None


def workouts_available() -> bool:
    return _module("workouts") is not None


@dataclass
class Metrics:
    moving_time: int | None
    distance: float | None
    load: int | None
    intensity: float | None
    target: str | None
    workout_doc: dict[str, Any] | None
    joules: int | None = None


_THRESHOLD_KEYS = ("ftp", "lthr", "max_hr", "threshold_pace", "power_zones", "hr_zones", "pace_zones")


def workout_metrics(
    text: str | None, sport: str | None, settings: Mapping[str, Any] | None, with_doc: bool = True
) -> Metrics | None:
    """Parse Intervals workout text with workouts.py; None if unparseable / no steps / module missing.

    ``with_doc=False`` skips building ``workout_doc`` (enough for fitness projections).
    """
    if not text or not text.strip():
        return None
    s = settings or {}
    key = tuple(tuple(v) if isinstance(v, list) else v for v in (s.get(k) for k in _THRESHOLD_KEYS))
    m = _cached_metrics(text, sport or "Ride", key)
    if m is None:
        return None
    m = copy.deepcopy(m)
    if with_doc:
        m.workout_doc = copy.deepcopy(_cached_doc(text, sport or "Ride", key))
    return m


def _thresholds(mod: ModuleType, key: tuple[Any, ...]) -> Any:
    ftp, lthr, max_hr, pace, pz, hz, paz = key
    return mod.Thresholds(
        ftp=ftp,
        lthr=lthr,
        max_hr=max_hr,
        threshold_pace=pace,
        power_zones=tuple(pz or ()),
        hr_zones=tuple(hz or ()),
        pace_zones=tuple(paz or ()),
    )


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Any:
    mod = _module("workouts")
    if mod is None:
        return None
    try:
        return mod.parse_workout(text)
    except Exception:  # unparseable text saves without structure, like upstream
        return None


@functools.lru_cache(maxsize=4096)
def _cached_doc(text: str, sport: str, key: tuple[Any, ...]) -> dict[str, Any] | None:
    mod = _module("workouts")
    workout = _parse(text)
    if mod is None or workout is None:
        return None
    try:
        doc = mod.workout_doc(workout, _thresholds(mod, key), sport=sport)
    except Exception:  # a doc we cannot build is simply absent
        return None
    return doc if isinstance(doc, dict) else None


@functools.lru_cache(maxsize=4096)
def _cached_metrics(text: str, sport: str, key: tuple[Any, ...]) -> Metrics | None:
    mod = _module("workouts")
    workout = _parse(text)
    if mod is None or workout is None:
        return None
    try:
        m = mod.workout_metrics(workout, sport, _thresholds(mod, key))
    except Exception:  # unparseable text saves without structure, like upstream
        return None
    if not getattr(m, "step_count", 1):
        return None
    np_w = getattr(m, "normalized_power_w", None)
    moving = round(m.moving_time_s) if m.moving_time_s is not None else None
    joules = round(np_w * moving) if np_w and moving else None
    return Metrics(
        moving_time=moving,
        distance=round(float(m.distance_m), 1) if m.distance_m else None,
        load=round(m.load) if m.load is not None else None,
        intensity=round(float(m.intensity), 2) if m.intensity is not None else None,
        target={"NONE": "AUTO"}.get(str(m.target), str(m.target)) if getattr(m, "target", None) else None,
        workout_doc=None,
        joules=joules,
    )


@dataclass
class Fitness:
    load: float
    ctl: float
    atl: float
    ramp_rate: float | None


def fitness_series(daily_loads: Mapping[dt.date, float], start: dt.date, end: dt.date) -> dict[dt.date, Fitness]:
    mod = _module("load")
    if mod is None:
        return {}
    out: dict[dt.date, Fitness] = {}
    for row in mod.fitness_series(daily_loads, start, end):
        out[row.date] = Fitness(load=row.load, ctl=row.ctl, atl=row.atl, ramp_rate=row.ramp_rate)
    return out
