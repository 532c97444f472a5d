"""The pages around the product: privacy and terms with the operator's contact address, the favicon, the
product's 404 page (also under DEBUG, which the embedded default runs with), and a menu that knows who you are."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.nav import roles_for
from coaching.actions import accept_invite, grantable_tools, invite_coach
from coaching.models import CoachApiKey
from tests.conftest import MARA, PASSWORD, SAM, Sandbox, make_athlete

pytestmark = pytest.mark.django_db


def logged_in(email: str) -> Client:
    client = Client()
    assert client.login(email=email, password=PASSWORD)
    return client


def test_it_links_privacy_and_terms_from_every_page_footer_with_the_contact_address(settings: Any) -> None:
    settings.CONTACT_EMAIL = "privacy@threshold.example"
    home = Client().get("/").content.decode()
    assert 'href="/privacy/"' in home and 'href="/terms/"' in home
    assert 'href="mailto:privacy@threshold.example"' in home
    privacy = Client().get("/privacy/")
    assert privacy.status_code == 200
    text = privacy.content.decode()
    for promise in ["encrypted", "access log", "coach", "Stripe", "email provider", "hosting provider", "delete"]:
        assert promise in text, promise
    assert "privacy@threshold.example" in text
    terms = Client().get("/terms/")
    assert terms.status_code == 200 and "privacy@threshold.example" in terms.content.decode()


def test_it_serves_the_favicon_as_a_static_file_and_links_it() -> None:
    home = Client().get("/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in home
    assert '<link rel="icon" href="/static/favicon.ico" sizes="32x32">' in home
    svg = Client().get("/static/favicon.svg")
    assert svg.status_code == 200 and svg["Content-Type"].startswith("image/svg+xml")
    ico = Client().get("/static/favicon.ico")
    assert ico.status_code == 200
    assert b"".join(ico.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert Client().get("/favicon.ico")["Location"] == "/static/favicon.ico"


@pytest.mark.parametrize("debug", [True, False])
def test_it_answers_an_unknown_address_with_the_product_404_page(settings: Any, debug: bool) -> None:
    settings.DEBUG = debug
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body and 'href="/token/"' in body
    # Django's technical page lists the URL patterns ("admin/", "dashboard/coaches/<int:grant_id>/edit/").
    assert "URLconf" not in body and "grant_id" not in body and "admin/" not in body


def test_it_answers_a_refused_object_with_the_product_404_page_under_debug(settings: Any) -> None:
    settings.DEBUG = True
    make_athlete("mara@example.com", athlete_id=None)
    response = logged_in("mara@example.com").post("/dashboard/access-log/999999/undo/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body
    assert "No such entry" not in body and "Raised by" not in body  # the technical page names the view


def test_it_still_adds_the_missing_slash_under_debug(settings: Any) -> None:
    settings.DEBUG = True
    response = Client().get("/privacy")
    assert response.status_code == 301 and response["Location"] == "/privacy/"


def test_it_tells_athletes_coaches_and_both_apart(sandbox: Sandbox) -> None:
    newcomer = make_athlete("newcomer@example.com", athlete_id=None)
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    sam = make_athlete("sam@example.com", athlete_id=SAM, sandbox=sandbox)
    invite_coach(mara, "sam@example.com", grantable_tools()["read"])
    invite_coach(mara, "diego@example.com", grantable_tools()["read"])  # signs up after the invite
    diego = make_athlete("diego@example.com", athlete_id=None)
    aroha = make_athlete("aroha@example.com", athlete_id=None)
    CoachApiKey.objects.create(coach=aroha, athlete_id="i100003", key_encrypted="sealed")

    assert (roles_for(newcomer).athlete, roles_for(newcomer).coach) == (True, False)
    assert (roles_for(mara).athlete, roles_for(mara).coach) == (True, False)
    assert (roles_for(sam).athlete, roles_for(sam).coach) == (True, True)  # coaches and trains
    assert (roles_for(diego).athlete, roles_for(diego).coach) == (False, True)  # invited, token not claimed yet
    assert (roles_for(aroha).athlete, roles_for(aroha).coach) == (False, True)  # coaches on Intervals.icu


def test_it_shows_a_coach_their_coach_home_and_not_the_athletes_menu(sandbox: Sandbox) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)  # only a connected athlete invites
    make_athlete("sam@example.com", athlete_id=None)
    accept_invite(invite_coach(mara, "sam@example.com", grantable_tools()["read"]))
    coach_menu = logged_in("sam@example.com").get("/privacy/").content.decode()
    assert ">Coach home</a>" in coach_menu
    assert ">Access log</a>" not in coach_menu and ">Coaches</a>" not in coach_menu
    athlete_menu = logged_in("mara@example.com").get("/privacy/").content.decode()
    assert ">Access log</a>" in athlete_menu and ">Coach home</a>" not in athlete_menu
    assert 'href="/dashboard/" aria-current="page"' in logged_in("mara@example.com").get("/dashboard/").content.decode()
