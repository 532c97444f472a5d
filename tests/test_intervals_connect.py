"""Linking Intervals.icu by OAuth: state checks, scopes, denial, disconnect, encryption at rest."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client

from accounts.models import AuditEvent
from integrations.intervals.models import IntervalsLink
from tests.conftest import MARA, PASSWORD, SAM, Sandbox, make_athlete

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser() -> Client:
    make_athlete("mara@example.com", athlete_id=None)
    client = Client()
    assert client.login(email="mara@example.com", password=PASSWORD)
    return client


def start_connect(browser: Client) -> str:
    response = browser.post("/intervals/connect/")
    assert response.status_code == 302
    return str(response["Location"])


def consent(
    authorize_url: str, *, athlete: str = MARA, untick: tuple[str, ...] = (), decision: str = "approve"
) -> dict[str, str]:
    """Play the athlete on the sandbox's consent page; return the redirect's query parameters."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    page = httpx.get(authorize_url)
    assert page.status_code == 200 and 'name="scope"' in page.text
    scopes = [s for s in query["scope"].split(",") if s not in untick]
    form: dict[str, Any] = {
        "client_id": query["client_id"],
        "redirect_uri": query["redirect_uri"],
        "state": query["state"],
        "requested_scope": query["scope"],
        "athlete": athlete,
        "decision": decision,
        "scope": scopes,
    }
    response = httpx.post(authorize_url.split("?")[0], data=form)
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def callback(browser: Client, params: dict[str, str]) -> Any:
    return browser.get("/intervals/callback/", params, follow=True)


def messages_of(response: Any) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_it_links_the_athlete_with_the_scopes_they_granted(browser: Client, sandbox: Sandbox) -> None:
    params = consent(start_connect(browser), untick=("SETTINGS:READ", "CHATS:WRITE"))
    response = callback(browser, params)
    link = IntervalsLink.objects.get(user__email="mara@example.com")
    assert link.athlete_id == MARA
    assert "SETTINGS:READ" not in link.scope_set and "CALENDAR:WRITE" in link.scope_set
    assert link.athlete_name == "Mara Lindqvist"
    assert "Connected to Intervals.icu as Mara Lindqvist" in messages_of(response)
    # The scopes are shown on the dashboard, including the ones not granted.
    assert b"not granted" in response.content and b"read &amp; write" in response.content
    # Stored encrypted: the raw token is not in the row, but decrypts to a working credential.
    assert link.get_token() not in link.token_encrypted
    assert AuditEvent.objects.filter(action="intervals.linked").exists()


def test_it_stores_nothing_for_a_mismatched_state(browser: Client, sandbox: Sandbox) -> None:
    params = consent(start_connect(browser))
    response = callback(browser, {**params, "state": "forged"})
    assert "did not start here" in messages_of(response)
    assert not IntervalsLink.objects.exists()


def test_it_stores_nothing_for_a_missing_state(browser: Client, sandbox: Sandbox) -> None:
    params = consent(start_connect(browser))
    params.pop("state")
    callback(browser, params)
    assert not IntervalsLink.objects.exists()


def test_it_accepts_a_state_only_once(browser: Client, sandbox: Sandbox) -> None:
    params = consent(start_connect(browser))
    callback(browser, params)
    IntervalsLink.objects.all().delete()
    replay = callback(browser, params)
    assert "did not start here" in messages_of(replay)
    assert not IntervalsLink.objects.exists()


def test_it_rejects_a_state_from_another_session(browser: Client, sandbox: Sandbox) -> None:
    params = consent(start_connect(browser))
    make_athlete("outsider@example.com", athlete_id=None)
    outsider = Client()
    outsider.login(email="outsider@example.com", password=PASSWORD)
    callback(outsider, params)
    assert not IntervalsLink.objects.exists()


def test_it_rejects_an_expired_state(browser: Client, sandbox: Sandbox, settings: Any) -> None:
    params = consent(start_connect(browser))
    session = browser.session
    session["intervals_oauth"]["created"] = time.time() - settings.INTERVALS_OAUTH_STATE_MAX_AGE - 1
    session.save()
    callback(browser, params)
    assert not IntervalsLink.objects.exists()


def test_it_explains_a_denied_consent_kindly(browser: Client, sandbox: Sandbox) -> None:
    params = consent(start_connect(browser), decision="deny")
    assert params["error"] == "access_denied"
    response = callback(browser, params)
    assert "was not connected" in messages_of(response)
    assert not IntervalsLink.objects.exists()
    assert response.status_code == 200


def test_it_reports_a_failed_code_exchange_without_storing(browser: Client, sandbox: Sandbox, settings: Any) -> None:
    params = consent(start_connect(browser))
    settings.INTERVALS_CLIENT_SECRET = "wrong"
    response = callback(browser, params)
    assert "Connecting Intervals.icu failed" in messages_of(response)
    assert not IntervalsLink.objects.exists()


def test_it_disconnects_upstream_and_keeps_the_account(browser: Client, sandbox: Sandbox) -> None:
    # Sam, not Mara: disconnecting revokes every token of the app for that athlete, demo token included,
    # and other tests share this sandbox.
    callback(browser, consent(start_connect(browser), athlete=SAM))
    token = IntervalsLink.objects.get().get_token()
    response = browser.post("/intervals/disconnect/", follow=True)
    assert "disconnected" in messages_of(response)
    assert not IntervalsLink.objects.exists()
    # Upstream revoked it too: the old token no longer works.
    assert httpx.get(f"{sandbox.url}/api/v1/athlete/0", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert browser.get("/dashboard/").status_code == 200
