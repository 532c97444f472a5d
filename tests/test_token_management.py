"""Token management: dashboard regenerate, and the public /token/ page with its emailed one-time links."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import httpx
import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.actions import ensure_athlete_token, reveal_token
from accounts.models import EmailOutbox, McpToken, TokenConfirmation
from tests.billing_helpers import commit_each_request
from tests.conftest import ServerThread, make_athlete

__all__ = ["commit_each_request"]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("commit_each_request")]


@pytest.fixture(autouse=True)
def _fresh_limits(settings: Any) -> None:
    # Each test gets its own rate-limit windows (keys are per run, per address and per IP).
    from django.core.cache import cache

    cache.clear()
    settings.TOKEN_PAGE_LIMIT_PER_ADDRESS = 3
    settings.TOKEN_PAGE_LIMIT_PER_IP = 20


@pytest.fixture
def mara() -> Any:
    user = make_athlete("mara@example.com", athlete_id=None)
    ensure_athlete_token(user)
    return user


def current_token(user: Any) -> McpToken:
    return McpToken.objects.get(user=user, revoked_at__isnull=True)


def ask(email: str, action: str, client: Client | None = None, **extra: Any) -> Any:
    return (client or Client()).post("/token/", {"email": email, "action": action}, **extra)


def link_in_last_email() -> str:
    match = re.search(r"https?://\S+/token/confirm/\S+/", mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return urlsplit(match.group(0)).path


def test_it_answers_the_same_for_known_and_unknown_addresses(mara: Any) -> None:
    known = ask("mara@example.com", "resend")
    unknown = ask("nobody@example.com", "resend")
    assert known.status_code == unknown.status_code == 200
    normalise = lambda r: r.content.decode().replace("mara@example.com", "X").replace("nobody@example.com", "X")  # noqa: E731
    assert re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", normalise(known)) == re.sub(
        r'name="csrfmiddlewaretoken" value="[^"]+"', "", normalise(unknown)
    )
    assert [m.to for m in mail.outbox] == [["mara@example.com"]]  # only the owner hears about it


def test_it_resends_the_unchanged_url_only_after_the_link_is_confirmed(mara: Any) -> None:
    token = current_token(mara)
    ask("mara@example.com", "resend")
    assert mail.outbox[-1].subject == "[Threshold] Confirm: email your MCP URL"
    link = link_in_last_email()

    # A link scanner (or a preview) only GETs: nothing happens, and the page asks for the click.
    page = Client().get(link)
    assert page.status_code == 200 and b"Yes, email my URL" in page.content
    assert page["Cache-Control"] == "no-store" and page["Referrer-Policy"] == "no-referrer"
    assert len(mail.outbox) == 1

    done = Client(enforce_csrf_checks=True).post(link)
    assert done.status_code == 200 and b"We have emailed your MCP URL" in done.content
    assert mail.outbox[-1].subject == "[Threshold] Your Threshold MCP URL"
    assert reveal_token(token) in mail.outbox[-1].body
    assert current_token(mara).pk == token.pk  # unchanged


def test_it_regenerates_after_confirmation_and_the_old_url_stops_at_once(mara: Any) -> None:
    old = current_token(mara)
    ask("mara@example.com", "regenerate")
    link = link_in_last_email()
    assert current_token(mara).pk == old.pk  # asking changes nothing

    done = Client(enforce_csrf_checks=True).post(link)
    old.refresh_from_db()
    new = current_token(mara)
    assert old.revoked_at is not None and new.pk != old.pk
    raw = reveal_token(new)
    assert raw in done.content.decode()  # shown once, on this no-store, no-referrer page
    assert done["Cache-Control"] == "no-store" and done["Referrer-Policy"] == "no-referrer"
    assert mail.outbox[-1].subject == "[Threshold] Your Threshold MCP URL was replaced"
    assert raw in mail.outbox[-1].body and "email link" in mail.outbox[-1].body

    again = Client().post(link)
    assert b"already used" in again.content
    assert current_token(mara).pk == new.pk


def test_it_reaches_a_coach_without_an_account_by_address() -> None:
    from accounts.actions import _create_token

    _row, raw = _create_token(user=None, email="coach.sam@example.com", kind=McpToken.Kind.COACH)
    ask("Coach.Sam@example.com", "resend")
    Client().post(link_in_last_email())
    assert raw in mail.outbox[-1].body and "Your coach MCP URL" in mail.outbox[-1].body


def test_it_refuses_expired_and_tampered_links(mara: Any) -> None:
    ask("mara@example.com", "regenerate")
    link = link_in_last_email()
    token = current_token(mara)
    assert b"not valid" in Client().post(link[:-6] + "xxxxx/").content
    TokenConfirmation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert b"expired" in Client().post(link).content
    assert current_token(mara).pk == token.pk


def test_it_rate_limits_per_address_and_per_ip(mara: Any, settings: Any) -> None:
    for _ in range(3):
        assert ask("mara@example.com", "resend").status_code == 200
    limited = ask("mara@example.com", "resend", REMOTE_ADDR="203.0.113.9")
    assert limited.status_code == 429 and b"Too many requests" in limited.content
    assert len(mail.outbox) == 3

    settings.TOKEN_PAGE_LIMIT_PER_IP = 2
    assert ask("a@example.com", "resend", REMOTE_ADDR="198.51.100.7").status_code == 200
    assert ask("b@example.com", "resend", REMOTE_ADDR="198.51.100.7").status_code == 200
    assert ask("c@example.com", "resend", REMOTE_ADDR="198.51.100.7").status_code == 429


def test_it_fails_closed_when_the_rate_limit_store_is_down(mara: Any) -> None:
    with mock.patch("django.core.cache.cache.incr", side_effect=ConnectionError("redis down")):
        response = ask("mara@example.com", "regenerate")
    assert response.status_code == 503 and b"briefly unavailable" in response.content
    assert not mail.outbox and not TokenConfirmation.objects.exists()


def test_it_needs_a_csrf_token_on_the_public_form(mara: Any) -> None:
    assert ask("mara@example.com", "resend", client=Client(enforce_csrf_checks=True)).status_code == 403


def test_it_regenerates_from_the_dashboard_and_shows_the_new_url_once(mara: Any) -> None:
    old = current_token(mara)
    client = Client()
    client.force_login(mara)
    response = client.post("/dashboard/mcp-url/regenerate/")
    assert response.status_code == 302 and response["Location"] == "/connect/"
    old.refresh_from_db()
    assert old.revoked_at is not None
    new_raw = reveal_token(current_token(mara))
    first = client.get("/connect/").content.decode()
    assert "Here is your new MCP URL" in first and new_raw in first
    assert "Here is your new MCP URL" not in client.get("/connect/").content.decode()
    assert mail.outbox[-1].subject == "[Threshold] Your Threshold MCP URL was replaced"
    assert "dashboard" in mail.outbox[-1].body


def test_it_keeps_token_pages_out_of_caches_and_referrers(mara: Any) -> None:
    client = Client()
    client.force_login(mara)
    for path in ("/connect/",):
        response = client.get(path)
        assert "no-store" in response["Cache-Control"] and response["Referrer-Policy"] == "no-referrer"
        assert b"<form" not in response.content.split(b"<main")[1]  # display-only: no CSRF form to break
    dashboard = client.get("/dashboard/")
    assert b"/mcp/thr_" not in dashboard.content  # the page with forms never shows the token


@pytest.mark.django_db(transaction=True)
def test_it_gives_exactly_one_new_token_for_ten_concurrent_confirmations(product: ServerThread) -> None:
    mara = make_athlete("mara@example.com", athlete_id=None)
    old = ensure_athlete_token(mara)
    assert old is not None
    # The public form is CSRF-protected: fetch it first, as a browser would.
    with httpx.Client(base_url=product.url) as browser:
        form = browser.get("/token/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert csrf
        browser.post(
            "/token/",
            data={"email": "mara@example.com", "action": "regenerate", "csrfmiddlewaretoken": csrf.group(1)},
            headers={"Referer": product.url + "/token/"},
        )
    assert EmailOutbox.objects.filter(kind="token_confirmation", status="sent").count() == 1
    link = link_in_last_email()
    barrier = threading.Barrier(10)
    pages: list[str] = []

    def confirm() -> None:
        barrier.wait()
        pages.append(httpx.post(product.url + link, timeout=30).text)

    threads = [threading.Thread(target=confirm) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum("Your new MCP URL" in page for page in pages) == 1
    assert sum("already used" in page for page in pages) == 9
    assert McpToken.objects.filter(user=mara).count() == 2
    assert McpToken.objects.filter(user=mara, revoked_at__isnull=True).count() == 1


def test_it_masks_one_time_links_in_log_lines() -> None:
    from config.logging_filters import mask

    line = mask('"POST /token/confirm/.eJyLVjI0MjY3UNJRys9TslIqKEosy8l:1vNabc:Qx9/ HTTP/1.1" 200')
    assert line == '"POST /token/confirm/[masked]/ HTTP/1.1" 200'
    assert "abcdefghijkl" not in mask("secret whsec_abcdefghijkl and sk_live_abcdefghijkl")
