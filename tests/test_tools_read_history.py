"""get_training_history end to end: the sport filter by family, pace, and no silent zero (issue #14)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import AROHA, MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.read_tools_helpers import error_text, mara_today, ok, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

RIDES = {"Ride", "VirtualRide", "GravelRide", "MountainBikeRide", "TrackRide", "Cyclocross"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


def window() -> dict[str, str]:
    end = mara_today()
    return {"start": (end - timedelta(days=59)).isoformat(), "end": end.isoformat()}


def sandbox_types(sandbox: Sandbox, athlete: str, span: dict[str, str]) -> dict[str, int]:
    acts = upstream(
        sandbox, athlete, f"/athlete/{athlete}/activities", oldest=span["start"], newest=f"{span['end']}T23:59:59"
    )
    counts: dict[str, int] = {}
    for a in acts:
        if a.get("type"):
            counts[a["type"]] = counts.get(a["type"], 0) + 1
    return counts


def types_of(data: dict[str, Any]) -> set[str]:
    return {a["sport"] for a in data["activities"] if "sport" in a}


async def test_it_filters_rides_by_family_and_says_which_types_matched(mara_url: str, sandbox: Sandbox) -> None:
    span = window()
    counts = sandbox_types(sandbox, MARA, span)
    assert {"Ride", "VirtualRide"} <= set(counts), counts  # Mara rides outdoors and on Zwift
    rides = await ok(mara_url, "get_training_history", {**span, "sport": "Ride"})
    assert types_of(rides) == {t for t in counts if t in RIDES}
    assert rides["count"] - rides["totals"].get("strava_unavailable", 0) == sum(
        n for t, n in counts.items() if t in RIDES
    )
    assert rides["sport_filter"].startswith("Ride family; matched: ")
    assert f"Ride {counts['Ride']}" in rides["sport_filter"]
    assert f"VirtualRide {counts['VirtualRide']}" in rides["sport_filter"]
    cycling = await ok(mara_url, "get_training_history", {**span, "sport": "cycling"})
    assert cycling["activities"] == rides["activities"]
    # A type asked by its own name is that type alone.
    virtual = await ok(mara_url, "get_training_history", {**span, "sport": "virtualride"})
    assert types_of(virtual) == {"VirtualRide"}
    assert virtual["sport_filter"] == f"VirtualRide; matched: VirtualRide {counts['VirtualRide']}"


async def test_it_refuses_an_unknown_sport_with_the_sports_it_knows(mara_url: str) -> None:
    message = await error_text(mara_url, "get_training_history", {"sport": "quidditch"})
    assert message.startswith("Unknown sport 'quidditch'.")
    for known in (
        "Ride (Ride, VirtualRide",
        "Run (Run, VirtualRun, TrailRun)",
        "Swim (Swim, OpenWaterSwim)",
        "cycling",
    ):
        assert known in message


@pytest.fixture
def aroha_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("aroha@example.com", athlete_id=AROHA, sandbox=sandbox))


async def test_it_gives_the_pace_of_runs_and_swims_not_of_rides(aroha_url: str) -> None:
    data = await ok(aroha_url, "get_training_history", window())
    by_sport: dict[str, list[dict[str, Any]]] = {}
    for row in data["activities"]:
        by_sport.setdefault(row.get("sport", "?"), []).append(row)
    assert by_sport.get("Run") and by_sport.get("Swim"), set(by_sport)  # Aroha runs, swims and rides
    assert all(r["pace"].endswith("/km") for r in by_sport["Run"])
    assert all(r["pace"].endswith("/100m") for r in by_sport["Swim"])
    assert not any("pace" in r for sport, rows in by_sport.items() if "Ride" in sport for r in rows)
