"""The athlete's access log on the dashboard: what their assistant did, filterable, with an Undo button."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from coaching.actions import record_tool_call
from coaching.models import AccessLogEntry
from tests.conftest import MARA, PASSWORD, Sandbox, ServerThread, make_athlete, mcp_url
from tests.test_tools_write_helpers import THRESHOLD_STEPS, events_on, future_day, ok, unique

pytestmark = pytest.mark.django_db(transaction=True)


def logged_in(email: str) -> Client:
    client = Client()
    assert client.login(email=email, password=PASSWORD)
    return client


def entry(user: Any, tool: str, *, outcome: str = "ok", is_write: bool = False) -> AccessLogEntry:
    return record_tool_call(
        token_id=None,
        actor_label="Your assistant",
        tool=tool,
        athlete_id=MARA,
        athlete_user_id=user.pk,
        outcome=outcome,
        summary=f"{tool} summary",
        is_write=is_write,
    )


def test_it_lists_the_athletes_own_calls_with_filters() -> None:
    mara = make_athlete("mara@example.com", athlete_id=None)
    other = make_athlete("outsider@example.com", athlete_id=None)
    entry(mara, "get_training_history")
    entry(mara, "get_wellness", outcome="error")
    entry(other, "get_fitness")
    page = logged_in("mara@example.com").get("/dashboard/access-log/")
    body = page.content.decode()
    assert "get_training_history" in body and "get_wellness" in body
    assert "get_fitness" not in body  # someone else's log
    errors_only = logged_in("mara@example.com").get("/dashboard/access-log/?outcome=error").content.decode()
    assert "get_wellness summary" in errors_only and "get_training_history summary" not in errors_only
    dashboard = logged_in("mara@example.com").get("/dashboard/").content.decode()
    assert "get_training_history summary" in dashboard


def test_it_answers_404_to_an_undo_of_someone_elses_entry() -> None:
    make_athlete("mara@example.com", athlete_id=None)
    other = make_athlete("outsider@example.com", athlete_id=None)
    theirs = entry(other, "push_workout", is_write=True)
    response = logged_in("mara@example.com").post(f"/dashboard/access-log/{theirs.pk}/undo/")
    assert response.status_code == 404


def test_it_returns_from_an_undo_only_to_a_page_of_this_site() -> None:
    from coaching.actions import WriteRecord

    mara = make_athlete("mara@example.com", athlete_id=None)
    browser = logged_in("mara@example.com")
    for given, expected in [
        ("https://evil.example/phish", "/dashboard/access-log/"),
        ("//evil.example/phish", "/dashboard/access-log/"),
        ("javascript:alert(1)", "/dashboard/access-log/"),
        ("/dashboard/", "/dashboard/"),
    ]:
        write = WriteRecord(kind="event.create", target="1", before=None, after={"id": 1})
        pushed = record_tool_call(
            token_id=None,
            actor_label="Your assistant",
            tool="push_workout",
            athlete_id=MARA,
            athlete_user_id=mara.pk,
            outcome="ok",
            summary="pushed",
            is_write=True,
            write=write,
        )
        response = browser.post(f"/dashboard/access-log/{pushed.pk}/undo/", {"next": given})
        assert response.status_code == 302 and response["Location"] == expected, given


def test_it_undoes_a_pushed_workout_from_the_dashboard_button(product: ServerThread, sandbox: Sandbox) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    url = mcp_url(product, mara)
    day, name = future_day("Europe/Stockholm", 40), unique("Dashboard undo")
    async_to_sync(ok)(
        url, "push_workout", {"date": day.isoformat(), "sport": "Ride", "name": name, "steps": THRESHOLD_STEPS}
    )
    assert name in [e["name"] for e in events_on(sandbox, MARA, day)]
    pushed = AccessLogEntry.objects.get(tool="push_workout", outcome="ok")
    browser = logged_in("mara@example.com")
    page = browser.get("/dashboard/access-log/?kind=writes").content.decode()
    assert f"/dashboard/access-log/{pushed.pk}/undo/" in page

    response = browser.post(f"/dashboard/access-log/{pushed.pk}/undo/", follow=True)
    assert "Undid push_workout" in response.content.decode()
    assert name not in [e["name"] for e in events_on(sandbox, MARA, day)]
    pushed.refresh_from_db()
    assert pushed.undone_at is not None
    assert f"/dashboard/access-log/{pushed.pk}/undo/" not in browser.get("/dashboard/access-log/").content.decode()
