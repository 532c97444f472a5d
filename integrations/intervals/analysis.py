"""Metrics computed from activity streams, so tools can answer questions without shipping raw streams.

Inputs are plain sequences as returned by Intervals.icu's ``/activity/{id}/streams`` (``time``, ``watts``,
``heartrate``, ``cadence``, ``velocity_smooth`` in m/s, ``distance`` in m, ``altitude``). ``None`` marks a
missing sample.

Time. Samples are placed by the ``time`` stream (elapsed seconds), not by their position: Intervals
serves one sample a second while recording, and the time stream jumps over a recording stop (the real
track ride of the corpus runs 2400-2459, 2765-2824, 2869-2928 s). Functions taking a `time` lay each
series on whole seconds (`stretches`): a sample counts until the next one, for at most `MAX_HOLD_S`; a
longer jump is a stop, and a rolling window never spans one. Without `time`, one sample is one second.

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
MAX_HOLD_S = 5  # a sample counts until the next one for at most this long; a longer jump is a recording stop
MIN_HR_SHARE = 0.5  # a best heart-rate window needs a heart rate in at least half of its seconds

Sample = float | None


@dataclass(frozen=True)
class BestEffort:
    """Best rolling effort.

    For time windows (`best_efforts`, `best_hr_efforts`) `value` is the highest mean of the series over
    `duration_s` seconds. For distances (`best_distance_efforts`) `value` is the fastest time in seconds
    and `duration_s` is that time rounded. `start_s` is the elapsed time (on the time stream) where the
    effort starts.
    """

    duration_s: int
    value: float
    start_s: float


@dataclass(frozen=True)
class Stretch:
    """Continuous recording on whole seconds: `values[i]` is the value at elapsed second `start_s + i`."""

    start_s: int
    values: tuple[Sample, ...]


def stretches(series: Sequence[Sample], time: Sequence[Sample] | None = None) -> list[Stretch]:
    """Lay `series` on the elapsed seconds of `time`, split at recording stops.

    Each sample holds until the next sample's time (a sample every 2 s counts 2 s), for at most
    `MAX_HOLD_S` seconds; a longer jump starts a new stretch. Samples with no time, or a time not after
    the previous one, are skipped. Without a time stream as long as the series, one sample is one second.
    """
    n = len(series)
    axis: Sequence[Sample] = time[:n] if time is not None and len(time) >= n else range(n)
    points: list[tuple[int, Sample]] = []
    for t, v in zip(axis, series, strict=True):
        if t is not None and (not points or round(float(t)) > points[-1][0]):
            points.append((round(float(t)), v))
    out: list[Stretch] = []
    start, values = 0, list[Sample]()
    for i, (t, v) in enumerate(points):
        if not values:
            start = t
        gap = points[i + 1][0] - t if i + 1 < len(points) else 1
        values += [v] * (gap if gap <= MAX_HOLD_S else 1)
        if gap > MAX_HOLD_S or i + 1 == len(points):
            out.append(Stretch(start, tuple(values)))
            values = []
    return out


def _seconds(series: Sequence[Sample], time: Sequence[Sample] | None) -> list[Sample]:
    """Every recorded second, stops left out: the series as a head unit's moving time sees it."""
    return [v for part in stretches(series, time) for v in part.values]


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


def normalized_power(watts: Sequence[Sample], time: Sequence[Sample] | None = None) -> float | None:
    """Normalised Power: 4th root of the mean 4th power of the 30-s rolling mean.

    Only full 30-s windows are used (the first is the mean of seconds 0..29) over the recorded seconds
    (stops left out). A series shorter than 30 s uses a single window spanning the whole series, i.e.
    NP = average power. ``None`` counts as 0 W. Returns ``None`` when there is no numeric sample at all.
    Works on any unit (watts, % of FTP...): `workouts.py` feeds it % of threshold.
    """
    if all(v is None for v in watts):
        return None
    filled = _zero_filled(_seconds(watts, time))
    means = rolling_means(filled, min(NP_WINDOW_S, len(filled)))
    return float((math.fsum(m**4 for m in means) / len(means)) ** 0.25)


def average_power(watts: Sequence[Sample], time: Sequence[Sample] | None = None) -> float | None:
    """Mean power over the recorded seconds (``None`` counted as 0 W); ``None`` without a numeric sample."""
    if all(v is None for v in watts):
        return None
    return _mean(_zero_filled(_seconds(watts, time)))


def average_hr(hr: Sequence[Sample], time: Sequence[Sample] | None = None) -> float | None:
    """Mean heart rate over the recorded seconds that have one (dropouts, 0 or ``None``, left out)."""
    return _mean(_positive(_seconds(hr, time)))


def hr_dropout_s(hr: Sequence[Sample], time: Sequence[Sample] | None = None) -> int:
    """Recorded seconds without a heart rate (the strap read 0 or nothing) while others have one."""
    seconds = _seconds(hr, time)
    valid = len(_positive(seconds))
    return len(seconds) - valid if valid else 0


def variability_index(watts: Sequence[Sample], time: Sequence[Sample] | None = None) -> float | None:
    """NP / average power (``None`` counted as 0 W in both). ``None`` if average power is 0."""
    np_w = normalized_power(watts, time)
    avg = average_power(watts, time)
    if np_w is None or not avg:
        return None
    return np_w / avg


def efficiency_factor(
    output: Sequence[Sample],
    hr: Sequence[Sample],
    *,
    kind: Literal["power", "speed"] = "power",
    time: Sequence[Sample] | None = None,
) -> float | None:
    """Efficiency Factor: output per heartbeat.

    * ``kind="power"`` (default): NP (W) / average HR (bpm).
    * ``kind="speed"`` (runs/swims without power, `output` = velocity_smooth in m/s): average moving
      speed in m/min (samples > 0 only, so stops do not count) / average HR.

    Average HR ignores ``None`` and zero samples. ``None`` when either side has no usable data.
    """
    avg_hr = average_hr(hr, time)
    if avg_hr is None:
        return None
    if kind == "speed":
        avg_speed = _mean(_positive(_seconds(output, time)))
        return None if avg_speed is None else avg_speed * 60.0 / avg_hr
    np_w = normalized_power(output, time)
    return None if np_w is None else np_w / avg_hr


def decoupling(output: Sequence[Sample], hr: Sequence[Sample], time: Sequence[Sample] | None = None) -> float | None:
    """Aerobic decoupling (Pw:HR or Pa:HR) in %: how much output per heartbeat fell in the second half.

    The two streams (paired by index, truncated to the shorter) are laid on the recorded seconds and
    split at the midpoint of that time; in each half only seconds where both output and HR are > 0 are
    used, and the efficiency is ``mean(output) / mean(HR)``. Result = ``(first - second) / first * 100``:
    positive means HR drifted up for the same output. Plain means (not NP) are used for power, as is
    common for steady aerobic sessions. ``None`` if a half has no usable pair.
    """
    n = min(len(output), len(hr))
    output, hr = _seconds(output[:n], time), _seconds(hr[:n], time)
    n = len(output)
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


def best_efforts(
    series: Sequence[Sample], durations_s: Sequence[int], time: Sequence[Sample] | None = None
) -> dict[int, BestEffort]:
    """Highest mean output over each duration of continuous recording (never across a stop), O(n) each.

    ``None`` counts as 0. Durations that are not positive or longer than every stretch are skipped; the
    earliest window wins ties. Empty when the series has no numeric sample.
    """
    if all(v is None for v in series):
        return {}
    return _best(stretches(series, time), durations_s, hr=False)


def best_hr_efforts(
    hr: Sequence[Sample], durations_s: Sequence[int], time: Sequence[Sample] | None = None
) -> dict[int, BestEffort]:
    """Highest mean heart rate over each duration of continuous recording, dropouts (0, ``None``) left out.

    A window counts only with a heart rate in at least `MIN_HR_SHARE` of its seconds, and its value is
    the mean of those; a window with less has no honest value.
    """
    return _best(stretches(hr, time), durations_s, hr=True)


def _best(parts: Sequence[Stretch], durations_s: Sequence[int], *, hr: bool) -> dict[int, BestEffort]:
    """Best windows within each stretch; for `hr` only values > 0 count, in enough of the window."""
    prepared = []
    for part in parts:
        valid = [v is not None and (v > 0 or not hr) for v in part.values]
        values = [float(v) if ok and v is not None else 0.0 for v, ok in zip(part.values, valid, strict=True)]
        prepared.append((part.start_s, [0.0, *accumulate(values)], [0, *accumulate(int(ok) for ok in valid)]))
    result: dict[int, BestEffort] = {}
    for duration in durations_s:
        need = max(1, math.ceil(MIN_HR_SHARE * duration)) if hr else 0
        best: BestEffort | None = None
        for start_s, total, count in prepared:
            width = len(total) - duration
            if duration <= 0 or width <= 0:
                continue
            # Window sums by subtracting the prefix sums pairwise in C (map): a day-long stream is hundreds of
            # thousands of windows per duration, too many for a Python loop on a worker's time budget.
            sums = list(map(operator.sub, total[duration:], total[:width]))
            if hr:
                counts = map(operator.sub, count[duration:], count[:width])
                means = [t / n if n >= need else -math.inf for t, n in zip(sums, counts, strict=True)]
            else:
                means = [t / duration for t in sums]
            top = max(means)
            if top == -math.inf:
                continue
            if best is None or top > best.value:  # the earliest window wins ties, within and across stretches
                best = BestEffort(duration_s=duration, value=top, start_s=start_s + means.index(top))
        if best is not None:
            result[duration] = best
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
    (GPS glitches). ``value`` = seconds, ``start_s`` = the (interpolated) time where the effort starts.
    Distances that are not positive or longer than the activity are skipped.
    """
    dist: list[float] = []
    times: list[float] = []
    for d, t in zip(distance_m_stream, time_stream, strict=False):
        if d is None or t is None:
            continue
        dist.append(max(float(d), dist[-1]) if dist else float(d))
        times.append(float(t))
    result: dict[float, BestEffort] = {}
    if len(dist) < 2:
        return result
    for target_d in distances_m:
        if target_d <= 0 or dist[-1] - dist[0] < target_d:
            continue
        best_time = math.inf
        best_start = 0.0
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
                best_time, best_start = elapsed, start_t
        result[target_d] = BestEffort(duration_s=round(best_time), value=best_time, start_s=best_start)
    return result


def time_in_zones(
    series: Sequence[Sample], upper_bounds: Sequence[float], time: Sequence[Sample] | None = None
) -> tuple[int, ...]:
    """Recorded seconds in each zone; one zone per bound.

    Bounds are ascending, absolute and inclusive upper limits (a value equal to a bound is in that
    zone, as in Intervals' "Z2 56-75%"). The last zone is open-ended: values above the last bound
    count there. ``None`` samples are skipped. Empty tuple when there are no bounds.
    """
    if not upper_bounds:
        return ()
    counts = [0] * len(upper_bounds)
    last = len(upper_bounds) - 1
    for v in _seconds(series, time):
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
