"""get_athlete_profile: thresholds, zones as absolute values and % of threshold, weight, time zone."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from integrations.intervals import errors
from integrations.intervals.schemas import SportSettings
from integrations.intervals.workouts import format_pace, pct_watts, power_zone_pct, speed_to_pace
from mcpserver import present
from mcpserver.catalogue import AthleteEcho, AthleteInput, ToolCall, ToolResult, ToolSpec, Untrusted, register

PACE_UNITS = {
    "MINS_KM": "/km",
    "MINS_MILE": "/mi",
    "SECS_100M": "/100m",
    "SECS_100Y": "/100y",
    "SECS_500M": "/500m",
    "SECS_400M": "/400m",
    "SECS_250M": "/250m",
}
NO_SPORTS = "no sport settings in Intervals.icu, so no thresholds or zones"
OPEN_ENDED = 900  # Intervals writes the last zone's upper bound as e.g. 999 (% or bpm): "and above"


class ProfileInput(AthleteInput):
    pass


class Zone(BaseModel):
    zone: str
    name: Untrusted | None = None  # the athlete's own name for the zone
    range: str
    pct: str


class SportProfile(BaseModel):
    sports: list[str]
    ftp_w: int | None = None
    lthr_bpm: int | None = None
    max_hr_bpm: int | None = None
    threshold_pace: str | None = None
    power_zones: list[Zone] | None = None
    hr_zones: list[Zone] | None = None
    pace_zones: list[Zone] | None = None


class ProfileOutput(BaseModel):
    athlete: AthleteEcho
    sex: str | None = None
    weight_kg: float | None = None
    resting_hr_bpm: int | None = None
    location: Untrusted | None = None
    connected: list[str] | None = None
    sports: list[SportProfile] | None = None  # absent: the athlete has no sport settings in Intervals.icu
    units: dict[str, str]


def _names(names: list[str] | None, i: int) -> dict[str, object]:
    """The zone's number and, if the athlete named it, that name (free text: untrusted data)."""
    label: dict[str, object] = {"zone": f"Z{i + 1}"}
    name = present.untrusted(names[i]) if names and i < len(names) else None
    if name is not None:
        label["name"] = name
    return label


def _power_zones(s: SportSettings) -> list[dict[str, object]] | None:
    if not s.power_zones or not s.ftp:
        return None
    out = []
    for i in range(len(s.power_zones)):
        span = power_zone_pct(s.power_zones, i + 1)
        assert span is not None  # i + 1 is a zone of these bounds
        low, top = span
        watts = f"{pct_watts(low, s.ftp)}+ W" if top is None else f"{pct_watts(low, s.ftp)}-{pct_watts(top, s.ftp)} W"
        pct = f"{low:g}%+" if top is None else f"{low:g}-{top:g}%"
        out.append({**_names(s.power_zone_names, i), "range": watts, "pct": pct + " FTP"})
    return out


def _hr_zones(s: SportSettings) -> list[dict[str, object]] | None:
    if not s.hr_zones:
        return None
    out, low = [], 0.0
    for i, upper in enumerate(s.hr_zones):
        top = None if upper >= OPEN_ENDED or (s.max_hr and upper > s.max_hr * 1.5) else upper
        bpm = f"{round(low)}+ bpm" if top is None else f"{round(low)}-{round(top)} bpm"
        if s.lthr:
            pct = (
                f"{round(low / s.lthr * 100)}%+"
                if top is None
                else f"{round(low / s.lthr * 100)}-{round(top / s.lthr * 100)}%"
            )
            pct += " LTHR"
        else:
            pct = ""
        out.append({**_names(s.hr_zone_names, i), "range": bpm, "pct": pct})
        low = upper
    return out


def _pace_zones(s: SportSettings, unit: str) -> list[dict[str, object]] | None:
    if not s.pace_zones or not s.threshold_pace:
        return None
    out, low = [], 0.0
    for i, upper in enumerate(s.pace_zones):
        top = None if upper >= OPEN_ENDED else upper
        # % of threshold *speed*: a higher % is a faster (smaller) pace.
        slow = format_pace(speed_to_pace(s.threshold_pace * low / 100, unit), unit) if low > 0 else "slower"
        fast = format_pace(speed_to_pace(s.threshold_pace * top / 100, unit), unit) if top else "faster"
        pct = f"{low:g}%+" if top is None else f"{low:g}-{top:g}%"
        out.append({**_names(s.pace_zone_names, i), "range": f"{slow} to {fast}", "pct": pct + " threshold pace"})
        low = upper
    return out


def sport_profile(s: SportSettings) -> dict[str, object]:
    unit = PACE_UNITS.get(s.pace_units or "", "/km")
    return present.compact(  # type: ignore[return-value]
        {
            "sports": s.types,
            "ftp_w": present.rnd(s.ftp),
            "lthr_bpm": present.rnd(s.lthr),
            "max_hr_bpm": present.rnd(s.max_hr),
            "threshold_pace": format_pace(speed_to_pace(s.threshold_pace, unit), unit) if s.threshold_pace else None,
            "power_zones": _power_zones(s),
            "hr_zones": _hr_zones(s),
            "pace_zones": _pace_zones(s, unit),
        }
    )


CONNECTION_NAMES = {
    "garmin_health_connected": "Garmin (health)",
    "garmin_training_connected": "Garmin (training)",
    "polar_connected": "Polar",
    "suunto_connected": "Suunto",
    "coros_connected": "COROS",
    "wahoo_connected": "Wahoo",
    "zwift_connected": "Zwift",
    "strava_connected": "Strava",
    "oura_connected": "Oura",
    "whoop_connected": "WHOOP",
}


async def get_athlete_profile(call: ToolCall, args: ProfileInput) -> ToolResult:
    access = call.athlete(args.athlete)
    client = access.client()
    athlete_task = asyncio.ensure_future(client.get_athlete(access.athlete_id))
    try:
        connections = await client.get_connections(access.athlete_id)
    except (errors.UpstreamNotFound, errors.UpstreamForbidden):
        connections = {}  # devices are a nice-to-have; never fail the profile for them
    athlete = await athlete_task
    sports = [sport_profile(s) for s in athlete.sportSettings]
    connected = sorted(label for key, label in CONNECTION_NAMES.items() if connections.get(key) is True)
    echo = access.echo()
    if athlete.timezone:
        echo["timezone"] = athlete.timezone
    location = present.untrusted(", ".join(p for p in (athlete.city, athlete.country) if p))
    data = present.compact(
        {
            "athlete": echo,
            "sex": athlete.sex,
            "weight_kg": present.rnd(athlete.icu_weight or athlete.weight, 1),
            "resting_hr_bpm": present.rnd(athlete.icu_resting_hr),
            "location": location,
            "connected": connected,
            "sports": sports,
            "units": {"pct": "zone bounds as % of the sport's threshold", "pace": "min:sec per distance unit"},
        }
    )
    parts = []
    for s in athlete.sportSettings:
        bits = [f"FTP {round(s.ftp)} W" if s.ftp else "", f"LTHR {round(s.lthr)} bpm" if s.lthr else ""]
        if s.threshold_pace:
            unit = PACE_UNITS.get(s.pace_units or "", "/km")
            bits.append(f"threshold pace {format_pace(speed_to_pace(s.threshold_pace, unit), unit)}")
        parts.append(f"{'/'.join(s.types[:2]) or 'sport'}: " + ", ".join(b for b in bits if b))
    # An athlete who never set up a sport has no thresholds or zones: say so rather than an empty list.
    text = f"{present.fence(access.name)} ({echo['timezone']}): " + ("; ".join(parts) or NO_SPORTS)
    return ToolResult(data=data, text=text)  # type: ignore[arg-type]


register(
    ToolSpec(
        name="get_athlete_profile",
        title="Athlete profile",
        description=(
            "Thresholds per sport (FTP, LTHR, threshold pace), power/HR/pace zones in absolute values and % of "
            "threshold, weight, time zone, connected devices."
        ),
        input_model=ProfileInput,
        output_model=ProfileOutput,
        handler=get_athlete_profile,
        scope="SETTINGS:READ",
    )
)
