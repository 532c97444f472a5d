"""Sandbox access control: bearer tokens, API keys, coach permissions, scopes."""

from __future__ import annotations

import base64

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

from integrations.intervals.sandbox.state import Token

pytestmark = pytest.mark.anyio
EVENT = {"category": "NOTE", "start_date_local": "2026-03-12", "name": "Coach note"}


async def test_missing_and_invalid_credentials_401() -> None:
    async with client(shared_state()) as c:
        assert (await c.get("/api/v1/athlete/0")).status_code == 401
        r = await c.get("/api/v1/athlete/0", headers=bearer("0" * 32))
        assert r.status_code == 401 and r.json()["status"] == 401
        bad = base64.b64encode(b"API_KEY:nope").decode()
        assert (await c.get("/api/v1/athlete/0", headers={"Authorization": f"Basic {bad}"})).status_code == 401


async def test_api_key_sent_as_bearer_is_access_denied() -> None:
    st = shared_state()
    async with client(st) as c:
        r = await c.get("/api/v1/athlete/0", headers=bearer(st.api_key(MARA)))
    assert r.status_code == 403 and r.json() == {"status": 403, "error": "Access denied"}


async def test_bearer_reaches_only_its_athlete() -> None:
    st = shared_state()
    h = bearer(st.demo_token(MARA))
    async with client(st) as c:
        for aid in ("0", MARA, "100001"):
            r = await c.get(f"/api/v1/athlete/{aid}", headers=h)
            assert r.status_code == 200 and r.json()["id"] == MARA
        for aid in (DIEGO, "100002", "i999999"):
            r = await c.get(f"/api/v1/athlete/{aid}/wellness", headers=h)
            assert r.status_code == 403 and r.json() == {"status": 403, "error": "Access denied"}
        diego_act = st.athletes[DIEGO].activities[-1].id
        assert (await c.get(f"/api/v1/activity/{diego_act}", headers=h)).status_code == 403
        r = await c.get("/api/v1/athletes", headers=h)
        assert r.status_code == 403 and "API_KEY" in r.json()["error"]
        r = await c.get("/api/v1/athlete/0/athlete-summary", headers=h)
        assert {row["athlete_id"] for row in r.json()} == {MARA}


async def test_scope_enforcement_per_area() -> None:
    st = new_state()
    st.tokens["a" * 32] = Token("a" * 32, MARA, ("ACTIVITY:READ", "CALENDAR:READ"), "threshold-dev", 0.0)
    h = bearer("a" * 32)
    async with client(st) as c:
        assert (await c.get("/api/v1/athlete/0/activities?oldest=2026-03-01", headers=h)).status_code == 200
        assert (await c.get("/api/v1/athlete/0/events", headers=h)).status_code == 200
        for path in (
            "/api/v1/athlete/0",
            "/api/v1/athlete/0/wellness",
            "/api/v1/athlete/0/folders",
            "/api/v1/athlete/0/sport-settings",
        ):
            r = await c.get(path, headers=h)
            assert r.status_code == 403 and r.json()["status"] == 403, path
        r = await c.post("/api/v1/athlete/0/events", headers=h, json=EVENT)
        assert r.status_code == 403 and "CALENDAR:WRITE" in r.json()["error"]
        act = st.athletes[MARA].activities[-1].id
        assert (await c.get(f"/api/v1/activity/{act}/messages", headers=h)).status_code == 403


async def test_coach_api_key_roster_and_permissions() -> None:
    st = new_state()
    h = api_key(st, SAM)
    async with client(st) as c:
        r = await c.get("/api/v1/athletes", headers=h)
        assert r.status_code == 200
        roster = {row["id"]: row for row in r.json()}
        assert set(roster) == {SAM, MARA, DIEGO, AROHA}
        assert roster[MARA]["icu_permission"] == "WRITE" and roster[DIEGO]["icu_permission"] == "READ"
        assert "icu_api_key" not in roster[MARA] and roster[SAM]["icu_api_key"] == st.api_key(SAM)
        # READ athlete: reads ok, writes forbidden
        assert (await c.get(f"/api/v1/athlete/{DIEGO}/wellness", headers=h)).status_code == 200
        r = await c.post(f"/api/v1/athlete/{DIEGO}/events", headers=h, json=EVENT)
        assert r.status_code == 403
        # WRITE athlete: writes ok and are attributed to the coach
        r = await c.post(f"/api/v1/athlete/{MARA}/events", headers=h, json=EVENT)
        assert r.status_code == 200 and r.json()["created_by_id"] == SAM
        r = await c.get(f"/api/v1/athlete/{SAM}/athlete-summary", headers=h)
        assert {row["athlete_id"] for row in r.json()} == {SAM, MARA, DIEGO, AROHA}
        # athletes cannot reach their coach or each other with their own keys
        assert (await c.get(f"/api/v1/athlete/{SAM}", headers=api_key(st, MARA))).status_code == 403
        assert (await c.get(f"/api/v1/athlete/{DIEGO}", headers=api_key(st, MARA))).status_code == 403
        assert (await c.get("/api/v1/athlete/i123456", headers=h)).status_code == 404


async def test_extra_athletes_in_roster() -> None:
    st = new_state(extra_athletes=6)
    async with client(st) as c:
        r = await c.get("/api/v1/athletes", headers=api_key(st, SAM))
    perms = [row["icu_permission"] for row in r.json()[4:]]
    assert len(r.json()) == 10 and set(perms) == {"READ", "WRITE"}
    assert len(st.generated()) == 10
    async with client(st) as c:
        r = await c.post("/_sandbox/warm")
    assert r.json()["athletes"] == 10
