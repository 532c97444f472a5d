"""Metrics computed from activity streams, so tools can answer questions without shipping raw streams.

Inputs are plain sequences as returned by Intervals.icu's ``/activity/{id}/streams`` (``time``, ``watts``,
``heartrate``, ``cadence``, ``velocity_smooth`` in m/s, ``distance`` in m, ``altitude``). Streams are
1 Hz: one sample is one second. ``None`` marks a recording gap.

Conventions shared by every function here:

* Power-like "output" series (watts) treat ``None`` as 0: a gap or coasting records no work, which is
  also how head units and Intervals average power. Heart rate ignores ``None`` and zero samples
  (a strap dropout is not a heart rate of 0).
* Functions return ``None`` instead of raising when the input holds no usable data.

This module is pure (stdlib only) and is also used by ``workouts.py`` for planned-workout load, so
Normalised Power and zone binning have exactly one implementation.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Literal

NP_WINDOW_S = 30  # rolling window of Normalised Power (Coggan), seconds

Sample = float | None


@dataclass(frozen=True)
class BestEffort:
    """Best rolling effort.

    For time windows (`best_efforts`) `value` is the highest mean of the series over `duration_s`
    samples. For distances (`best_distance_efforts`) `value` is the fastest time in seconds and
    `duration_s` is that time rounded. `start_index` is the index in the input stream where the effort
    starts.
    """

    duration_s: int
    value: float
    start_index: int


def _zero_filled(series: Sequence[Sample]) -> list[float]:
    return [0.0 if v is None else float(v) for v in series]


def _positive(series: Sequence[Sample]) -> list[float]:
    return [float(v) for v in series if v is not None and v > 0]


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def rolling_means(values: Sequence[float], window: int) -> list[float]:
    """Mean of every full window of `window` consecutive values (``len - window + 1`` results).

    Empty when the series is shorter than the window or the window is not positive.
    """
    n = len(values)
    if window <= 0 or n < window:
        return []
    prefix = [0.0, *accumulate(values)]
    return [(prefix[i + window] - prefix[i]) / window for i in range(n - window + 1)]


def normalized_power(watts: Sequence[Sample]) -> float | None:
    """Normalised Power: 4th root of the mean 4th power of the 30-s rolling mean.

    Only full 30-s windows are used (the first is the mean of samples 0..29). A series shorter than
    30 s uses a single window spanning the whole series, i.e. NP = average power. ``None`` counts
    as 0 W. Returns ``None`` when there is no numeric sample at all. Works on any unit (watts, % of
    FTP...): `workouts.py` feeds it % of threshold.
    """
    if all(v is None for v in watts):
        return None
    filled = _zero_filled(watts)
    means = rolling_means(filled, min(NP_WINDOW_S, len(filled)))
    return float((math.fsum(m**4 for m in means) / len(means)) ** 0.25)


def variability_index(watts: Sequence[Sample]) -> float | None:
    """NP / average power (``None`` counted as 0 W in both). ``None`` if average power is 0."""
    np_w = normalized_power(watts)
    avg = _mean(_zero_filled(watts))
    if np_w is None or not avg:
        return None
    return np_w / avg


def efficiency_factor(
    output: Sequence[Sample],
    hr: Sequence[Sample],
    *,
    kind: Literal["power", "speed"] = "power",
) -> float | None:
    """Efficiency Factor: output per heartbeat.

    * ``kind="power"`` (default): NP (W) / average HR (bpm).
    * ``kind="speed"`` (runs/swims without power, `output` = velocity_smooth in m/s): average moving
      speed in m/min (samples > 0 only, so stops do not count) / average HR.

    Average HR ignores ``None`` and zero samples. ``None`` when either side has no usable data.
    """
    avg_hr = _mean(_positive(hr))
    if avg_hr is None:
        return None
    if kind == "speed":
        avg_speed = _mean(_positive(output))
        return None if avg_speed is None else avg_speed * 60.0 / avg_hr
    np_w = normalized_power(output)
    return None if np_w is None else np_w / avg_hr


def decoupling(output: Sequence[Sample], hr: Sequence[Sample]) -> float | None:
    """Aerobic decoupling (Pw:HR or Pa:HR) in %: how much output per heartbeat fell in the second half.

    The samples (paired by index, truncated to the shorter stream) are split at the time midpoint;
    in each half only samples where both output and HR are > 0 are used, and the efficiency is
    ``mean(output) / mean(HR)``. Result = ``(first - second) / first * 100``: positive means HR
    drifted up for the same output. Plain means (not NP) are used for power, as is common for
    steady aerobic sessions. ``None`` if a half has no usable pair.
    """
    n = min(len(output), len(hr))
    half = n // 2

    def efficiency(lo: int, hi: int) -> float | None:
        pairs = [
            (float(o), float(h))
            for o, h in zip(output[lo:hi], hr[lo:hi], strict=True)
            if o is not None and h is not None and o > 0 and h > 0
        ]
        if not pairs:
            return None
        return math.fsum(o for o, _ in pairs) / math.fsum(h for _, h in pairs)

    first, second = efficiency(0, half), efficiency(half, n)
    if first is None or second is None:
        return None
    return (first - second) / first * 100.0


def best_efforts(series: Sequence[Sample], durations_s: Sequence[int]) -> dict[int, BestEffort]:
    """Highest rolling mean for each window length (samples = seconds), O(n) per duration.

    ``None`` counts as 0. Durations that are not positive or longer than the series are skipped; the
    earliest window wins ties. Empty when the series has no numeric sample.
    """
    if all(v is None for v in series):
        return {}
    prefix = [0.0, *accumulate(_zero_filled(series))]
    n = len(series)
    result: dict[int, BestEffort] = {}
    for duration in durations_s:
        if duration <= 0 or duration > n:
            continue
        # Window sums by subtracting the prefix sums pairwise in C (map), then the first maximum: the same
        # answer as a Python loop over the windows at a fraction of its time on a long (upstream) stream.
        totals = list(map(operator.sub, prefix[duration:], prefix[: n - duration + 1]))
        best_total = max(totals)
        best_i = totals.index(best_total)
        result[duration] = BestEffort(duration_s=duration, value=best_total / duration, start_index=best_i)
    return result


def best_distance_efforts(
    distance_m_stream: Sequence[Sample],
    time_stream: Sequence[Sample],
    distances_m: Sequence[float],
) -> dict[float, BestEffort]:
    """Fastest time to cover each distance, with linear interpolation between samples.

    For every end sample the start point is where the cumulative distance was exactly ``end - D``,
    interpolated in time between its two neighbouring samples, so efforts are not quantised to whole
    samples. Samples where either stream is ``None`` are dropped; distance is forced non-decreasing
    (GPS glitches). ``value`` = seconds, ``start_index`` = index in the input of the last sample at or
    before the start point. Distances that are not positive or longer than the activity are skipped.
    """
    idx: list[int] = []
    dist: list[float] = []
    times: list[float] = []
    for i, (d, t) in enumerate(zip(distance_m_stream, time_stream, strict=False)):
        if d is None or t is None:
            continue
        idx.append(i)
        dist.append(max(float(d), dist[-1]) if dist else float(d))
        times.append(float(t))
    result: dict[float, BestEffort] = {}
    if len(dist) < 2:
        return result
    for target_d in distances_m:
        if target_d <= 0 or dist[-1] - dist[0] < target_d:
            continue
        best_time = math.inf
        best_start = 0
        i = 0
        for j in range(1, len(dist)):
            start_d = dist[j] - target_d
            if start_d < dist[0]:
                continue
            # Largest i with dist[i] <= start_d; start_d only grows with j, so i only moves forward.
            while i + 1 < j and dist[i + 1] <= start_d:
                i += 1
            span = dist[i + 1] - dist[i]
            start_t = times[i] + (start_d - dist[i]) / span * (times[i + 1] - times[i]) if span else times[i]
            elapsed = times[j] - start_t
            if elapsed < best_time:
                best_time, best_start = elapsed, idx[i]
        result[target_d] = BestEffort(duration_s=round(best_time), value=best_time, start_index=best_start)
    return result


def time_in_zones(series: Sequence[Sample], upper_bounds: Sequence[float]) -> tuple[int, ...]:
    """Seconds (samples) in each zone; one zone per bound.

    Bounds are ascending, absolute and inclusive upper limits (a value equal to a bound is in that
    zone, as in Intervals' "Z2 56-75%"). The last zone is open-ended: values above the last bound
    count there. ``None`` samples are skipped. Empty tuple when there are no bounds.
    """
    if not upper_bounds:
        return ()
    counts = [0] * len(upper_bounds)
    last = len(upper_bounds) - 1
    for v in series:
        if v is not None:
            counts[min(bisect.bisect_left(upper_bounds, v), last)] += 1
    return tuple(counts)


def _buckets(n: int, max_points: int) -> list[tuple[int, int]]:
    """Split range(n) into at most max_points contiguous, non-empty, near-equal buckets."""
    if max_points <= 0 or n == 0:
        return []
    k = min(n, max_points)
    return [(i * n // k, (i + 1) * n // k) for i in range(k)]


def _bucket_mean(values: Sequence[Sample]) -> float | None:
    return _mean([float(v) for v in values if v is not None])


def downsample(series: Sequence[Sample], max_points: int) -> list[float | None]:
    """Reduce a series to at most `max_points` values by averaging contiguous buckets.

    Bucket means ignore ``None``; a bucket with no numeric sample yields ``None``, so gaps stay visible.
    A series already short enough is returned unchanged (as a new list). ``max_points <= 0`` → ``[]``.
    """
    return [_bucket_mean(series[lo:hi]) for lo, hi in _buckets(len(series), max_points)]


def downsample_profile(
    time: Sequence[Sample],
    columns: Mapping[str, Sequence[Sample]],
    max_points: int,
) -> list[dict[str, float | None]]:
    """Downsample several streams onto the same buckets and return aligned rows.

    Each row is ``{"time": <first time in the bucket>, <column>: <bucket mean>, ...}``. The buckets are
    defined on `time`; columns shorter than `time` are padded with ``None`` and longer ones truncated.
    """
    n = len(time)
    padded = {name: [*values[:n], *([None] * (n - len(values)))] for name, values in columns.items()}
    rows: list[dict[str, float | None]] = []
    for lo, hi in _buckets(n, max_points):
        first_time = next((float(t) for t in time[lo:hi] if t is not None), None)
        row: dict[str, float | None] = {"time": first_time}
        for name, values in padded.items():
            if name != "time":
                row[name] = _bucket_mean(values[lo:hi])
        rows.append(row)
    return rows
