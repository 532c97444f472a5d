"""Sign-up, verification and login through allauth: verification gates the MCP URL, no enumeration."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from accounts.models import McpToken, User
from tests.conftest import PASSWORD, make_athlete

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _send_mail_at_commit(
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Emails are queued after commit; the test transaction never commits, so run each request's
    on-commit work when the request ends, as a real commit would."""
    original = Client.request

    def request(self: Client, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return original(self, **kwargs)

    monkeypatch.setattr(Client, "request", request)
    yield


def signup(client: Client, email: str) -> tuple[int, str]:
    response = client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}, follow=True
    )
    return response.status_code, response.redirect_chain[-1][0] if response.redirect_chain else ""


def test_it_issues_the_mcp_url_only_after_the_email_is_verified() -> None:
    client = Client()
    signup(client, "athlete@example.com")
    user = User.objects.get(email="athlete@example.com")
    # Unverified: not logged in, and logging in only leads back to "verify your email".
    assert client.get("/dashboard/")["Location"].startswith("/accounts/login/")
    login = client.post("/accounts/login/", {"login": "athlete@example.com", "password": PASSWORD})
    assert login["Location"] == "/accounts/confirm-email/"
    assert not McpToken.objects.filter(user=user).exists()

    link = re.search(r"/accounts/confirm-email/[^/\s]+/", mail.outbox[-1].body)
    assert link
    client.post(link.group(0))
    dashboard = client.get("/dashboard/")
    assert dashboard.status_code == 200
    token = McpToken.objects.get(user=user)
    assert token.revoked_at is None
    assert token.hint.encode() in dashboard.content
    # The URL itself is on its own display-only page, kept out of caches and Referer headers.
    url_page = client.get("/connect/")
    assert b"/mcp/thr_" in url_page.content and token.hint[-4:].encode() in url_page.content
    assert "no-store" in url_page["Cache-Control"]
    assert url_page["Referrer-Policy"] == "no-referrer"


def test_it_does_not_reveal_whether_an_email_is_registered_on_signup() -> None:
    make_athlete("taken@example.com", athlete_id=None)
    mail.outbox.clear()
    taken = signup(Client(), "taken@example.com")
    fresh = signup(Client(), "fresh@example.com")
    assert taken == fresh  # same status, same "verify your email" page
    assert len(mail.outbox) == 2  # the owner of the taken address is told by email, not the visitor
    assert User.objects.filter(email="taken@example.com").count() == 1


def test_it_answers_password_reset_the_same_for_known_and_unknown_addresses() -> None:
    make_athlete("known@example.com", athlete_id=None)
    known = Client().post("/accounts/password/reset/", {"email": "known@example.com"}, follow=True)
    unknown = Client().post("/accounts/password/reset/", {"email": "nobody@example.com"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain
    assert known.status_code == unknown.status_code == 200


def test_it_gives_one_message_for_a_wrong_password_and_an_unknown_account() -> None:
    make_athlete("known@example.com", athlete_id=None)
    wrong = Client().post("/accounts/login/", {"login": "known@example.com", "password": "wrong-password-1"})
    unknown = Client().post("/accounts/login/", {"login": "nobody@example.com", "password": "wrong-password-1"})
    assert wrong.status_code == unknown.status_code == 200
    errors_wrong = re.findall(rb'class="errorlist[^"]*"[^>]*>(.*?)</ul>', wrong.content, re.S)
    errors_unknown = re.findall(rb'class="errorlist[^"]*"[^>]*>(.*?)</ul>', unknown.content, re.S)
    assert errors_wrong and errors_wrong == errors_unknown


def test_it_keeps_the_dashboard_behind_login() -> None:
    response = Client().get("/dashboard/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_answers_health_and_readiness_probes() -> None:
    assert Client().get("/healthz").json() == {"status": "ok"}
    ready = Client().get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
