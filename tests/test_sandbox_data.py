"""Seeded data: determinism, history depth, fitness maths, writes, persistence, performance."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from sandbox_conftest_helpers import (  # noqa: F401
    AROHA,
    DIEGO,
    MARA,
    SAM,
    TODAY,
    _clean_redis,
    _upstream_settings,
    anyio_backend,
    bearer,
    client,
    new_state,
    shared_state,
)

from integrations.intervals import load

pytestmark = pytest.mark.anyio


def test_seeded_athletes() -> None:
    st = shared_state()
    expect = {
        MARA: ("Mara Lindqvist", "Europe/Stockholm", "F"),
        DIEGO: ("Diego Alvarez", "America/Denver", "M"),
        AROHA: ("Aroha Ngata", "Pacific/Auckland", "F"),
        SAM: ("Sam Okafor", "Europe/London", "M"),
    }
    for aid, (name, tz, sex) in expect.items():
        p = st.athletes[aid].profile
        assert (p["name"], p["timezone"], p["sex"]) == (name, tz, sex)
        assert "SECRET" in p["email"] and "SECRET" in p["icu_api_key"] and "SECRET" in p["icu_friend_invite_token"]
    ride = st.athletes[MARA].settings_for("VirtualRide")
    assert ride is not None and ride["ftp"] == 265 and ride["lthr"] == 168
    assert ride["power_zones"] == [55, 75, 90, 105, 120, 150, 999]
    run = st.athletes[DIEGO].settings_for("Run")
    assert run is not None and run["threshold_pace"] == pytest.approx(1000 / 245, abs=0.01)
    assert {t for s in st.athletes[AROHA].settings for t in s["types"]} >= {"Swim", "Ride", "Run"}
    assert st.specs[SAM].coached == {MARA: "WRITE", DIEGO: "READ", AROHA: "WRITE"}


def test_deterministic_for_seed_and_today() -> None:
    a, b = new_state(), new_state()
    for aid in (MARA, DIEGO):
        da, db = a.athletes[aid], b.athletes[aid]
        assert [r.data for r in da.activities] == [r.data for r in db.activities]
        assert da.events.keys() == db.events.keys()
        assert a.wellness_row(da, TODAY) == b.wellness_row(db, TODAY)
        assert a.demo_token(aid) == b.demo_token(aid) and a.api_key(aid) == b.api_key(aid)
    other = new_state(seed=8)
    assert other.demo_token(MARA) != a.demo_token(MARA)
    assert [r.id for r in other.athletes[MARA].activities] != [r.id for r in a.athletes[MARA].activities]


def test_history_depth_and_realism() -> None:
    st = shared_state()
    for aid in (MARA, DIEGO, AROHA, SAM):
        acts = st.athletes[aid].activities
        assert (TODAY - acts[0].day).days >= 180 and acts[-1].day < TODAY
        assert all(a.id.startswith("i") != a.stub for a in acts)
        assert len({a.day.weekday() for a in acts}) >= 4
    mara = [a.data for a in st.athletes[MARA].activities if not a.stub]
    assert sum(1 for a in st.athletes[MARA].activities if a.stub) >= 2
    for a in mara:
        expected = a["moving_time"] / 3600 * (a["icu_weighted_avg_watts"] / a["icu_ftp"]) ** 2 * 100
        assert a["icu_training_load"] == pytest.approx(expected, rel=0.03, abs=1.5)
        assert a["icu_intensity"] == pytest.approx(a["icu_weighted_avg_watts"] / a["icu_ftp"] * 100, abs=0.6)
        assert a["start_date"].endswith("Z") and len(a["start_date_local"]) == 19
    assert any(a.get("race") for a in mara) and any(a.get("paired_event_id") for a in mara)
    assert any(a["trainer"] for a in mara) and any(not a["trainer"] for a in mara)


def test_wellness_ctl_matches_load_module() -> None:
    st = shared_state()
    data = st.athletes[MARA]
    loads: dict[dt.date, float] = {}
    for a in data.activities:
        loads[a.day] = loads.get(a.day, 0.0) + float(a.data.get("icu_training_load") or a.load)
    series = {r.date: r for r in load.fitness_series(loads, data.history_start, TODAY)}
    for day in (data.history_start, TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=1)):
        row = st.wellness_row(data, day)
        assert row is not None
        assert row["ctl"] == pytest.approx(series[day].ctl) and row["atl"] == pytest.approx(series[day].atl)
        assert row["rampRate"] == pytest.approx(series[day].ramp_rate)
    assert 30 < series[TODAY - dt.timedelta(days=1)].ctl < 120


async def test_event_post_computes_load_and_moves_projection() -> None:
    st = new_state()
    h = bearer(st.demo_token(MARA))
    day = TODAY + dt.timedelta(days=2)
    async with client(st) as c:
        before = (await c.get(f"/api/v1/athlete/0/wellness/{day + dt.timedelta(days=1)}", headers=h)).json()
        r = await c.post(
            "/api/v1/athlete/0/events",
            headers=h,
            json={
                "category": "WORKOUT",
                "start_date_local": f"{day}T00:00:00",
                "type": "Ride",
                "name": "FTP hour",
                "description": "- 60m 100%",
            },
        )
        ev = r.json()
        assert ev["icu_training_load"] == pytest.approx(100, abs=1)
        assert ev["moving_time"] == 3600 and ev["icu_intensity"] == pytest.approx(100, abs=0.5)
        assert ev["workout_doc"]["steps"] and ev["end_date_local"] == f"{day + dt.timedelta(days=1)}T00:00:00"
        after = (await c.get(f"/api/v1/athlete/0/wellness/{day + dt.timedelta(days=1)}", headers=h)).json()
        assert after["ctl"] > before["ctl"] and after["atl"] > before["atl"]
        # PUT recomputes from new text
        r = await c.put(f"/api/v1/athlete/0/events/{ev['id']}", headers=h, json={"description": "- 30m 100%"})
        assert r.json()["icu_training_load"] == pytest.approx(50, abs=1) and r.json()["name"] == "FTP hour"
        # default window: today .. today+6 in the athlete's tz
        listed = (await c.get("/api/v1/athlete/0/events", headers=h)).json()
        assert ev["id"] in [e["id"] for e in listed]
        assert all(
            TODAY.isoformat() <= e["start_date_local"][:10] <= (TODAY + dt.timedelta(days=6)).isoformat()
            for e in listed
        )
        cats = {
            e["category"]
            for e in (
                await c.get(
                    "/api/v1/athlete/0/events?oldest=2026-03-01&newest=2026-05-15&category=RACE_A,RACE_B,RACE_C",
                    headers=h,
                )
            ).json()
        }
        assert cats == {"RACE_A", "RACE_B", "RACE_C"}


async def test_activity_list_filters() -> None:
    st = shared_state()
    h = bearer(st.demo_token(DIEGO))
    async with client(st) as c:
        r = await c.get(
            "/api/v1/athlete/0/activities?oldest=2026-02-01&newest=2026-02-28&fields=id,name,"
            "start_date_local,icu_training_load,description&limit=5",
            headers=h,
        )
        rows = r.json()
        assert len(rows) == 5 and rows[0]["start_date_local"] > rows[-1]["start_date_local"]
        assert all(set(x) <= {"id", "name", "start_date_local", "icu_training_load"} for x in rows)
        r = await c.get("/api/v1/athlete/0/wellness?oldest=2026-03-01&newest=2026-03-05&fields=id,hrv,ctl", headers=h)
        assert [w["id"] for w in r.json()] == [f"2026-03-0{d}" for d in range(1, 6)]
        assert all(set(w) == {"id", "hrv", "ctl"} for w in r.json())


async def test_wellness_put_partial_and_bulk() -> None:
    st = new_state()
    h = bearer(st.demo_token(AROHA))
    async with client(st) as c:
        orig = (await c.get("/api/v1/athlete/0/wellness/2026-03-09", headers=h)).json()
        r = await c.put("/api/v1/athlete/0/wellness/2026-03-09", headers=h, json={"soreness": 4, "ctl": 1})
        assert r.json()["soreness"] == 4 and r.json()["hrv"] == orig["hrv"] and r.json()["ctl"] == orig["ctl"]
        r = await c.put(
            "/api/v1/athlete/0/wellness-bulk",
            headers=h,
            json=[{"id": "2026-03-20", "comments": "future note"}, {"id": "2026-03-08", "mood": 1}],
        )
        assert r.status_code == 200
        assert (await c.get("/api/v1/athlete/0/wellness/2026-03-20", headers=h)).json()["comments"] == "future note"
        assert (await c.put("/api/v1/athlete/0/wellness/2026-13-01", headers=h, json={})).status_code == 422


async def test_persistence_across_instances(tmp_path: Path) -> None:
    path = str(tmp_path / "sandbox.json")
    st = new_state(state_file=path)
    h = bearer(st.demo_token(MARA))
    async with client(st) as c:
        ev = (
            await c.post(
                "/api/v1/athlete/0/events",
                headers=h,
                json={"category": "NOTE", "start_date_local": "2026-03-11", "name": "Keep me"},
            )
        ).json()
        gone = next(e for e in st.athletes[MARA].events.values() if e["category"] == "WORKOUT")["id"]
        assert (await c.delete(f"/api/v1/athlete/0/events/{gone}", headers=h)).status_code == 200
        await c.put("/api/v1/athlete/0/wellness/2026-03-10", headers=h, json={"comments": "persisted"})
        act = st.athletes[MARA].activities[-1].id
        await c.post(f"/api/v1/activity/{act}/messages", headers=h, json={"content": "hello"})
    code = st.issue_code("threshold-dev", DIEGO, ("ACTIVITY:READ",), "http://127.0.0.1/cb")
    tok = st.exchange_code("threshold-dev", code)
    assert not isinstance(tok, str)
    assert json.loads(Path(path).read_text())["journal"]["events"]

    st2 = new_state(state_file=path)
    async with client(st2) as c:
        assert (await c.get(f"/api/v1/athlete/0/events/{ev['id']}", headers=h)).json()["name"] == "Keep me"
        assert (await c.get(f"/api/v1/athlete/0/events/{gone}", headers=h)).status_code == 404
        w = (await c.get("/api/v1/athlete/0/wellness/2026-03-10", headers=h)).json()
        assert w["comments"] == "persisted"
        msgs = (await c.get(f"/api/v1/activity/{act}/messages", headers=h)).json()
        assert msgs[-1]["content"] == "hello"
        r = await c.get("/api/v1/athlete/0/activities?oldest=2026-03-01", headers=bearer(tok.token))
        assert r.status_code == 200 and r.json()[0]["icu_athlete_id"] == DIEGO
        # new ids keep increasing after restart
        ev2 = (
            await c.post(
                "/api/v1/athlete/0/events",
                headers=h,
                json={"category": "NOTE", "start_date_local": "2026-03-12", "name": "Next"},
            )
        ).json()
        assert ev2["id"] > ev["id"]
        # revocation persists too
        await c.delete("/api/v1/disconnect-app", headers=h)
    st3 = new_state(state_file=path)
    async with client(st3) as c:
        assert (await c.get("/api/v1/athlete/0", headers=h)).status_code == 401


async def test_messages_and_coach_threads() -> None:
    st = new_state()
    data = st.athletes[MARA]
    threads = [m for m in data.messages.values() if m]
    assert threads and any(t[-1]["athlete_id"] == SAM for t in threads)  # coach awaiting a reply
    act = next(a for a in reversed(data.activities) if a.id not in data.messages and not a.stub)
    async with client(st) as c:
        r = await c.post(
            f"/api/v1/activity/{act.id}/messages", headers=bearer(st.demo_token(MARA)), json={"content": "First!"}
        )
        body = r.json()
        assert isinstance(body["id"], int) and body["new_chat"]["type"] == "ACTIVITY"
        r = await c.post(
            f"/api/v1/activity/{act.id}/messages", headers=bearer(st.demo_token(MARA)), json={"content": "Second"}
        )
        assert r.json()["new_chat"] is None
        msgs = (await c.get(f"/api/v1/activity/{act.id}/messages", headers=bearer(st.demo_token(MARA)))).json()
        assert [m["content"] for m in msgs] == ["First!", "Second"]


async def test_curves_and_best_efforts() -> None:
    st = shared_state()
    h = bearer(st.demo_token(MARA))
    async with client(st) as c:
        body = (await c.get("/api/v1/athlete/0/power-curves?type=Ride&curves=42d,1y", headers=h)).json()
        c42, c1y = body["list"]
        assert c42["id"] == "42d" and c42["days"] == 42
        by42, by1y = (
            dict(zip(c42["secs"], c42["values"], strict=True)),
            dict(zip(c1y["secs"], c1y["values"], strict=True)),
        )
        assert all(by1y[s] >= v for s, v in by42.items())
        assert 230 < by1y[1200] < 290 and by1y[5] > by1y[60] > by1y[1200] > by1y[3600]
        assert set(body["activities"]) == set(c1y["activity_id"]) | set(c42["activity_id"])
        pace = (await c.get("/api/v1/athlete/0/pace-curves?curves=90d", headers=bearer(st.demo_token(DIEGO)))).json()
        d = dict(zip(pace["list"][0]["distance"], pace["list"][0]["values"], strict=True))
        assert 4.0 * 60 * 5 < d[5000] < 5.5 * 60 * 5  # ~4:05/km threshold → 5k in ~20-27 min
        act = next(a for a in reversed(st.athletes[MARA].activities) if a.data.get("interval_summary"))
        eff = (
            await c.get(f"/api/v1/activity/{act.id}/best-efforts?stream=watts&duration=60&count=3", headers=h)
        ).json()["efforts"]
        assert len(eff) == 3 and eff[0]["average"] >= eff[1]["average"] >= eff[2]["average"]
        assert all(e["duration"] == 60 for e in eff)


def test_creation_is_fast() -> None:
    t0 = time.perf_counter()
    st = new_state()
    assert time.perf_counter() - t0 < 0.5
    t0 = time.perf_counter()
    for aid in (MARA, DIEGO, AROHA, SAM):
        st.athletes[aid]
    assert time.perf_counter() - t0 < 2.0
    t0 = time.perf_counter()
    new_state(extra_athletes=50)
    assert time.perf_counter() - t0 < 1.0


async def test_it_serialises_every_activity_property_nulls_included_like_the_real_api() -> None:
    """Jackson writes Java nulls: a full activity carries all ~180 Activity properties (the raw payload the
    context-size benchmark compares our answers with), and each interval every Interval property."""
    from integrations.intervals.sandbox.http import schema_properties

    st = shared_state()
    h = bearer(st.demo_token(MARA))
    async with client(st) as c:
        rows = (await c.get("/api/v1/athlete/0/activities?oldest=2026-02-01&newest=2026-02-14", headers=h)).json()
        ride = next(r for r in rows if r.get("source") != "STRAVA" and r["type"] == "Ride")
        assert set(schema_properties("Activity")) <= set(ride)
        assert ride["icu_pm_cp"] is None and ride["icu_training_load_data"] == round(ride["icu_training_load"])
        detail = (await c.get(f"/api/v1/activity/{ride['id']}?intervals=true", headers=h)).json()
        assert detail["icu_intervals"] and all(
            set(schema_properties("Interval")) <= set(iv) for iv in detail["icu_intervals"]
        )
        assert detail["icu_rolling_cp"] > 0 and detail["power_meter"]
        # `fields=` is the documented way to get a compact answer: it drops the nulls.
        slim = (
            await c.get(
                "/api/v1/athlete/0/activities?oldest=2026-02-01&newest=2026-02-14&fields=id,icu_pm_cp", headers=h
            )
        ).json()
        assert all(set(r) == {"id"} for r in slim)
