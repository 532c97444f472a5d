"""Lenient pydantic models of the Intervals.icu payloads we read.

Unknown fields are allowed (upstream objects carry ~180 fields and athletes add custom ones); only the
fields the product uses are declared. Nothing here is ever returned to a model verbatim: presenters
pick from these objects through allow-lists.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


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

    @property
    def is_strava_stub(self) -> bool:
        """Strava-imported activities are served as stubs the API may not reveal."""
        return (self.source or "").upper() == "STRAVA" and self.type is None


def parse_list(model: type[_Lenient], payload: Any) -> list[Any]:
    """Parse a JSON list leniently; anything not a list is treated as empty."""
    if not isinstance(payload, list):
        return []
    return [model.model_validate(item) for item in payload if isinstance(item, dict)]
