"""An athlete in headless Chromium invites a coach, the coach accepts from the emailed link, the athlete edits
the grant, reads the coach's call in the access log and revokes the coach; the coach URL stops working at its
next call."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import pytest
from django.core import mail
from mcp.client import Client

from coaching.actions import grantable_tools
from tests.conftest import MARA, PASSWORD, Sandbox, ServerThread, make_athlete
from tests.test_browser_spine import ARTIFACTS, page  # noqa: F401 - the Chromium page fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COACH = "coach@example.com"


@pytest.fixture
def mara(product: ServerThread, sandbox: Sandbox) -> Any:
    """ORM set-up before the page fixture (Playwright's sync API then owns this thread's event loop)."""
    return make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)


def off_thread(fn: Callable[[], Any]) -> Any:
    """Run an asyncio client on its own thread: Playwright's sync API owns this thread's event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result(timeout=60)


def coach_call(url: str, tool: str, args: dict[str, Any]) -> Any:
    async def go() -> Any:
        async with Client(url, mode="legacy") as client:
            return await client.call_tool(tool, args)

    return off_thread(lambda: asyncio.run(go()))


def test_an_athlete_invites_edits_watches_and_revokes_a_coach(
    product: ServerThread,
    sandbox: Sandbox,
    mara: Any,
    page: Any,  # noqa: F811 - the fixture imported above
) -> None:
    page.goto(product.url + "/accounts/login/")
    page.fill("input[name=login]", "mara@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/dashboard/"))

    # Invite: one click for "Read only", one hidden data class, an expiry date.
    page.goto(product.url + "/dashboard/coaches/")
    form = page.locator("[data-testid=invite-form]")
    form.locator("input[name=coach_email]").fill(COACH)
    form.get_by_role("button", name="Everything").click()
    form.get_by_role("button", name="Read only").click()
    assert form.locator("input[name=tools][data-group=write]:checked").count() == 0
    assert form.locator("input[name=tools][data-group=read]:checked").count() == len(grantable_tools()["read"])
    form.locator("input[name=hidden][value=hrv]").check()
    until = date.today() + timedelta(days=30)
    form.locator("input[name=expires_on]").fill(until.isoformat())
    page.screenshot(path=str(ARTIFACTS / "coaching-1-invite.png"), full_page=True)
    form.get_by_role("button", name="Invite coach").click()
    page.wait_for_url(re.compile(r"/dashboard/coaches/$"))
    assert f"{COACH} is invited" in page.inner_text(".messages")
    grant = page.locator(f"[data-testid='grant-{COACH}']")
    summary = grant.locator("summary").inner_text()
    assert f"{len(grantable_tools()['read'])} tools" in summary and "hides hrv" in summary
    assert until.isoformat() in summary
    page.screenshot(path=str(ARTIFACTS / "coaching-2-invited.png"), full_page=True)

    # The coach's URL and the link to accept travel by email (a Celery task after commit; eager in tests).
    found = re.search(r"https?://\S+/mcp/thr_[A-Za-z0-9_\-]+", str(mail.outbox[-1].body))
    assert found and mail.outbox[-1].to == [COACH], mail.outbox[-1].body
    coach_url = found.group(0)
    invite = re.search(r"https?://\S+/coach/invite/[^/\s]+/", str(mail.outbox[-1].body))
    assert invite, mail.outbox[-1].body

    # Until the coach accepts, the URL reaches nothing. The coach opens the link in their own browser: a
    # page that says who invites and what they could do, and one click on Accept.
    assert coach_call(coach_url, "list_athletes", {}).structured_content["athletes"] == []
    coach_page = page.context.browser.new_context().new_page()
    coach_page.goto(invite.group(0))
    text = coach_page.inner_text("main")
    assert "Mara Lindqvist invited you to coach them" in text and "Training history" in text, text
    assert "HRV" in text and until.isoformat() in text
    coach_page.screenshot(path=str(ARTIFACTS / "coaching-2b-accept.png"), full_page=True)
    coach_page.get_by_role("button", name="Accept", exact=True).click()
    coach_page.wait_for_selector("[data-testid=invite-done]")
    assert "You now coach" in coach_page.inner_text("main")
    coach_page.context.close()

    # Edit the grant: add a write tool.
    grant.locator("summary").click()
    grant.locator("input[name=tools][value=add_calendar_note]").check()
    grant.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(r"/dashboard/coaches/$"))
    assert "Updated what" in page.inner_text(".messages")
    summary = page.locator(f"[data-testid='grant-{COACH}'] summary").inner_text()
    assert f"{len(grantable_tools()['read']) + 1} tools" in summary and "hides hrv" in summary
    page.screenshot(path=str(ARTIFACTS / "coaching-3-edited.png"), full_page=True)

    # The coach uses the URL: the new write tool is there, and a read works.
    listed = coach_call(coach_url, "list_athletes", {})
    assert not listed.is_error, listed.content
    [row] = listed.structured_content["athletes"]
    assert row["id"] == MARA and "add_calendar_note" in row["tools"] and "push_workout" not in row["tools"]
    history = coach_call(coach_url, "get_training_history", {})
    assert not history.is_error, history.content
    assert history.structured_content["athlete"]["name"] == {"untrusted": "Mara Lindqvist"}

    # The athlete sees the coach's call in her access log (reads are journaled just after the answer).
    for _ in range(50):
        page.goto(product.url + "/dashboard/access-log/")
        text = page.inner_text("main")
        if "get_training_history" in text:
            break
        time.sleep(0.1)
    assert "get_training_history" in text and f"Coach {COACH}" in text, text
    page.screenshot(path=str(ARTIFACTS / "coaching-4-access-log.png"), full_page=True)

    # Revoke: the coach's very next call no longer reaches Mara.
    page.goto(product.url + "/dashboard/coaches/")
    grant = page.locator(f"[data-testid='grant-{COACH}']")
    grant.locator("summary").click()
    grant.get_by_role("button", name=f"Revoke {COACH}").click()
    page.wait_for_url(re.compile(r"/dashboard/coaches/$"))
    assert f"{COACH} no longer has access" in page.inner_text(".messages")
    assert page.locator(f"[data-testid='grant-{COACH}']").count() == 0
    assert "No coach has access" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "coaching-5-revoked.png"), full_page=True)

    refused = coach_call(coach_url, "get_training_history", {"athlete": MARA})
    assert refused.is_error
    assert "Mara" not in refused.content[0].text and "get_training_history" not in str(refused.structured_content or "")
