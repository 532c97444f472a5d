"""Deterministic 'physics' of a generated activity: summary metrics, intervals, streams and curves.

Everything is derived from a list of :class:`~.plans.Segment` (fractions of FTP for power sports or of
threshold speed for pace sports), so summaries, laps, streams and best-effort curves agree with each other.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any

from .plans import Segment

POWER_SPORTS = ("Ride", "VirtualRide", "GravelRide", "MountainBikeRide")
PACE_SPORTS = ("Run", "TrailRun", "VirtualRun", "Swim", "OpenWaterSwim")
CURVE_SECS = [
    1,
    2,
    3,
    5,
    8,
    10,
    15,
    20,
    30,
    45,
    60,
    90,
    120,
    180,
    240,
    300,
    360,
    480,
    600,
    720,
    900,
    1200,
    1800,
    2400,
    3600,
    5400,
    7200,
    10800,
    14400,
]
RUN_DISTANCES = [400.0, 800.0, 1000.0, 1609.34, 3000.0, 5000.0, 10000.0, 15000.0, 21097.5, 30000.0, 42195.0]
SWIM_DISTANCES = [50.0, 100.0, 200.0, 400.0, 750.0, 1000.0, 1500.0, 1900.0, 3800.0]


@dataclass
class ActCtx:
    """Everything needed to synthesise an activity."""

    key: str  # RNG key (stable per activity)
    sport: str
    segments: list[Segment]
    indoor: bool
    ftp: int | None
    thr_speed: float | None
    rest_hr: int
    lthr: int
    max_hr: int
    weight: float
    lat: float
    lng: float
    has_hr: bool = True
    _cum: list[float] = field(default_factory=list, repr=False)

    @property
    def power(self) -> bool:
        return self.sport in POWER_SPORTS and bool(self.ftp)

    @property
    def swim(self) -> bool:
        return self.sport in ("Swim", "OpenWaterSwim")

    @property
    def duration(self) -> int:
        return sum(s.secs for s in self.segments)

    # --- per-fraction conversions ---------------------------------------------------------------
    def watts(self, frac: float) -> float:
        return frac * (self.ftp or 0)

    def speed(self, frac: float) -> float:
        if self.sport in POWER_SPORTS:
            p = max(frac * (self.ftp or 200), 40.0)
            base = 8.3 if not self.indoor else 8.6
            return base * (p / 200.0) ** (1 / 3) * (62.0 / max(self.weight, 45.0)) ** 0.15
        return frac * (self.thr_speed or 3.0)

    def hr_steady(self, frac: float) -> float:
        hrr = min(max(0.30 + 0.64 * frac, 0.28), 1.09)
        return min(self.rest_hr + (self.lthr - self.rest_hr) * hrr, self.max_hr - 2)

    def cadence(self, frac: float) -> float:
        if self.sport in POWER_SPORTS:
            return 78 + 14 * min(frac, 1.3)
        if self.swim:
            return 26 + 8 * frac
        return 160 + 16 * frac

    def seg_mean(self, seg: Segment, fn: Any, power: int = 1) -> float:
        """Mean of fn(frac)**power over a (possibly ramped) segment."""
        if seg.start == seg.end:
            return float(fn(seg.start) ** power)
        n = 8
        return sum(fn(seg.start + (seg.end - seg.start) * (i + 0.5) / n) ** power for i in range(n)) / n


def _gauss_series(rng: random.Random, n: int, sigma: float, smooth: float) -> list[float]:
    out = []
    x = 0.0
    for _ in range(n):
        x = x * smooth + rng.gauss(0, sigma) * (1 - smooth)
        out.append(x)
    return out


def altitude_fn(ctx: ActCtx) -> Any:
    rng = random.Random(ctx.key + ":terrain")
    base = rng.uniform(5, 60) if ctx.lat > 45 or ctx.lat < -30 else rng.uniform(1600, 1700)
    a1, l1 = rng.uniform(8, 35), rng.uniform(4000, 12000)
    a2, l2 = rng.uniform(1, 5), rng.uniform(600, 1500)
    base = max(base, a1 + a2 + 3)
    ph = rng.uniform(0, 6.28)

    def alt(d: float) -> float:
        return base + a1 * math.sin(2 * math.pi * d / l1 + ph) + a2 * math.sin(2 * math.pi * d / l2)

    return alt


def _sustained(segs: list[Segment]) -> list[Segment]:
    """Segments long enough for HR to respond (short surges are ignored for HR maths)."""
    out = [s for s in segs if s.label != "surge"]
    return out or segs


def _rolled(segs: list[Segment]) -> list[Segment]:
    """Approximate NP's 30 s rolling average: sub-30 s surges are spread over 30 s."""
    out: list[Segment] = []
    for i, s in enumerate(segs):
        if s.secs < 30 and s.label == "surge" and i > 0:
            base = segs[i - 1].end
            v = (s.secs * s.mean + (30 - s.secs) * base) / 30
            out.append(Segment(s.secs, v, v, s.kind))
        else:
            out.append(s)
    return out


def summarize(
    ctx: ActCtx, rng: random.Random, hr_zones: list[int], power_zones: list[int], pace_zones: list[float] | None
) -> dict[str, Any]:
    """Summary metrics of the Activity schema for the segments (analytic, matches the streams)."""
    T = ctx.duration
    out: dict[str, Any] = {}
    dist = sum(s.secs * ctx.seg_mean(s, ctx.speed) for s in ctx.segments)
    hr_avg = sum(s.secs * ctx.seg_mean(s, ctx.hr_steady) for s in ctx.segments) / T * (1 + 0.012 * T / 3600)
    hr_max = max(ctx.hr_steady(max(s.start, s.end)) for s in _sustained(ctx.segments)) + rng.uniform(2, 6)
    out["moving_time"] = T
    out["elapsed_time"] = T + (int(T * rng.uniform(0.01, 0.07)) if not ctx.indoor else rng.randint(0, 30))
    out["icu_recording_time"] = out["elapsed_time"]
    out["distance"] = round(dist, 1)
    out["icu_distance"] = round(dist, 1)
    out["average_speed"] = round(dist / T, 3)
    out["max_speed"] = round(max(ctx.speed(max(s.start, s.end)) for s in ctx.segments) * 1.12, 3)
    out["average_cadence"] = round(sum(s.secs * ctx.seg_mean(s, ctx.cadence) for s in ctx.segments) / T, 1)
    if not ctx.indoor and not ctx.swim:
        alt = altitude_fn(ctx)
        pts = [alt(d) for d in range(0, int(dist) + 1, 100)]
        gain = sum(max(0.0, b - a) for a, b in itertools.pairwise(pts))
        loss = sum(max(0.0, a - b) for a, b in itertools.pairwise(pts))
        out["total_elevation_gain"] = round(gain, 1)
        out["total_elevation_loss"] = round(loss, 1)
        out["average_altitude"] = round(sum(pts) / len(pts), 1)
        out["min_altitude"] = round(min(pts), 1)
        out["max_altitude"] = round(max(pts), 1)
    else:
        out["total_elevation_gain"] = 0.0
    out["has_heartrate"] = ctx.has_hr
    if ctx.has_hr:
        out["average_heartrate"] = round(hr_avg)
        out["max_heartrate"] = round(hr_max)
        out["athlete_max_hr"] = ctx.max_hr
        out["lthr"] = ctx.lthr
        out["icu_resting_hr"] = ctx.rest_hr
        hrr = (hr_avg - ctx.rest_hr) / max(1, ctx.max_hr - ctx.rest_hr)
        k, b = (0.64, 1.92)
        out["trimp"] = round(T / 60 * hrr * k * math.exp(b * hrr), 2)
        hz = [0] * len(hr_zones)
        for s in _sustained(ctx.segments):
            h = ctx.hr_steady(s.mean)
            i = bisect.bisect_left(hr_zones, h)
            hz[min(i, len(hz) - 1)] += s.secs
        out["icu_hr_zone_times"] = hz
        out["icu_hr_zones"] = hr_zones
    if ctx.power:
        ftp = ctx.ftp or 1
        avg = sum(s.secs * ctx.seg_mean(s, ctx.watts) for s in ctx.segments) / T
        np4 = sum(s.secs * ctx.seg_mean(s, ctx.watts, 4) for s in _rolled(ctx.segments)) / T
        np_ = np4**0.25
        if not ctx.indoor:
            avg *= 0.955
            np_ *= 1.012
        intensity = np_ / ftp
        load = T / 3600 * intensity**2 * 100
        out.update(
            {
                "icu_average_watts": round(avg),
                "icu_weighted_avg_watts": round(np_),
                "icu_ftp": ftp,
                "icu_intensity": round(intensity * 100, 2),
                "icu_variability_index": round(np_ / avg, 3),
                "icu_joules": round(avg * T),
                "icu_joules_above_ftp": round(
                    sum(s.secs * max(0.0, ctx.seg_mean(s, ctx.watts) - ftp) for s in ctx.segments)
                ),
                "power_load": round(load),
                "device_watts": True,
                "icu_power_zones": power_zones,
                "icu_sweet_spot_min": 84,
                "icu_sweet_spot_max": 97,
                "power_field": "watts",
                "calories": round(avg * T / 1000 * 1.05),
                "icu_pm_ftp": round(ftp * rng.uniform(0.97, 1.04)),
                "icu_rolling_ftp": ftp,
            }
        )
        zt: dict[str, int] = {f"Z{i + 1}": 0 for i in range(len(power_zones))}
        ss = 0
        for s in ctx.segments:
            for i in range(8):
                pct = 100 * (s.start + (s.end - s.start) * (i + 0.5) / 8)
                zi = bisect.bisect_left(power_zones, pct)
                zt[f"Z{min(zi, len(power_zones) - 1) + 1}"] += s.secs // 8
                if 84 <= pct <= 97:
                    ss += s.secs // 8
        out["icu_zone_times"] = [{"id": k, "secs": v} for k, v in zt.items()] + [{"id": "SS", "secs": ss}]
        if ctx.has_hr:
            out["icu_efficiency_factor"] = round(np_ / hr_avg, 3)
            out["icu_power_hr"] = round(avg / hr_avg, 3)
            out["hr_load"] = round(load * rng.uniform(0.88, 1.08))
            out["hr_load_type"] = "HR_ZONES"
        out["icu_training_load"] = out["power_load"]
    else:
        thr = ctx.thr_speed or 3.0
        ngp = (sum(s.secs * ctx.seg_mean(s, ctx.speed, 4) for s in _rolled(ctx.segments)) / T) ** 0.25
        intensity = ngp / thr
        load = T / 3600 * intensity**2 * 100
        out["pace_load"] = round(load)
        out["pace_load_type"] = "SWIM" if ctx.swim else "RUN"
        out["threshold_pace"] = thr
        out["pace"] = round(dist / T, 3)
        out["gap"] = round(dist / T * 1.01, 3) if not ctx.swim else None
        out["icu_intensity"] = round(intensity * 100, 2)
        if pace_zones:
            pz = [0] * len(pace_zones)
            for s in ctx.segments:
                i = bisect.bisect_left(pace_zones, s.mean * 100)
                pz[min(i, len(pz) - 1)] += s.secs
            out["pace_zone_times"] = pz
            out["pace_zones"] = pace_zones
        if ctx.has_hr:
            out["hr_load"] = round(load * rng.uniform(0.9, 1.1))
            out["hr_load_type"] = "HR_ZONES"
            out["icu_training_load"] = out["hr_load"]
        else:
            out["icu_training_load"] = out["pace_load"]
        out["calories"] = round(dist / 1000 * ctx.weight * (1.0 if not ctx.swim else 2.6))
        if ctx.swim:
            out["pool_length"] = 25.0
            out["lengths"] = int(dist // 25)
    if ctx.has_hr and T > 3000:
        out["decoupling"] = round(rng.uniform(-1.0, 6.5), 2)
    return {k: v for k, v in out.items() if v is not None}


def _seg_bounds(ctx: ActCtx) -> list[int]:
    b = [0]
    for s in ctx.segments:
        b.append(b[-1] + s.secs)
    return b


def intervals(ctx: ActCtx, rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One interval per segment (merging consecutive non-work segments), plus groups of similar work."""
    bounds = _seg_bounds(ctx)
    raw: list[tuple[int, int, list[Segment], str]] = []
    for i, s in enumerate(ctx.segments):
        is_work = s.kind == "work" or (s.kind == "steady" and s.mean >= 0.8) or s.label == "surge"
        kind = "WORK" if is_work else "RECOVERY"
        if raw and kind == "RECOVERY" and raw[-1][3] == "RECOVERY":
            st, _, segs, _ = raw[-1]
            raw[-1] = (st, bounds[i + 1], [*segs, s], kind)
        else:
            raw.append((bounds[i], bounds[i + 1], [s], kind))
    out: list[dict[str, Any]] = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for n, (st, en, segs, kind) in enumerate(raw, start=1):
        secs = en - st
        dist = sum(s.secs * ctx.seg_mean(s, ctx.speed) for s in segs)
        iv: dict[str, Any] = {
            "id": n,
            "type": kind,
            "start_index": st,
            "end_index": en - 1,
            "start_time": st,
            "end_time": en,
            "moving_time": secs,
            "elapsed_time": secs,
            "distance": round(dist, 1),
            "average_speed": round(dist / secs, 3),
            "max_speed": round(dist / secs * rng.uniform(1.05, 1.2), 3),
            "average_cadence": round(sum(s.secs * ctx.seg_mean(s, ctx.cadence) for s in segs) / secs, 1),
            "label": None,
        }
        frac = sum(s.secs * s.mean for s in segs) / secs
        if ctx.has_hr:
            hr = sum(s.secs * ctx.seg_mean(s, ctx.hr_steady) for s in segs) / secs
            lag = 0.97 if secs < 300 and kind == "WORK" else 1.0
            iv["average_heartrate"] = round(hr * lag)
            iv["max_heartrate"] = round(max(ctx.hr_steady(max(s.start, s.end)) for s in segs))
            iv["min_heartrate"] = round(min(ctx.hr_steady(min(s.start, s.end)) for s in segs) * 0.97)
        if ctx.power:
            ftp = ctx.ftp or 1
            avg = sum(s.secs * ctx.seg_mean(s, ctx.watts) for s in segs) / secs
            np_ = (sum(s.secs * ctx.seg_mean(s, ctx.watts, 4) for s in segs) / secs) ** 0.25
            iv.update(
                {
                    "average_watts": round(avg),
                    "weighted_average_watts": round(np_),
                    "max_watts": round(max(ctx.watts(max(s.start, s.end)) for s in segs) * rng.uniform(1.1, 1.3)),
                    "min_watts": 0 if not ctx.indoor else round(avg * 0.8),
                    "average_watts_kg": round(avg / ctx.weight, 2),
                    "intensity": round(np_ / ftp * 100),
                    "training_load": round(secs / 3600 * (np_ / ftp) ** 2 * 100, 1),
                    "joules": round(avg * secs),
                    "joules_above_ftp": round(max(0.0, avg - ftp) * secs),
                    "zone": min(7, bisect.bisect_left([55, 75, 90, 105, 120, 150, 999], frac * 100) + 1),
                }
            )
        else:
            iv["intensity"] = round(frac * 100)
            if ctx.thr_speed:
                iv["gap"] = round(dist / secs, 3)
        if kind == "WORK":
            key = segs[0].group or f"{round(frac * 20)}:{round(secs / 60)}"
            if segs[0].label == "surge":
                key = "surge"
            iv["group_id"] = key
            groups.setdefault(key, []).append(iv)
        out.append({k: v for k, v in iv.items() if v is not None})
    gl: list[dict[str, Any]] = []
    for key, ivs in groups.items():
        if len(ivs) < 2:
            continue
        secs = sum(i["moving_time"] for i in ivs)
        g: dict[str, Any] = {
            "id": key,
            "count": len(ivs),
            "start_index": ivs[0]["start_index"],
            "moving_time": secs,
            "elapsed_time": secs,
            "distance": round(sum(i["distance"] for i in ivs), 1),
        }
        for f in (
            "average_watts",
            "weighted_average_watts",
            "average_heartrate",
            "intensity",
            "average_cadence",
            "average_speed",
        ):
            if f in ivs[0]:
                val = sum(i[f] * i["moving_time"] for i in ivs) / secs
                g[f] = round(val, 3) if isinstance(ivs[0][f], float) else round(val)
        gl.append(g)
    for iv in out:
        if iv.get("group_id") and not any(g["id"] == iv["group_id"] for g in gl):
            iv.pop("group_id")
    return out, gl


def streams(ctx: ActCtx) -> dict[str, tuple[list[Any], list[Any] | None]]:
    """1 Hz streams with realistic shape: noise, coasting, HR lag and drift, terrain, GPS track."""
    rng = random.Random(ctx.key + ":streams")
    n = ctx.duration
    fracs: list[float] = []
    for s in ctx.segments:
        fracs.extend(s.value_at(t) for t in range(s.secs))
    out: dict[str, tuple[list[Any], list[Any] | None]] = {"time": (list(range(n)), None)}
    noise = _gauss_series(rng, n, 0.22 if not ctx.indoor else 0.08, 0.6)
    watts: list[int] = []
    speed: list[float] = []
    cad: list[int] = []
    for i, f in enumerate(fracs):
        nz = noise[i]
        coast = (not ctx.indoor) and ctx.power and f < 0.95 and (i * 7919 + len(ctx.key)) % 97 < 4
        if ctx.power:
            w = 0 if coast else max(0.0, ctx.watts(f) * (1 + nz * 0.5))
            watts.append(round(w))
        sp = ctx.speed(f) * (1 + nz * 0.08)
        speed.append(round(max(sp, 0.5), 3))
        c = 0 if coast else ctx.cadence(f) + nz * 4
        cad.append(round(c))
    if ctx.power:
        out["watts"] = (watts, None)
    out["cadence"] = (cad, None)
    out["velocity_smooth"] = (speed, None)
    dist: list[float] = []
    acc = 0.0
    for v in speed:
        acc += v
        dist.append(round(acc, 1))
    out["distance"] = (dist, None)
    if ctx.has_hr:
        hr: list[int] = []
        h = float(ctx.rest_hr + 25)
        for i, f in enumerate(fracs):
            target = ctx.hr_steady(f) * (1 + 0.012 * i / 3600)
            h += (target - h) / (22.0 if target > h else 38.0)
            hr.append(round(h + noise[i] * 1.5))
        out["heartrate"] = (hr, None)
    if not ctx.indoor and not ctx.swim:
        alt = altitude_fn(ctx)
        out["altitude"] = ([round(alt(d), 1) for d in dist], None)
        loop = 20000.0 if ctx.power else 8000.0
        r_lat = loop / (2 * math.pi) / 111_320
        r_lng = r_lat / max(0.2, math.cos(math.radians(ctx.lat)))
        lats: list[float] = []
        lngs: list[float] = []
        for d in dist:
            th = 2 * math.pi * d / loop
            lats.append(round(ctx.lat + r_lat * math.sin(th) + 0.0004 * math.sin(7 * th), 6))
            lngs.append(round(ctx.lng + r_lng * (1 - math.cos(th)), 6))
        out["latlng"] = (lats, lngs)
        out["grade_smooth"] = (
            [0.0]
            + [
                round((out["altitude"][0][i] - out["altitude"][0][i - 1]) / max(0.5, speed[i]) * 100, 1)
                for i in range(1, n)
            ],
            None,
        )
    return out


# --- best-effort curves (analytic over the segment profile) ---------------------------------------------
def _max_window(
    bounds: list[float], vals: list[float], width: float, maximise: bool = True
) -> tuple[float, float] | None:
    """Best mean of a piecewise-constant profile over a window of ``width``; returns (mean, start)."""
    total = bounds[-1]
    if width > total or width <= 0:
        return None
    cum = [0.0]
    for i in range(len(vals)):
        cum.append(cum[-1] + vals[i] * (bounds[i + 1] - bounds[i]))

    def integral(x: float) -> float:
        i = min(bisect.bisect_right(bounds, x) - 1, len(vals) - 1)
        return cum[i] + vals[i] * (x - bounds[i])

    best: tuple[float, float] | None = None
    cands = set()
    for b in bounds:
        if b + width <= total:
            cands.add(b)
        if b - width >= 0:
            cands.add(b - width)
    for st in cands:
        m = (integral(st + width) - integral(st)) / width
        if best is None or (m > best[0] if maximise else m < best[0]):
            best = (m, st)
    return best


def power_curve(ctx: ActCtx) -> list[tuple[int, int, int]]:
    """(secs, watts, start_index) for the standard durations."""
    if not ctx.power:
        return []
    bounds = [float(b) for b in _seg_bounds(ctx)]
    vals = [ctx.seg_mean(s, ctx.watts) for s in ctx.segments]
    out = []
    for d in CURVE_SECS:
        r = _max_window(bounds, vals, d)
        if r is None:
            break
        peak = 1 + (0.25 * (1 - d / 20) if d < 20 else 0.0)
        out.append((d, round(r[0] * peak), int(r[1])))
    return out


def hr_curve(ctx: ActCtx) -> list[tuple[int, int, int]]:
    if not ctx.has_hr:
        return []
    bounds = [float(b) for b in _seg_bounds(ctx)]
    vals = [ctx.seg_mean(s, ctx.hr_steady) for s in ctx.segments]
    out = []
    for d in CURVE_SECS:
        r = _max_window(bounds, vals, max(d, 1))
        if r is None:
            break
        out.append((d, round(r[0]), int(r[1])))
    return out


def pace_curve(ctx: ActCtx) -> list[tuple[float, int, int]]:
    """(distance m, best seconds, start_index) in the distance domain."""
    if ctx.power:
        return []
    dbounds = [0.0]
    per_m: list[float] = []
    tb = _seg_bounds(ctx)
    for s in ctx.segments:
        v = ctx.seg_mean(s, ctx.speed)
        dbounds.append(dbounds[-1] + v * s.secs)
        per_m.append(1 / v)
    out = []
    dists = SWIM_DISTANCES if ctx.swim else RUN_DISTANCES
    for d in dists:
        r = _max_window(dbounds, per_m, d, maximise=False)
        if r is None:
            break
        i = min(bisect.bisect_right(dbounds, r[1]) - 1, len(ctx.segments) - 1)
        start_t = tb[i] + (r[1] - dbounds[i]) * per_m[i]
        out.append((d, round(r[0] * d), int(start_t)))
    return out


def best_efforts(
    data: list[float],
    dist: list[float] | None,
    duration: int | None,
    distance: float | None,
    count: int,
    min_value: float | None = None,
) -> list[dict[str, Any]]:
    """Top ``count`` non-overlapping windows by mean value (streams-based, O(n log n))."""
    n = len(data)
    cum = [0.0]
    for v in data:
        cum.append(cum[-1] + (v or 0))
    wins: list[tuple[float, int, int]] = []
    if duration:
        for s in range(0, n - duration + 1):
            wins.append(((cum[s + duration] - cum[s]) / duration, s, s + duration - 1))
    elif distance and dist:
        e = 0
        for s in range(n):
            while e < n and dist[e] - dist[s] < distance:
                e += 1
            if e >= n:
                break
            wins.append(((cum[e + 1] - cum[s]) / (e + 1 - s), s, e))
    wins.sort(key=lambda w: -w[0])
    taken: list[tuple[int, int]] = []
    out: list[dict[str, Any]] = []
    for avg, s, e in wins:
        if len(out) >= count:
            break
        if min_value is not None and avg < min_value:
            break
        if any(not (e < ts or s > te) for ts, te in taken):
            continue
        taken.append((s, e))
        eff: dict[str, Any] = {"start_index": s, "end_index": e, "average": round(avg, 2), "duration": e - s + 1}
        if dist:
            eff["distance"] = round(dist[e] - dist[s], 1)
        out.append(eff)
    return out
