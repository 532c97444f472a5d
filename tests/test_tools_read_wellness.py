"""get_wellness end to end: values and scales spelled out, compared with the athlete's own baseline."""

from __future__ import annotations

from datetime import timedelta
from statistics import mean

import pytest

from tests.conftest import MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.read_tools_helpers import mara_today, ok, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


async def test_it_reads_daily_wellness_with_scales_and_baseline(mara_url: str, sandbox: Sandbox) -> None:
    end = mara_today() - timedelta(days=1)
    start = end - timedelta(days=6)
    raw = upstream(sandbox, MARA, f"/athlete/{MARA}/wellness", oldest=str(start - timedelta(days=28)), newest=str(end))
    # The latest day's baseline: the 28 days before it (whatever window was asked).
    before = [r["hrv"] for r in raw if (end - timedelta(days=28)).isoformat() <= r["id"] < end.isoformat()]
    by_day = {r["id"]: r for r in raw}
    data = await ok(mara_url, "get_wellness", {"start": start.isoformat(), "end": end.isoformat()})
    assert data["athlete"]["id"] == MARA
    assert len(data["rows"]) == 7
    for values in data["rows"]:
        row = dict(zip(data["columns"], values, strict=True))
        w = by_day[row["date"][4:]]
        assert row["hrv_ms"] == round(w["hrv"], 1)
        assert row["resting_hr_bpm"] == round(w["restingHR"])
        assert row["sleep_h"] == round(w["sleepSecs"] / 3600, 1)
        assert row["weight_kg"] == round(w["weight"], 1)
        assert row["sleep_quality"] == w.get("sleepQuality")
        phase = w.get("menstrualPhase") or w.get("menstrualPhasePredicted")  # Mara logs her cycle
        assert row["menstrual_phase"].startswith(phase.lower())
    assert data["scales"]["sleep_quality"].startswith("1 great") and "rMSSD" in data["scales"]["hrv_ms"]
    assert len(before) == 28
    window_mean, baseline_mean, latest, change = data["baseline"]["hrv_ms"]
    assert window_mean == round(
        mean(by_day[d.isoformat()]["hrv"] for d in (start + timedelta(days=i) for i in range(7))), 1
    )
    assert baseline_mean == round(mean(before), 1)
    assert latest == round(by_day[end.isoformat()]["hrv"], 1)
    assert change == round((by_day[end.isoformat()]["hrv"] - mean(before)) / mean(before) * 100, 1)
    assert "predicted" in data["scales"]["menstrual_phase"]


async def test_it_gives_a_day_the_same_baseline_whatever_the_window(mara_url: str) -> None:
    end = mara_today() - timedelta(days=1)
    answers = [
        await ok(mara_url, "get_wellness", {"start": (end - timedelta(days=days)).isoformat(), "end": end.isoformat()})
        for days in (0, 6, 13)
    ]
    for key in ("hrv_ms", "resting_hr_bpm", "sleep_h"):
        assert len({tuple(a["baseline"][key][1:]) for a in answers}) == 1, [a["baseline"][key] for a in answers]


async def test_it_gives_weekly_means_over_a_long_window(mara_url: str, sandbox: Sandbox) -> None:
    end = mara_today() - timedelta(days=1)
    data = await ok(mara_url, "get_wellness", {"start": (end - timedelta(days=89)).isoformat(), "end": end.isoformat()})
    assert 13 <= len(data["rows"]) <= 14
    assert data["rows"][0][0].startswith("week of ") and data["columns"][0] == "date"
