"""Every sandbox endpoint's real responses validate against the vendored OpenAPI document."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from sandbox_conftest_helpers import (  # noqa: F401
    AROHA,
    DIEGO,
    MARA,
    SAM,
    _clean_redis,
    _upstream_settings,
    anyio_backend,
    api_key,
    bearer,
    client,
    new_state,
    shared_state,
)

from integrations.intervals.sandbox.openapi_check import template_for, validate_response

pytestmark = pytest.mark.anyio

GETS = [
    ("/api/v1/athlete/{id}", "/api/v1/athlete/0"),
    ("/api/v1/athlete/{id}", "/api/v1/athlete/100003"),
    ("/api/v1/athlete/{id}/profile", "/api/v1/athlete/0/profile"),
    ("/api/v1/athlete/{athleteId}/sport-settings", "/api/v1/athlete/0/sport-settings"),
    ("/api/v1/athlete/{athleteId}/sport-settings/{id}", "/api/v1/athlete/0/sport-settings/Run"),
    ("/api/v1/athlete/{id}/connections", "/api/v1/athlete/0/connections"),
    ("/api/v1/athlete/{id}/activities", "/api/v1/athlete/0/activities?oldest=2025-08-01"),
    ("/api/v1/athlete/{id}/activities/search", "/api/v1/athlete/0/activities/search?q=run"),
    ("/api/v1/athlete/{id}/wellness{ext}", "/api/v1/athlete/0/wellness.json?oldest=2026-02-20&newest=2026-04-01"),
    ("/api/v1/athlete/{id}/wellness/{date}", "/api/v1/athlete/0/wellness/2026-03-01"),
    ("/api/v1/athlete/{id}/events{format}", "/api/v1/athlete/0/events?oldest=2026-01-01&newest=2026-05-01"),
    ("/api/v1/athlete/{id}/folders", "/api/v1/athlete/0/folders"),
    ("/api/v1/athlete/{id}/workouts", "/api/v1/athlete/0/workouts"),
    ("/api/v1/athlete/{id}/power-curves{ext}", "/api/v1/athlete/0/power-curves?type=Ride&curves=42d,90d,1y,s0,s1,all"),
    ("/api/v1/athlete/{id}/pace-curves{ext}", "/api/v1/athlete/0/pace-curves.json?type=Run&curves=90d"),
    ("/api/v1/athlete/{id}/hr-curves{ext}", "/api/v1/athlete/0/hr-curves?curves=r.2026-01-01.2026-03-01"),
    ("/api/v1/athlete/{id}/athlete-summary{ext}", "/api/v1/athlete/0/athlete-summary?start=2026-02-01"),
]


def _check(method: str, template: str, status: int, body: Any) -> None:
    validate_response(method, template, status, body)


@pytest.mark.parametrize(("template", "url"), GETS)
async def test_athlete_endpoints_match_schema(template: str, url: str) -> None:
    st = shared_state()
    async with client(st) as c:
        r = await c.get(url, headers=bearer(st.demo_token(AROHA)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body or body == []
    _check("GET", template, 200, body)
    assert template_for(url.split("?")[0].replace("/0/", f"/{AROHA}/")) == template


async def test_activity_endpoints_match_schema() -> None:
    st = shared_state()
    h = bearer(st.demo_token(MARA))
    data = st.athletes[MARA]
    outdoor = next(a for a in reversed(data.activities) if not a.stub and not a.ctx.indoor and a.ctx.power)
    async with client(st) as c:
        for aid in (outdoor.id, data.activities[-1].id):
            for suffix, tpl in [
                ("", "/api/v1/activity/{id}"),
                ("?intervals=true", "/api/v1/activity/{id}"),
                ("/intervals", "/api/v1/activity/{id}/intervals"),
                ("/streams.json", "/api/v1/activity/{id}/streams{ext}"),
                ("/streams?types=watts,heartrate,latlng", "/api/v1/activity/{id}/streams{ext}"),
                ("/best-efforts?stream=watts&duration=300&count=3", "/api/v1/activity/{id}/best-efforts"),
                ("/best-efforts?stream=heartrate&distance=5000", "/api/v1/activity/{id}/best-efforts"),
                ("/power-curve", "/api/v1/activity/{id}/power-curve{ext}"),
                ("/messages", "/api/v1/activity/{id}/messages"),
            ]:
                r = await c.get(f"/api/v1/activity/{aid}{suffix}", headers=h)
                assert r.status_code == 200, (suffix, r.text)
                _check("GET", tpl, 200, r.json())
        for aid in (outdoor.id, f"{outdoor.id},{data.activities[-1].id},i1"):
            r = await c.get(f"/api/v1/athlete/0/activities/{aid}?intervals=true", headers=h)
            assert r.status_code == 200, r.text
            _check("GET", "/api/v1/athlete/{athleteId}/activities/{ids}", 200, r.json())
            assert [a["id"] for a in r.json()] == [x for x in aid.split(",") if x != "i1"]
        foreign = next(a for a in st.athletes[DIEGO].activities if not a.stub).id
        r = await c.get(f"/api/v1/athlete/0/activities/{foreign}", headers=h)
        assert r.status_code == 200 and r.json() == []  # another athlete's id is ignored, like a missing one
        r = await c.get(f"/api/v1/activity/{outdoor.id}?intervals=true", headers=h)
        body = r.json()
        assert body["icu_intervals"] and {"WORK", "RECOVERY"} >= {i["type"] for i in body["icu_intervals"]}
        streams = (await c.get(f"/api/v1/activity/{outdoor.id}/streams?types=latlng,watts", headers=h)).json()
        assert [s["type"] for s in streams] == ["watts", "latlng"]
        assert len(streams[1]["data"]) == len(streams[1]["data2"]) == outdoor.data["moving_time"]


async def test_strava_stub_shape_everywhere() -> None:
    st = shared_state()
    h = bearer(st.demo_token(MARA))
    stub = next(a for a in st.athletes[MARA].activities if a.stub)
    expected = {
        "id": stub.id,
        "icu_athlete_id": MARA,
        "start_date_local": stub.data["start_date_local"],
        "source": "STRAVA",
        "_note": "STRAVA activities are not available via the API",
    }
    assert stub.id.isdigit()
    async with client(st) as c:
        listed = (await c.get("/api/v1/athlete/0/activities?oldest=2025-01-01", headers=h)).json()
        assert expected in listed
        r = await c.get(f"/api/v1/activity/{stub.id}", headers=h)
        assert r.json() == expected
        _check("GET", "/api/v1/activity/{id}", 200, r.json())
        jsonschema.validate(
            r.json(),
            {
                "type": "object",
                "required": list(expected),
                "additionalProperties": False,
                "properties": {k: {"type": "string"} for k in expected},
            },
        )
        for suffix in ("/streams", "/intervals", "/best-efforts?stream=watts&duration=60"):
            r = await c.get(f"/api/v1/activity/{stub.id}{suffix}", headers=h)
            assert r.status_code == 422
            assert r.json() == {"status": 422, "error": "Cannot read Strava activities via the API"}


async def test_write_endpoints_match_schema() -> None:
    st = new_state()
    h = bearer(st.demo_token(MARA))
    async with client(st) as c:
        body = {
            "category": "WORKOUT",
            "start_date_local": "2026-03-14T00:00:00",
            "type": "Ride",
            "name": "Sweet spot",
            "description": "Warmup\n- 10m 55%\n\nMain Set 3x\n- 10m 88-94%\n- 5m 55%\n\nCooldown\n- 10m 50%",
            "external_id": "plan-1",
        }
        r = await c.post("/api/v1/athlete/0/events", headers=h, json=body)
        _check("POST", "/api/v1/athlete/{id}/events", 200, r.json())
        eid = r.json()["id"]
        r = await c.put(f"/api/v1/athlete/0/events/{eid}", headers=h, json={"name": "SS 3x10"})
        _check("PUT", "/api/v1/athlete/{id}/events/{eventId}", 200, r.json())
        r = await c.get(f"/api/v1/athlete/0/events/{eid}", headers=h)
        _check("GET", "/api/v1/athlete/{id}/events/{eventId}", 200, r.json())
        r = await c.post("/api/v1/athlete/0/events/bulk?upsert=true", headers=h, json=[body])
        _check("POST", "/api/v1/athlete/{id}/events/bulk", 200, r.json())
        assert [e["id"] for e in r.json()] == [eid]  # upserted on external_id for the same OAuth client
        r = await c.put("/api/v1/athlete/0/events/bulk-delete", headers=h, json=[{"external_id": "plan-1"}])
        _check("PUT", "/api/v1/athlete/{id}/events/bulk-delete", 200, r.json())
        assert r.json() == {"eventsDeleted": 1}
        r = await c.post("/api/v1/athlete/0/events", headers=h, json={**body, "category": "NOTE"})
        eid = r.json()["id"]
        r = await c.put("/api/v1/athlete/0/wellness/2026-03-10", headers=h, json={"weight": 61.5, "soreness": 2})
        _check("PUT", "/api/v1/athlete/{id}/wellness/{date}", 200, r.json())
        folders = (await c.get("/api/v1/athlete/0/folders", headers=h)).json()
        r = await c.post(
            "/api/v1/athlete/0/workouts",
            headers=h,
            json={
                "folder_id": folders[0]["id"],
                "name": "VO2",
                "type": "Ride",
                "description": "- 5x\n- 3m 120%\n- 3m 50%",
            },
        )
        _check("POST", "/api/v1/athlete/{id}/workouts", 200, r.json())
        r = await c.get(f"/api/v1/athlete/0/workouts/{r.json()['id']}", headers=h)
        _check("GET", "/api/v1/athlete/{id}/workouts/{workoutId}", 200, r.json())
        act = st.athletes[MARA].activities[-2].id
        r = await c.post(f"/api/v1/activity/{act}/messages", headers=h, json={"content": "Felt good"})
        _check("POST", "/api/v1/activity/{id}/messages", 200, r.json())
        r = await c.get("/api/v1/athletes", headers=api_key(st, SAM))
        _check("GET", "/api/v1/athletes", 200, r.json())
        r = await c.delete(f"/api/v1/athlete/0/events/{eid}", headers=h)
        assert r.status_code == 200 and r.json() == {}
        _check("DELETE", "/api/v1/athlete/{id}/events/{eventId}", 200, r.json())


async def test_validator_rejects_wrong_types() -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate_response("GET", "/api/v1/athlete/{id}/wellness/{date}", 200, {"id": "2026-01-01", "ctl": "high"})
    with pytest.raises(jsonschema.ValidationError):
        validate_response("GET", "/api/v1/athlete/{id}/activities", 200, [{"icu_training_load": 1.5}])
    validate_response(
        "GET", "/api/v1/athlete/{id}/activities", 200, [{"id": "i1", "custom_field": 3, "description": None}]
    )
    assert template_for("/api/v1/athlete/i1/wellness/2026-01-01") == "/api/v1/athlete/{id}/wellness/{date}"
    assert template_for("/api/v1/athlete/i1/events/bulk-delete", "PUT") == "/api/v1/athlete/{id}/events/bulk-delete"


async def test_errors_shapes() -> None:
    st = shared_state()
    h = bearer(st.demo_token(MARA))
    async with client(st) as c:
        r = await c.get("/api/v1/athlete/0/activities", headers=h)
        assert r.status_code == 422 and "oldest" in r.json()["error"]
        r = await c.get("/api/v1/athlete/0/power-curves", headers=h)
        assert r.status_code == 422 and "type" in r.json()["error"]
        r = await c.get("/api/v1/athlete/0/power-curves?type=Ride&curves=bogus", headers=h)
        assert r.status_code == 422
        r = await c.get("/api/v1/activity/i1/intervals", headers=h)
        assert r.status_code == 404 and r.json()["status"] == 404
        r = await c.get("/api/v1/athlete/0/events/123", headers=h)
        assert r.status_code == 404
        r = await c.get("/api/v1/no/such/route", headers=h)
        assert r.status_code == 404 and set(r.json()) == {"timestamp", "status", "error", "path"}
        r = await c.patch("/api/v1/athlete/0/folders", headers=h)
        assert r.status_code == 405
        r = await c.post("/api/v1/athlete/0/events", headers=h, json={"start_date_local": "2026-03-12"})
        assert r.status_code == 422 and "category" in r.json()["error"]
        r = await c.post(
            "/api/v1/athlete/0/events",
            headers=h,
            json={"category": "RACE_A", "start_date_local": "2026-03-12", "name": "Race"},
        )
        assert r.status_code == 422 and "type" in r.json()["error"]
