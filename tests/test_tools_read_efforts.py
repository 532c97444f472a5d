"""get_best_efforts and get_power_curves end to end, checked against the sandbox's curves."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import DIEGO, MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.read_tools_helpers import error_text, mara_today, ok, upstream

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


def curve(sandbox: Sandbox, athlete: str, kind: str, spec: str, sport: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = upstream(sandbox, athlete, f"/athlete/{athlete}/{kind}-curves", curves=spec, type=sport)
    return body["list"][0], body["activities"]


async def test_it_finds_the_best_power_for_chosen_durations(mara_url: str, sandbox: Sandbox) -> None:
    end = mara_today()
    start = end - timedelta(days=59)
    truth, acts = curve(sandbox, MARA, "power", f"r.{start}.{end}", "Ride")
    data = await ok(mara_url, "get_best_efforts", {"start": str(start), "end": str(end), "durations_s": [300, 1200]})
    assert data["athlete"]["id"] == MARA and data["sport"] == "Ride"
    five = data["efforts"][0]
    i = truth["secs"].index(300)
    assert five["over"] == "5m" and five["value"] == truth["values"][i]
    assert five["activity_id"] == truth["activity_id"][i]
    assert five["activity"] == {"untrusted": acts[truth["activity_id"][i]]["name"]}
    assert five["date"].endswith(acts[truth["activity_id"][i]]["start_date_local"][:10])
    assert five["w_per_kg"] == truth["watts_per_kg"][i]
    assert data["efforts"][1]["over"] == "20m"


async def test_it_finds_the_best_pace_for_distances(diego_url: str, sandbox: Sandbox) -> None:
    end = mara_today()
    start = end - timedelta(days=89)
    truth, _ = curve(sandbox, DIEGO, "pace", f"r.{start}.{end}", "Run")
    data = await ok(diego_url, "get_best_efforts", {"metric": "pace", "distances_m": [5000]})
    best = data["efforts"][0]
    seconds = truth["values"][truth["distance"].index(5000.0)]
    assert best["over"] == "5 km" and best["value"] == seconds
    pace = round(seconds / 5)
    assert best["pace"] == f"{pace // 60}:{pace % 60:02d}/km"
    wrong = await error_text(diego_url, "get_best_efforts", {"metric": "pace", "durations_s": [60]})
    assert "distances_m" in wrong


async def test_it_puts_two_periods_side_by_side(mara_url: str, sandbox: Sandbox) -> None:
    end = mara_today()
    recent, older = f"{end - timedelta(days=41)}..{end}", f"{end - timedelta(days=125)}..{end - timedelta(days=84)}"
    first, _ = curve(sandbox, MARA, "power", "r." + recent.replace("..", "."), "Ride")
    second, _ = curve(sandbox, MARA, "power", "r." + older.replace("..", "."), "Ride")
    data = await ok(mara_url, "get_power_curves", {"periods": [recent, older]}, mode="auto")
    assert len(data["periods"]) == 2
    row = next(r for r in data["rows"] if r["at"] == "20m")
    a, b = first["values"][first["secs"].index(1200)], second["values"][second["secs"].index(1200)]
    assert (row["first"], row["second"]) == (a, b)
    assert row["change_pct"] == round((a - b) / b * 100, 1)
    assert len(data["rows"]) <= 11, "a compact set of standard points, not the full curve"
    bad = await error_text(mara_url, "get_power_curves", {"periods": ["last summer"]})
    assert "periods" in bad
