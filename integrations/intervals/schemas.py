"""Lenient pydantic models of the Intervals.icu payloads we read.

Unknown fields are allowed (upstream objects carry ~180 fields and athletes add custom ones); only the
fields the product uses are declared. Nothing here is ever returned to a model verbatim: presenters
pick from these objects through allow-lists.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    # Frozen: a parsed answer may be memoised and shared by later requests (integrations/intervals/cache.py).
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class OAuthAthlete(_Lenient):
    id: str
    name: str = ""


class OAuthToken(_Lenient):
    token_type: str = "Bearer"  # noqa: S105 - a scheme name
    access_token: str
    scope: str = ""
    athlete: OAuthAthlete


class SportSettings(_Lenient):
    id: int | None = None
    types: list[str] = Field(default_factory=list)
    ftp: float | None = None
    indoor_ftp: float | None = None
    w_prime: float | None = None
    lthr: float | None = None
    max_hr: float | None = None
    threshold_pace: float | None = None
    pace_units: str | None = None
    power_zones: list[float] | None = None
    power_zone_names: list[str] | None = None
    hr_zones: list[float] | None = None
    hr_zone_names: list[str] | None = None
    pace_zones: list[float] | None = None
    pace_zone_names: list[str] | None = None


class Athlete(_Lenient):
    id: str
    name: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    timezone: str | None = None
    sex: str | None = None
    city: str | None = None
    country: str | None = None
    icu_weight: float | None = None
    weight: float | None = None
    icu_resting_hr: float | None = None
    measurement_preference: str | None = None
    sportSettings: list[SportSettings] = Field(default_factory=list)

    @property
    def display_name(self) -> str:
        return self.name or " ".join(p for p in (self.firstname, self.lastname) if p) or self.id


class ZoneTime(_Lenient):
    id: str | None = None
    secs: int | None = None


class Gear(_Lenient):
    id: str | None = None
    name: str | None = None


class Interval(_Lenient):
    id: int | None = None
    type: str | None = None  # WORK | RECOVERY
    label: str | None = None
    group_id: str | None = None
    start_index: int | None = None
    end_index: int | None = None
    moving_time: int | None = None
    elapsed_time: int | None = None
    distance: float | None = None
    average_watts: float | None = None
    weighted_average_watts: float | None = None
    max_watts: float | None = None
    intensity: float | None = None
    training_load: float | None = None
    zone: int | None = None
    average_heartrate: float | None = None
    max_heartrate: float | None = None
    average_cadence: float | None = None
    average_speed: float | None = None
    decoupling: float | None = None


class IntervalGroup(_Lenient):
    id: str | None = None
    count: int | None = None
    moving_time: int | None = None
    average_watts: float | None = None
    average_heartrate: float | None = None
    average_speed: float | None = None


class Activity(_Lenient):
    id: str
    start_date_local: str | None = None
    type: str | None = None
    name: str | None = None
    source: str | None = None
    note: str | None = Field(default=None, alias="_note")
    distance: float | None = None
    moving_time: int | None = None
    elapsed_time: int | None = None
    total_elevation_gain: float | None = None
    average_speed: float | None = None
    average_heartrate: float | None = None
    max_heartrate: float | None = None
    icu_average_watts: float | None = None
    icu_weighted_avg_watts: float | None = None
    icu_training_load: float | None = None
    icu_intensity: float | None = None
    icu_ftp: float | None = None
    trainer: bool | None = None
    race: bool | None = None
    feel: int | None = None
    icu_rpe: int | None = None
    icu_athlete_id: str | None = None
    description: str | None = None
    device_name: str | None = None
    commute: bool | None = None
    max_speed: float | None = None
    average_cadence: float | None = None
    calories: float | None = None
    icu_joules: float | None = None
    icu_variability_index: float | None = None
    icu_efficiency_factor: float | None = None
    decoupling: float | None = None
    icu_pm_ftp: float | None = None
    lthr: float | None = None
    athlete_max_hr: float | None = None
    threshold_pace: float | None = None
    pace_units: str | None = None
    power_load: float | None = None
    hr_load: float | None = None
    pace_load: float | None = None
    hr_load_type: str | None = None  # AVG_HR | HR_ZONES | HRSS
    pace_load_type: str | None = None  # SWIM | RUN
    trimp: float | None = None
    session_rpe: float | None = None
    icu_zone_times: list[ZoneTime] | None = None
    icu_hr_zone_times: list[int] | None = None
    pace_zone_times: list[int] | None = None
    icu_power_zones: list[float] | None = None
    icu_hr_zones: list[float] | None = None
    pace_zones: list[float] | None = None
    paired_event_id: int | None = None
    icu_chat_id: int | None = None
    icu_lap_count: int | None = None
    interval_summary: list[str] | None = None
    gear: Gear | None = None
    average_weather_temp: float | None = None
    tags: list[str] | None = None
    stream_types: list[str] | None = None
    icu_intervals: list[Interval] | None = None
    icu_groups: list[IntervalGroup] | None = None

    @property
    def is_strava_stub(self) -> bool:
        """Strava-imported activities are served as stubs the API may not reveal."""
        return (self.source or "").upper() == "STRAVA" and self.type is None


class Message(_Lenient):
    id: int | None = None
    athlete_id: str | None = None
    type: str | None = None
    # When the message was deleted: a date-time in the API (OpenAPI `Message.deleted`, with `deleted_by_id`),
    # null or absent while it stands. A boolean is taken too, so a simpler answer still parses.
    deleted: str | bool | None = None


class Stream(_Lenient):
    type: str
    data: list[Any] = Field(default_factory=list)
    data2: list[Any] | None = None


class Wellness(_Lenient):
    id: str  # the date
    ctl: float | None = None
    atl: float | None = None
    rampRate: float | None = None
    ctlLoad: float | None = None
    weight: float | None = None
    restingHR: float | None = None
    hrv: float | None = None
    hrvSDNN: float | None = None
    avgSleepingHR: float | None = None
    sleepSecs: float | None = None
    sleepScore: float | None = None
    sleepQuality: int | None = None
    readiness: float | None = None
    soreness: int | None = None
    fatigue: int | None = None
    stress: int | None = None
    mood: int | None = None
    motivation: int | None = None
    injury: int | None = None
    spO2: float | None = None
    steps: int | None = None
    comments: str | None = None
    menstrualPhase: str | None = None
    menstrualPhasePredicted: str | None = None


class Event(_Lenient):
    id: int
    athlete_id: str | None = None
    category: str | None = None
    type: str | None = None
    start_date_local: str | None = None
    name: str | None = None
    description: str | None = None
    indoor: bool | None = None
    moving_time: int | None = None
    distance: float | None = None
    icu_training_load: float | None = None
    icu_intensity: float | None = None
    icu_ftp: float | None = None
    target: str | None = None
    workout_doc: dict[str, Any] | None = None
    load_target: float | None = None
    time_target: int | None = None
    tags: list[str] | None = None


class LibraryWorkout(_Lenient):
    id: int
    folder_id: int | None = None
    name: str | None = None
    description: str | None = None
    type: str | None = None
    indoor: bool | None = None
    moving_time: int | None = None
    distance: float | None = None
    icu_training_load: float | None = None
    icu_intensity: float | None = None
    day: int | None = None
    tags: list[str] | None = None
    workout_doc: dict[str, Any] | None = None


class Folder(_Lenient):
    id: int
    type: str | None = None  # FOLDER | PLAN
    name: str | None = None
    description: str | None = None
    duration_weeks: int | None = None
    num_workouts: int | None = None
    children: list[LibraryWorkout] = Field(default_factory=list)


class DataCurve(_Lenient):
    id: str | None = None
    label: str | None = None
    start_date_local: str | None = None
    end_date_local: str | None = None
    secs: list[float] | None = None
    distance: list[float] | None = None
    values: list[float | None] = Field(default_factory=list)
    activity_id: list[str | None] = Field(default_factory=list)
    watts_per_kg: list[float | None] | None = None
    weight: float | None = None


class CurveActivity(_Lenient):
    id: str
    name: str | None = None
    start_date_local: str | None = None
    type: str | None = None


class CurveSet(_Lenient):
    list_: list[DataCurve] = Field(default_factory=list, alias="list")
    activities: dict[str, CurveActivity] = Field(default_factory=dict)


def parse_tuple(model: type[_Lenient], payload: Any) -> tuple[Any, ...]:
    """`parse_list` as an immutable tuple (what memoised reads hand out)."""
    return tuple(parse_list(model, payload))


def parse_list(model: type[_Lenient], payload: Any) -> list[Any]:
    """Parse a JSON list leniently; anything not a list is treated as empty."""
    if not isinstance(payload, list):
        return []
    return [model.model_validate(item) for item in payload if isinstance(item, dict)]
