"""Sessions are stored under a digest of their key: the cookie signs Mara in, a database dump does not."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.contrib.sessions.models import Session
from django.test import Client

from accounts.sessions import SessionStore, stored_key
from tests.conftest import PASSWORD, make_athlete

pytestmark = pytest.mark.django_db


def test_it_keeps_only_a_digest_of_the_session_key() -> None:
    make_athlete("mara@example.com", athlete_id=None)
    browser = Client()
    assert browser.login(email="mara@example.com", password=PASSWORD)
    cookie = browser.cookies["sessionid"].value
    keys = list(Session.objects.values_list("session_key", flat=True))
    assert keys == [stored_key(cookie)] and cookie not in keys
    assert browser.get("/dashboard/").status_code == 200
    browser.logout()
    assert not Session.objects.exists(), "signing out deletes the stored row"


def test_it_refuses_a_cookie_that_is_the_stored_digest() -> None:
    make_athlete("mara@example.com", athlete_id=None)
    browser = Client()
    assert browser.login(email="mara@example.com", password=PASSWORD)
    stolen = Session.objects.get().session_key  # what a database dump shows
    thief = Client()
    thief.cookies["sessionid"] = stolen
    assert thief.get("/dashboard/").status_code == 302, "a dumped key is not a session"


def test_it_works_the_same_through_the_async_api() -> None:
    store = SessionStore()
    store["k"] = "v"
    async_to_sync(store.asave)(must_create=True)
    key = store.session_key
    assert key is not None and async_to_sync(store.aexists)(key)
    assert Session.objects.filter(session_key=stored_key(key)).exists()
    assert async_to_sync(SessionStore(key).aload)() == {"k": "v"}
    async_to_sync(SessionStore(key).adelete)()
    assert not Session.objects.exists()
