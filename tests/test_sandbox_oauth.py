"""OAuth emulation of the Intervals.icu sandbox, end to end through httpx."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sandbox_conftest_helpers import (  # noqa: F401
    BASE,
    MARA,
    _clean_redis,
    _upstream_settings,
    anyio_backend,
    bearer,
    client,
    new_state,
)
from starlette.applications import Starlette
from starlette.routing import Mount

from integrations.intervals.sandbox import create_app

pytestmark = pytest.mark.anyio
REDIRECT = "http://127.0.0.1:8000/intervals/callback"
SCOPES = "ACTIVITY:READ,WELLNESS:READ,CALENDAR:WRITE,SETTINGS:READ"


def _form(html: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    assert action
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    return action.group(1), hidden


async def _authorize(
    c: httpx.AsyncClient,
    prefix: str = "",
    scope: str = SCOPES,
    untick: tuple[str, ...] = (),
    decision: str = "approve",
    athlete: str = MARA,
) -> httpx.Response:
    r = await c.get(
        f"{prefix}/oauth/authorize",
        params={"client_id": "threshold-dev", "redirect_uri": REDIRECT, "scope": scope, "state": "xyz"},
    )
    assert r.status_code == 200, r.text
    action, hidden = _form(r.text)
    ticked = re.findall(r'<input type="checkbox" name="scope" value="([^"]+)" checked>', r.text)
    data: dict[str, str | list[str]] = {
        **hidden,
        "athlete": athlete,
        "decision": decision,
        "scope": [s for s in ticked if s not in untick],
    }
    return await c.post(action, data=data)


async def test_authorize_page_lists_scopes_and_athletes() -> None:
    async with client(new_state()) as c:
        r = await c.get(
            "/oauth/authorize",
            params={
                "client_id": "threshold-dev",
                "redirect_uri": REDIRECT,
                "scope": "ACTIVITY:READ%2CWELLNESS:WRITE",
                "state": "s",
            },
        )
    assert r.status_code == 200
    assert "Intervals.icu (sandbox)" in r.text
    assert '<select id="athlete" name="athlete">' in r.text and "Mara Lindqvist" in r.text
    assert re.findall(r'name="scope" value="([^"]+)" checked', r.text) == ["ACTIVITY:READ", "WELLNESS:WRITE"]
    assert ">Approve</button>" in r.text and ">Deny</button>" in r.text


async def test_full_flow_with_unticked_scope() -> None:
    state = new_state()
    async with client(state) as c:
        r = await _authorize(c, untick=("WELLNESS:READ",))
        assert r.status_code == 302
        loc = urlsplit(r.headers["location"])
        q = parse_qs(loc.query)
        assert f"{loc.scheme}://{loc.netloc}{loc.path}" == REDIRECT and q["state"] == ["xyz"]
        code = q["code"][0]
        assert re.fullmatch(r"[0-9a-f]{32}", code)
        r = await c.post(
            "/api/oauth/token",
            data={
                "client_id": "threshold-dev",
                "client_secret": "threshold-dev-secret",
                "code": code,
                "grant_type": "authorization_code",
            },
        )
        assert r.status_code == 200, r.text
        tok = r.json()
        assert tok["token_type"] == "Bearer" and re.fullmatch(r"[0-9a-f]{32}", tok["access_token"])
        assert tok["athlete"] == {"id": "100001", "name": "Mara Lindqvist"}
        assert "refresh_token" not in tok and "expires_in" not in tok
        assert tok["scope"].split(",") == ["ACTIVITY:READ", "CALENDAR:WRITE", "SETTINGS:READ"]
        h = bearer(tok["access_token"])
        assert (await c.get("/api/v1/athlete/0/wellness", headers=h)).status_code == 403
        assert (await c.get("/api/v1/athlete/0", headers=h)).json()["name"] == "Mara Lindqvist"
        assert (await c.get("/api/v1/athlete/0/events", headers=h)).status_code == 200
        # read-only scope cannot write
        r = await c.get("/api/v1/athlete/0/activities?oldest=2026-03-01", headers=h)
        assert r.status_code == 200
        # code reuse
        r = await c.post(
            "/api/oauth/token",
            data={"client_id": "threshold-dev", "client_secret": "threshold-dev-secret", "code": code},
        )
        assert r.status_code == 400 and r.json()["status"] == 400
        # disconnect → token stops working
        assert (await c.delete("/api/v1/disconnect-app", headers=h)).status_code == 200
        assert (await c.get("/api/v1/athlete/0", headers=h)).status_code == 401
        assert (await c.delete("/api/v1/disconnect-app", headers=h)).status_code == 401


async def test_expired_code_and_wrong_secret() -> None:
    state = new_state()
    now = [1_000_000.0]
    state.clock = lambda: now[0]
    async with client(state) as c:
        code = parse_qs(urlsplit((await _authorize(c)).headers["location"]).query)["code"][0]
        r = await c.post("/api/oauth/token", data={"client_id": "threshold-dev", "client_secret": "nope", "code": code})
        assert r.status_code == 404 and r.json() == {"status": 404, "error": "Client and/or secret not found"}
        now[0] += 121
        r = await c.post(
            "/api/oauth/token",
            data={"client_id": "threshold-dev", "client_secret": "threshold-dev-secret", "code": code},
        )
        assert r.status_code == 400 and "expired" in r.json()["error"]


async def test_deny_redirects_with_access_denied() -> None:
    async with client(new_state()) as c:
        r = await _authorize(c, decision="deny")
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q == {"error": ["access_denied"], "state": ["xyz"]}


async def test_bad_client_or_redirect_shows_error_page() -> None:
    async with client(new_state()) as c:
        r = await c.get("/oauth/authorize", params={"client_id": "evil", "redirect_uri": REDIRECT, "scope": SCOPES})
        assert r.status_code == 400 and "Unknown client_id" in r.text and "location" not in r.headers
        r = await c.get(
            "/oauth/authorize",
            params={"client_id": "threshold-dev", "redirect_uri": "https://evil.example/cb", "scope": SCOPES},
        )
        assert r.status_code == 400 and "Invalid redirect_uri" in r.text


async def test_exact_redirect_list_enforced() -> None:
    state = new_state(clients={"app": ("s3", ["https://app.example/cb"])})
    async with client(state) as c:
        r = await c.get(
            "/oauth/authorize", params={"client_id": "app", "redirect_uri": "https://app.example/cb", "scope": SCOPES}
        )
        assert r.status_code == 200
        r = await c.get("/oauth/authorize", params={"client_id": "app", "redirect_uri": REDIRECT, "scope": SCOPES})
        assert r.status_code == 400


async def test_mounted_under_prefix() -> None:
    state = new_state()
    outer = Starlette(routes=[Mount("/sandbox/intervals", app=create_app(state))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url=BASE) as c:
        r = await c.get(
            "/sandbox/intervals/oauth/authorize",
            params={"client_id": "threshold-dev", "redirect_uri": REDIRECT, "scope": SCOPES},
        )
        action, _ = _form(r.text)
        assert action == "/sandbox/intervals/oauth/authorize"
        r = await _authorize(c, prefix="/sandbox/intervals")
        assert r.status_code == 302 and r.headers["location"].startswith(REDIRECT)
        code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
        r = await c.post(
            "/sandbox/intervals/api/oauth/token",
            data={"client_id": "threshold-dev", "client_secret": "threshold-dev-secret", "code": code},
        )
        tok = r.json()["access_token"]
        r = await c.get("/sandbox/intervals/api/v1/athlete/0", headers=bearer(tok))
        assert r.status_code == 200 and r.json()["id"] == MARA
        r = await c.get("/sandbox/intervals/api/v1/nope", headers=bearer(tok))
        assert r.status_code == 404 and r.json()["path"] == "/sandbox/intervals/api/v1/nope"
        assert state.requests[-1][1] == "/api/v1/nope"
