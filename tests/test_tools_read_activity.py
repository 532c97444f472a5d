"""get_activity_detail and get_extended_metrics end to end: real HTTP, official client, sandbox upstream."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from integrations.intervals import analysis
from mcpserver import present
from tests.conftest import DIEGO, MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.read_tools_helpers import error_text, ok, requests_since, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


@pytest.fixture
def diego_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox))


def recent(sandbox: Sandbox, athlete_id: str, days: int = 21) -> list[dict[str, Any]]:
    today = sandbox.state.today
    return list(
        upstream(
            sandbox, athlete_id, f"/athlete/{athlete_id}/activities", oldest=(today - timedelta(days=days)).isoformat()
        )
    )


def interval_ride(sandbox: Sandbox) -> dict[str, Any]:
    """A recent outdoor power ride of Mara's with work intervals, fetched the way the real API serves it."""
    for a in recent(sandbox, MARA, 42):
        if a.get("icu_weighted_avg_watts") and not a.get("trainer") and a.get("interval_summary"):
            return dict(upstream(sandbox, MARA, f"/activity/{a['id']}", intervals="true"))
    raise AssertionError("the sandbox should have an interval ride in six weeks")


async def test_it_summarises_an_activity_with_its_intervals_and_zones(mara_url: str, sandbox: Sandbox) -> None:
    raw = interval_ride(sandbox)
    data = await ok(mara_url, "get_activity_detail", {"activity_id": raw["id"]})
    assert data["athlete"]["id"] == MARA
    assert data["id"] == raw["id"]
    assert data["summary"]["name"] == {"untrusted": raw["name"]} and data["summary"]["sport"] == raw["type"]
    day = present.parse_local(raw["start_date_local"])
    assert day is not None and data["date"] == present.day_label(day.date())
    assert data["summary"]["load"] == round(raw["icu_training_load"])
    assert data["summary"]["norm_power_w"] == round(raw["icu_weighted_avg_watts"])
    assert data["summary"]["avg_hr_bpm"] == round(raw["average_heartrate"])
    assert data["summary"]["duration"] == present.hms(raw["moving_time"])
    work = [iv for iv in raw["icu_intervals"] if iv["type"] == "WORK"]
    assert data["summary"]["work_intervals"] == len(work)
    intervals = [dict(zip(data["intervals"]["columns"], r, strict=True)) for r in data["intervals"]["rows"]]
    assert [r["type"] for r in intervals] == [iv["type"].lower() for iv in raw["icu_intervals"]][:40]
    first_work = next(r for r in intervals if r["type"] == "work")
    assert first_work["avg_power_w"] == round(work[0]["average_watts"])
    z2 = next(z["secs"] for z in raw["icu_zone_times"] if z["id"] == "Z2")
    assert any(line.startswith("Z2 ") and present.hms(z2) in line for line in data["zones"]["power"])
    if raw.get("feel") is not None:
        assert data["summary"]["feel"] == raw["feel"]
    assert data["summary"]["planned_event_id"] == raw.get("paired_event_id")
    assert "feel" in data["units"] and "1 strong" in data["units"]["feel"]


async def test_it_labels_load_intensity_and_cadence_in_each_sports_own_terms(
    mara_url: str, diego_url: str, sandbox: Sandbox
) -> None:
    raw = interval_ride(sandbox)
    ride = await ok(mara_url, "get_activity_detail", {"activity_id": raw["id"]})
    assert raw["power_load"] == raw["icu_training_load"]  # the sandbox bases a power ride's load on power
    assert (ride["summary"]["load_from"], ride["units"]["intensity_pct"]) == ("power", "% of FTP")
    assert ride["summary"]["cadence_rpm"] == round(raw["average_cadence"])
    # A run whose load is its hr_load (the sandbox's choice when there is HR), told from its pace_load.
    run = next(
        a
        for a in recent(sandbox, DIEGO, 28)
        if a.get("type") == "Run" and a.get("average_cadence") and a.get("hr_load") != a.get("pace_load")
    )
    assert run["hr_load"] == run["icu_training_load"] and run["hr_load_type"] == "HR_ZONES"
    data = await ok(diego_url, "get_activity_detail", {"activity_id": run["id"]})
    assert data["summary"]["load_from"] == "heart rate (time in HR zones)"
    assert data["units"]["intensity_pct"] == "% of threshold HR (LTHR)"
    assert "cadence_rpm" not in data["summary"]
    # The sandbox writes run cadence in steps (160-176), not strides as the recorded run (82): kept as it is.
    assert data["summary"]["cadence_spm"] == round(run["average_cadence"]) >= 120


async def test_it_counts_the_comments_on_an_activity(mara_url: str, sandbox: Sandbox) -> None:
    with_chat = next(a for a in recent(sandbox, MARA, 14) if a.get("icu_chat_id"))
    messages = upstream(sandbox, MARA, f"/activity/{with_chat['id']}/messages")
    data = await ok(mara_url, "get_activity_detail", {"activity_id": with_chat["id"]})
    assert data["summary"]["comments"] == len(messages) > 0


async def test_it_explains_a_strava_stub_instead_of_zeroing_it(mara_url: str, sandbox: Sandbox) -> None:
    stub = next(a for a in recent(sandbox, MARA, 199) if a.get("source") == "STRAVA")
    data = await ok(mara_url, "get_activity_detail", {"activity_id": stub["id"]})
    assert "Strava" in data["unavailable"]
    assert "summary" not in data and "intervals" not in data and "zones" not in data


async def test_it_refuses_another_athletes_activity_without_touching_it(mara_url: str, sandbox: Sandbox) -> None:
    foreign = next(a for a in recent(sandbox, DIEGO) if a.get("type"))["id"]
    mark = len(sandbox.state.requests)
    for tool in ("get_activity_detail", "get_extended_metrics"):
        message = await error_text(mara_url, tool, {"activity_id": foreign})
        assert message.startswith(f"No activity {foreign} for athlete {MARA}")
    paths = [r[1] for r in requests_since(sandbox, mark) if foreign in r[1]]
    # Asked only through Mara's own collection: no request ever reaches the foreign activity itself.
    assert paths == [f"/api/v1/athlete/{MARA}/activities/{foreign}"] * 2, paths
    unknown = await error_text(mara_url, "get_activity_detail", {"activity_id": "i1"})
    assert unknown.startswith(f"No activity i1 for athlete {MARA}")


def streams_of(sandbox: Sandbox, activity_id: str) -> dict[str, list[Any]]:
    rows = upstream(sandbox, MARA, f"/activity/{activity_id}/streams", types="time,watts,heartrate")
    return {s["type"]: s["data"] for s in rows}


async def test_it_computes_metrics_from_the_streams_without_returning_them(mara_url: str, sandbox: Sandbox) -> None:
    raw = interval_ride(sandbox)
    streams = streams_of(sandbox, raw["id"])
    data = await ok(mara_url, "get_extended_metrics", {"activity_id": raw["id"]})
    # Computed from the streams: what Intervals.icu has no figure for (average HR, best efforts).
    assert data["metrics"]["avg_hr_bpm"] == round(analysis.average_hr(streams["heartrate"], streams["time"]) or 0)
    five_min = next(e for e in data["best_efforts"] if e["over"] == "5m")
    assert five_min["power_w"] == round(analysis.best_efforts(streams["watts"], [300], streams["time"])[300].value)
    assert "profile" not in data
    assert len(str(data)) < 4000, "metrics, not streams"


async def test_it_gives_the_same_np_and_decoupling_as_the_detail_and_says_whose_they_are(
    mara_url: str, sandbox: Sandbox
) -> None:
    # Issue #14: the detail said NP 215 W and decoupling 6.2 % (Intervals.icu's), the metrics 204 W and 4.4 %
    # (computed here from the streams) for the same ride. One figure each now: Intervals', named as such.
    raw = next(
        a for a in recent(sandbox, MARA, 42) if a.get("decoupling") is not None and a.get("icu_weighted_avg_watts")
    )
    detail = await ok(mara_url, "get_activity_detail", {"activity_id": raw["id"]})
    metrics = (await ok(mara_url, "get_extended_metrics", {"activity_id": raw["id"]}))["metrics"]
    for key in ("norm_power_w", "decoupling_pct", "variability_index", "efficiency_factor", "avg_power_w"):
        assert metrics[key] == detail["summary"][key], key
        assert key in metrics["from_intervals"], key
    assert (metrics["norm_power_w"], metrics["decoupling_pct"]) == (
        round(raw["icu_weighted_avg_watts"]),
        round(raw["decoupling"], 1),
    )
    assert "avg_hr_bpm" not in metrics["from_intervals"]  # computed from the streams
    assert "Intervals.icu" in detail["units"]["figures"]


async def test_it_adds_a_bounded_profile_only_when_asked(mara_url: str, sandbox: Sandbox) -> None:
    raw = interval_ride(sandbox)
    data = await ok(mara_url, "get_extended_metrics", {"activity_id": raw["id"], "profile_points": 30})
    assert len(data["profile"]) == 30
    assert data["profile"][0]["at"] == "0:00" and "power_w" in data["profile"][0]
    too_many = await error_text(mara_url, "get_extended_metrics", {"activity_id": raw["id"], "profile_points": 500})
    assert "profile_points" in too_many
