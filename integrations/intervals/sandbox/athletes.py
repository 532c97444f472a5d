"""Seeded athletes: profiles, sport settings and connections (WithSportSettings shapes)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

COACH_ID = "i100004"

POWER_ZONES = [55, 75, 90, 105, 120, 150, 999]
POWER_ZONE_NAMES = ["Active Recovery", "Endurance", "Tempo", "Threshold", "VO2 Max", "Anaerobic", "Neuromuscular"]
HR_ZONE_NAMES = ["Recovery", "Aerobic", "Tempo", "SubThreshold", "SuperThreshold", "Aerobic Capacity", "Anaerobic"]
RUN_PACE_ZONES = [77.5, 87.7, 94.3, 100.0, 103.4, 111.5, 999.0]
SWIM_PACE_ZONES = [77.5, 87.7, 94.3, 100.0, 103.4, 111.5, 999.0]
PACE_ZONE_NAMES = ["Zone 1", "Zone 2", "Zone 3", "Zone 4", "Zone 5a", "Zone 5b", "Zone 5c"]


@dataclass
class AthleteSpec:
    """The generator's view of one athlete (inputs to everything else)."""

    id: str
    index: int
    firstname: str
    lastname: str
    sex: str
    city: str
    state: str | None
    country: str
    timezone: str
    lat: float
    lng: float
    weight: float
    resting_hr: int
    max_hr: int
    lthr: int
    dob: str
    kind: str  # "cyclist" | "runner" | "triathlete"
    ftp: int | None = None
    run_pace: float | None = None  # threshold speed m/s
    swim_pace: float | None = None
    run_lthr: int | None = None
    coach: bool = False
    coached: dict[str, str] = field(default_factory=dict)  # athlete id → READ / WRITE
    connections: tuple[str, ...] = ()
    strava: bool = False
    hours_scale: float = 1.0

    @property
    def name(self) -> str:
        return f"{self.firstname} {self.lastname}"

    @property
    def number(self) -> str:
        return self.id[1:]


BASE_ATHLETES: list[dict[str, Any]] = [
    dict(
        id="i100001",
        firstname="Mara",
        lastname="Lindqvist",
        sex="F",
        city="Stockholm",
        state=None,
        country="Sweden",
        timezone="Europe/Stockholm",
        lat=59.3293,
        lng=18.0686,
        weight=62.0,
        resting_hr=46,
        max_hr=188,
        lthr=168,
        dob="1993-04-12",
        kind="cyclist",
        ftp=265,
        connections=("garmin_health", "garmin_training", "strava"),
        strava=True,
    ),
    dict(
        id="i100002",
        firstname="Diego",
        lastname="Alvarez",
        sex="M",
        city="Boulder",
        state="Colorado",
        country="United States",
        timezone="America/Denver",
        lat=40.0150,
        lng=-105.2705,
        weight=68.5,
        resting_hr=44,
        max_hr=192,
        lthr=172,
        dob="1990-09-03",
        kind="runner",
        run_pace=round(1000 / 245, 3),
        run_lthr=172,
        connections=("coros", "strava"),
        strava=True,
    ),
    dict(
        id="i100003",
        firstname="Aroha",
        lastname="Ngata",
        sex="F",
        city="Auckland",
        state=None,
        country="New Zealand",
        timezone="Pacific/Auckland",
        lat=-36.8485,
        lng=174.7633,
        weight=60.5,
        resting_hr=49,
        max_hr=186,
        lthr=165,
        dob="1996-01-27",
        kind="triathlete",
        ftp=228,
        run_pace=round(1000 / 262, 3),
        swim_pace=round(100 / 92, 3),
        run_lthr=171,
        connections=("garmin_health", "garmin_training", "zwift", "oura"),
    ),
    dict(
        id="i100004",
        firstname="Sam",
        lastname="Okafor",
        sex="M",
        city="London",
        state=None,
        country="United Kingdom",
        timezone="Europe/London",
        lat=51.5072,
        lng=-0.1276,
        weight=76.0,
        resting_hr=52,
        max_hr=183,
        lthr=163,
        dob="1982-06-18",
        kind="cyclist",
        ftp=285,
        coach=True,
        coached={"i100001": "WRITE", "i100002": "READ", "i100003": "WRITE"},
        connections=("wahoo", "zwift", "strava"),
        hours_scale=0.7,
    ),
]

_FIRST = [
    "Lena",
    "Tomas",
    "Ines",
    "Kofi",
    "Yuki",
    "Priya",
    "Mateo",
    "Freya",
    "Omar",
    "Chloe",
    "Nikolai",
    "Ana",
    "Jonas",
    "Amara",
    "Luca",
    "Sofia",
    "Hugo",
    "Maya",
    "Emil",
    "Zara",
    "Rafael",
    "Elin",
    "Kenji",
    "Noor",
]
_LAST = [
    "Berg",
    "Costa",
    "Novak",
    "Mensah",
    "Tanaka",
    "Sharma",
    "Rossi",
    "Larsen",
    "Haddad",
    "Dubois",
    "Petrov",
    "Silva",
    "Weber",
    "Okoye",
    "Moretti",
    "Garcia",
    "Lambert",
    "Kowalski",
    "Nilsson",
    "Farah",
]
_PLACES = [
    ("Girona", "Spain", "Europe/Madrid", 41.98, 2.82),
    ("Boulder", "United States", "America/Denver", 40.01, -105.27),
    ("Nice", "France", "Europe/Paris", 43.70, 7.26),
    ("Cape Town", "South Africa", "Africa/Johannesburg", -33.92, 18.42),
    ("Melbourne", "Australia", "Australia/Melbourne", -37.81, 144.96),
    ("Vancouver", "Canada", "America/Vancouver", 49.28, -123.12),
    ("Munich", "Germany", "Europe/Berlin", 48.14, 11.58),
    ("Tokyo", "Japan", "Asia/Tokyo", 35.68, 139.69),
]


def build_specs(seed: int, extra: int) -> list[AthleteSpec]:
    specs = [AthleteSpec(index=i, **{**d, "coached": dict(d.get("coached", {}))}) for i, d in enumerate(BASE_ATHLETES)]
    coach = specs[3]
    for n in range(extra):
        rng = random.Random(f"{seed}:extra:{n}")
        aid = f"i{100005 + n}"
        sex = rng.choice("MF")
        city, country, tz, lat, lng = rng.choice(_PLACES)
        kind = rng.choice(["cyclist", "cyclist", "runner", "triathlete"])
        weight = round(rng.uniform(55, 68) if sex == "F" else rng.uniform(64, 82), 1)
        max_hr = rng.randint(176, 198)
        lthr = max_hr - rng.randint(14, 22)
        spec = AthleteSpec(
            id=aid,
            index=4 + n,
            firstname=rng.choice(_FIRST),
            lastname=rng.choice(_LAST),
            sex=sex,
            city=city,
            state=None,
            country=country,
            timezone=tz,
            lat=lat,
            lng=lng,
            weight=weight,
            resting_hr=rng.randint(42, 58),
            max_hr=max_hr,
            lthr=lthr,
            dob=f"{rng.randint(1970, 2003)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            kind=kind,
            ftp=int(weight * rng.uniform(2.8, 4.3)) if kind != "runner" else None,
            run_pace=round(1000 / rng.uniform(225, 320), 3) if kind != "cyclist" else None,
            swim_pace=round(100 / rng.uniform(85, 115), 3) if kind == "triathlete" else None,
            run_lthr=lthr + 3 if kind != "cyclist" else None,
            connections=tuple(
                rng.sample(
                    ["garmin_training", "garmin_health", "strava", "wahoo", "zwift", "coros", "polar", "suunto"], 2
                )
            ),
            hours_scale=rng.uniform(0.55, 1.1),
        )
        specs.append(spec)
        coach.coached[aid] = "WRITE" if n % 2 == 0 else "READ"
    return specs


def _hr_zones(lthr: int, max_hr: int) -> list[int]:
    pct = [0.81, 0.89, 0.93, 0.99, 1.02, 1.06]
    return [round(lthr * p) for p in pct] + [max_hr]


def _hexid(*parts: object) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()


def sport_settings(spec: AthleteSpec) -> list[dict[str, Any]]:
    base_id = 200000 + spec.index * 10
    created = "2024-01-15T08:00:00Z"
    out: list[dict[str, Any]] = []
    common = {
        "athlete_id": spec.id,
        "max_hr": spec.max_hr,
        "hr_load_type": "HR_ZONES",
        "hrrc_min_percent": 0.0,
        "hr_zone_names": HR_ZONE_NAMES,
        "created": created,
        "updated": "2026-01-10T07:30:00Z",
        "warmup_time": 600,
        "cooldown_time": 600,
        "load_order": "POWER_HR_PACE",
        "tiz_order": "POWER_HR_PACE",
        "workout_order": "POWER_HR_PACE",
        "interval_display": "POWER_HR_PACE",
        "custom_field_ids": [],
        "custom_zones_ids": [],
        "other": False,
        "iseFTPSupported": False,
        "use_distance_for_intervals": False,
        "show_pauses": 0,
        "ignore_velocity": False,
        "extract_workouts": False,
        "update_activity_name_from_workout": True,
        "gap_model": "NONE",
        "elevation_correction": "AUTO",
        "use_gap_zone_times": False,
    }
    if spec.ftp:
        out.append(
            {
                **common,
                "id": base_id + 1,
                "types": ["Ride", "VirtualRide", "GravelRide", "MountainBikeRide"],
                "ftp": spec.ftp,
                "indoor_ftp": spec.ftp - 5,
                "w_prime": 19000 if spec.sex == "F" else 22000,
                "p_max": round(spec.ftp * 3.3),
                "power_zones": POWER_ZONES,
                "power_zone_names": POWER_ZONE_NAMES,
                "sweet_spot_min": 84,
                "sweet_spot_max": 97,
                "power_spike_threshold": 30,
                "ftp_est_min_secs": 600,
                "use_laps_for_power_intervals": False,
                "keep_all_laps_for_power_intervals": False,
                "power_intervals_start_locked": False,
                "after_kj0": 1000,
                "after_kj1": 2000,
                "power_field": "watts",
                "lthr": spec.lthr,
                "hr_zones": _hr_zones(spec.lthr, spec.max_hr),
                "threshold_pace": None,
                "pace_units": "MINS_KM",
                "pace_zones": None,
                "pace_zone_names": None,
                "pace_load_type": None,
                "iseFTPSupported": True,
                "default_gear_id": f"b{spec.number}1",
            }
        )
    if spec.run_pace:
        lthr = spec.run_lthr or spec.lthr
        out.append(
            {
                **common,
                "id": base_id + 2,
                "types": ["Run", "TrailRun", "VirtualRun"],
                "ftp": None,
                "power_zones": POWER_ZONES,
                "power_zone_names": POWER_ZONE_NAMES,
                "lthr": lthr,
                "hr_zones": _hr_zones(lthr, spec.max_hr),
                "threshold_pace": spec.run_pace,
                "pace_units": "MINS_KM",
                "pace_zones": RUN_PACE_ZONES,
                "pace_zone_names": PACE_ZONE_NAMES,
                "pace_load_type": "RUN",
                "gap_model": "STRAVA_RUN",
                "use_gap_zone_times": True,
                "load_order": "HR_PACE_POWER",
                "workout_order": "PACE_HR_POWER",
                "best_effort_distances": [400.0, 1000.0, 1609.34, 5000.0, 10000.0, 21097.5, 42195.0],
                "default_gear_id": f"g{spec.number}2",
            }
        )
    if spec.swim_pace:
        out.append(
            {
                **common,
                "id": base_id + 3,
                "types": ["Swim", "OpenWaterSwim"],
                "ftp": None,
                "lthr": spec.lthr - 8,
                "hr_zones": _hr_zones(spec.lthr - 8, spec.max_hr - 8),
                "threshold_pace": spec.swim_pace,
                "pace_units": "SECS_100M",
                "pace_zones": SWIM_PACE_ZONES,
                "pace_zone_names": PACE_ZONE_NAMES,
                "pace_load_type": "SWIM",
                "load_order": "PACE_HR_POWER",
                "workout_order": "PACE_HR_POWER",
                "best_effort_distances": [100.0, 200.0, 400.0, 750.0, 1500.0, 1900.0, 3800.0],
            }
        )
    out.append(
        {
            **common,
            "id": base_id + 9,
            "types": ["Other"],
            "other": True,
            "ftp": None,
            "lthr": spec.lthr,
            "hr_zones": _hr_zones(spec.lthr, spec.max_hr),
            "threshold_pace": None,
            "pace_units": "MINS_KM",
            "load_order": "HR_POWER_PACE",
        }
    )
    return [{k: v for k, v in s.items() if v is not None} for s in out]


def profile(spec: AthleteSpec, seed: int, api_key: str) -> dict[str, Any]:
    """Athlete fields shared by WithSportSettings / AthleteWithTags (without sportSettings)."""
    slug = f"{spec.firstname}.{spec.lastname}".lower()
    kinds = {"cyclist": ["Ride", "VirtualRide"], "runner": ["Run"], "triathlete": ["Swim", "Ride", "Run"]}
    return {
        "id": spec.id,
        "name": spec.name,
        "firstname": spec.firstname,
        "lastname": spec.lastname,
        "profile_medium": None,
        "measurement_preference": "feet" if spec.country == "United States" else "meters",
        "weight_pref_lb": spec.country == "United States",
        "fahrenheit": spec.country == "United States",
        "wind_speed": "KMH",
        "rain": "MM",
        "weight": spec.weight,
        "email": f"SECRET.{slug}@athletes.example.invalid",
        "sex": spec.sex,
        "city": spec.city,
        "state": spec.state,
        "country": spec.country,
        "timezone": spec.timezone,
        "locale": "en",
        "date_format": "YYYY-MM-DD",
        "time_format": "HH:mm",
        "visibility": "PRIVATE",
        "icu_last_seen": "2026-01-10T07:30:00Z",
        "status": "ACTIVE",
        "icu_resting_hr": spec.resting_hr,
        "icu_weight": spec.weight,
        "icu_weight_sync": "NONE",
        "icu_activated": "2023-03-01T10:00:00Z",
        "icu_admin": False,
        "icu_friend_invite_token": f"SECRET-invite-{_hexid(seed, spec.id, 'invite')[:20]}",
        "icu_coach": spec.coach,
        "bio": "Coach and masters racer." if spec.coach else None,
        "website": None,
        "icu_date_of_birth": spec.dob,
        "icu_api_key": api_key,
        "icu_type_settings": [{"type": "WeightTraining", "ctlFactor": 0.0, "atlFactor": 0.0}],
        "icu_form_as_percent": False,
        "icu_mmp_days": 42,
        "icu_wellness_prompt": True,
        "icu_wellness_keys": [
            "weight",
            "restingHR",
            "hrv",
            "sleepSecs",
            "sleepScore",
            "soreness",
            "fatigue",
            "stress",
            "mood",
            "motivation",
        ],
        "icu_track_menstrual_cycle": spec.sex == "F",
        "icu_menstrual_cycle_perm": "NONE",
        "activity_rpe_prompt": True,
        "icu_garmin_health": "garmin_health" in spec.connections,
        "icu_garmin_training": "garmin_training" in spec.connections,
        "icu_garmin_upload_workouts": "garmin_training" in spec.connections,
        "strava_authorized": "strava" in spec.connections,
        "strava_allowed": True,
        "height": 168.0 if spec.sex == "F" else 180.0,
        "height_units": "CM",
        "plan": "SUPPORTER",
        "has_password": True,
        "beta_user": False,
        "currency": "EUR",
        "icu_email_verified": True,
        "wahoo_upload_workouts": "wahoo" in spec.connections,
        "zwift_upload_workouts": "zwift" in spec.connections,
        "garmin_sync_activity_types": kinds[spec.kind],
    }


def connections(spec: AthleteSpec) -> dict[str, Any]:
    keys = [
        "garmin_health",
        "garmin_training",
        "polar",
        "suunto",
        "coros",
        "concept2",
        "zepp",
        "huawei",
        "wahoo",
        "zwift",
        "oura",
        "whoop",
        "strava",
        "dropbox",
        "hammerhead",
        "tp_virtual",
        "rouvy",
        "mywhoosh",
        "biketerra",
        "tymewear",
    ]
    out: dict[str, Any] = {"id": spec.id}
    out.update({f"{k}_connected": k in spec.connections for k in keys})
    return out
