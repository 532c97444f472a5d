"""A coach joins an athlete's roster only by saying yes (issue #13): invites wait for the coach's click, a coach
can decline or later remove an athlete, and an athlete cannot take a coach's URL offline or relay spam.

People: Mara (cyclist) and Diego (runner) invite Sam the coach; Aroha's grant row is damaged; Olly is a stranger
with an account; Nadia signed up but never connected Intervals.icu.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.core import mail
from django.test import Client as WebClient
from django.utils import timezone
from mcp.client import Client

from accounts.actions import reveal_token
from accounts.models import AuditEvent, McpToken
from coaching.actions import GrantError, accept_invite, grantable_tools, invite_coach, latest_expiry, revoke_coach
from coaching.models import CoachGrant
from mcpserver.principal import load_principal
from tests.conftest import AROHA, DIEGO, MARA, PASSWORD, Sandbox, ServerThread, make_athlete

pytestmark = pytest.mark.django_db(transaction=True)

SAM = "sam@coach.example"
INVITE_LINK = re.compile(r"https?://\S+?/coach/invite/[^/\s\"<>]+/")


def call(url: str, tool: str, args: dict[str, Any] | None = None) -> Any:
    async def go() -> Any:
        async with Client(url, mode="legacy") as client:
            return await client.call_tool(tool, args or {})

    return async_to_sync(go)()


def reached(url: str) -> list[str]:
    """The athlete ids a coach URL reaches, as its own assistant sees them."""
    result = call(url, "list_athletes")
    assert not result.is_error, result.content
    return [a["id"] for a in result.structured_content["athletes"]]


def coach_url(product: ServerThread, grant: CoachGrant) -> str:
    assert grant.coach_token is not None
    return f"{product.url}/mcp/{reveal_token(grant.coach_token)}"


def invite_link(to: str) -> str:
    """The accept link of the newest invite email to `to`."""
    message = next(m for m in reversed(mail.outbox) if m.to == [to])
    found = INVITE_LINK.search(str(message.body))
    assert found, message.body
    return found.group(0)


def logged_in(user: Any) -> WebClient:
    web = WebClient()
    assert web.login(email=user.email, password=PASSWORD)
    return web


def test_it_reaches_an_athlete_only_after_the_coach_accepts_from_the_invite_email(
    product: ServerThread, sandbox: Sandbox
) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    grant = invite_coach(mara, SAM, ["get_training_history", "get_fitness", "push_workout"], hidden=["hrv"])
    url = coach_url(product, grant)

    # The email says who invites, what the coach will be able to do, and carries the accept link.
    [message] = [m for m in mail.outbox if m.to == [SAM]]
    assert "Mara Lindqvist" in message.subject and "Mara Lindqvist" in message.body
    assert "Training history" in message.body and "Push workout" in message.body
    assert "HRV" in message.body
    link = invite_link(SAM)
    assert message.alternatives and f'href="{link}"' in str(message.alternatives[0][0])

    # Until the coach says yes, the invite reaches nothing: the same answer as an unknown athlete.
    assert reached(url) == []
    asked = call(url, "get_training_history", {"athlete": MARA})
    unknown = call(url, "get_training_history", {"athlete": "i999999"})
    assert asked.is_error and unknown.is_error
    assert asked.content[0].text.replace(MARA, "<asked>") == unknown.content[0].text.replace("i999999", "<asked>")
    assert "Mara" not in asked.content[0].text

    # Mail scanners only GET: the page shows the invite and accepts nothing.
    for _ in range(2):
        page = httpx.get(link, timeout=30)
        assert page.status_code == 200 and "Mara Lindqvist" in page.text and "Accept" in page.text
        assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert reached(url) == []

    done = httpx.post(link, data={"decision": "accept"}, timeout=30)
    assert done.status_code == 200 and "accepted" in done.text.lower()
    assert reached(url) == [MARA]
    assert AuditEvent.objects.filter(action="coach.invite_accepted", subject=mara).count() == 1
    again = httpx.post(link, data={"decision": "decline"}, timeout=30)
    assert "already accepted" in again.text.lower()
    assert reached(url) == [MARA], "a used link does nothing more"

    # Editing the grant (inviting the same coach again) needs no second acceptance, and does not email
    # the coach more than once an hour.
    invite_coach(mara, SAM, ["get_training_history"])
    rows = call(url, "list_athletes").structured_content["athletes"]
    assert [(r["id"], r["tools"]) for r in rows] == [(MARA, ["get_training_history"])]
    assert len([m for m in mail.outbox if m.to == [SAM]]) == 1
    CoachGrant.objects.filter(pk=grant.pk).update(invite_sent_at=timezone.now() - dt.timedelta(hours=2))
    invite_coach(mara, SAM, ["get_training_history", "get_fitness"])
    changed = mail.outbox[-1]
    assert changed.to == [SAM] and "changed what you can do" in changed.subject
    assert "/coach/invite/" not in changed.body, "nothing to accept again"
    assert reached(url) == [MARA]


def test_a_tampered_or_foreign_link_accepts_nothing(product: ServerThread, sandbox: Sandbox) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    diego = make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox)
    grant = invite_coach(mara, SAM, ["get_fitness"])
    maras = invite_link(SAM)
    invite_coach(diego, SAM, ["get_fitness"])
    diegos = invite_link(SAM)
    assert maras != diegos
    for bad in (maras[:-6] + "xxxxx/", maras.replace("/coach/invite/", "/coach/invite/A"), maras[:-12] + "/"):
        page = httpx.post(bad, data={"decision": "accept"}, timeout=30)
        assert page.status_code in (200, 404) and "not valid" in page.text.lower(), page.text
    assert reached(coach_url(product, grant)) == []
    # Diego's link accepts Diego's invite, and only his.
    httpx.post(diegos, data={"decision": "accept"}, timeout=30)
    assert reached(coach_url(product, grant)) == [DIEGO]
    # The page lists the other invite still waiting for this coach.
    assert "Mara Lindqvist" in httpx.get(diegos, timeout=30).text
    # Mara sends her invite again (an hour later): the newest email's link replaces the older one.
    CoachGrant.objects.filter(pk=grant.pk).update(invite_sent_at=timezone.now() - dt.timedelta(hours=2))
    invite_coach(mara, SAM, ["get_fitness"])
    newest = invite_link(SAM)
    assert newest != maras and "not valid" in httpx.get(maras, timeout=30).text.lower()
    httpx.post(newest, data={"decision": "accept"}, timeout=30)
    assert reached(coach_url(product, grant)) == [MARA, DIEGO]


def test_the_latest_expiry_is_two_years_ahead_even_from_a_leap_day() -> None:
    assert latest_expiry(dt.date(2026, 12, 6)) == dt.date(2028, 12, 6)
    assert latest_expiry(dt.date(2028, 2, 29)) == dt.date(2030, 2, 28)


def test_a_coach_declines_or_removes_an_athlete_and_a_new_invite_needs_acceptance_again(
    product: ServerThread, sandbox: Sandbox
) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    diego = make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox)
    sam = make_athlete(SAM, athlete_id=None)
    olly = make_athlete("olly@example.com", athlete_id=None)
    from_mara = invite_coach(mara, SAM, ["get_training_history"])
    from_diego = invite_coach(diego, SAM, ["get_training_history"])
    url = coach_url(product, from_mara)

    # The coach page lists both invites, waiting.
    web = logged_in(sam)
    page = web.get("/coach/").content.decode()
    assert "Mara Lindqvist" in page and "Diego Alvarez" in page and "Waiting for your answer" in page
    # A stranger cannot answer Sam's invites.
    stranger = logged_in(olly)
    assert stranger.post(f"/coach/invites/{from_mara.pk}/answer/", {"decision": "accept"}).status_code == 404
    assert reached(url) == []

    web.post(f"/coach/invites/{from_mara.pk}/answer/", {"decision": "accept"})
    web.post(f"/coach/invites/{from_diego.pk}/answer/", {"decision": "decline"})
    assert reached(url) == [MARA]
    assert AuditEvent.objects.filter(action="coach.invite_declined", subject=diego).count() == 1
    assert "declined" in logged_in(diego).get("/dashboard/coaches/").content.decode()

    # Later the coach removes Mara from the roster: an audited action Mara sees on her coaches page.
    assert stranger.post(f"/coach/athletes/{from_mara.pk}/remove/").status_code == 404
    web.post(f"/coach/athletes/{from_mara.pk}/remove/")
    assert reached(url) == []
    assert AuditEvent.objects.filter(action="coach.athlete_removed", subject=mara).count() == 1
    maras_page = logged_in(mara).get("/dashboard/coaches/").content.decode()
    assert "removed you" in maras_page and SAM in maras_page

    # Inviting again after a removal or a decline needs the coach's yes again.
    again = invite_coach(mara, SAM, ["get_training_history"])
    invite_coach(diego, SAM, ["get_training_history"])
    assert again.pk != from_mara.pk and reached(url) == []
    accept_invite(again)
    assert reached(url) == [MARA]


def test_an_athlete_inviting_their_own_address_needs_no_acceptance(product: ServerThread, sandbox: Sandbox) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    grant = invite_coach(mara, "Mara@Example.com", ["get_fitness"])
    assert reached(coach_url(product, grant)) == [MARA]
    [message] = mail.outbox
    assert "invited you" in message.subject and "/coach/invite/" not in message.body
    assert "now reaches Mara Lindqvist" in message.body


# --- Expiry dates cannot take a coach URL offline ------------------------------------------------------------


def test_it_refuses_an_expiry_date_too_far_ahead_with_a_clear_form_error(
    product: ServerThread, sandbox: Sandbox
) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    web = logged_in(mara)
    answer = web.post(
        "/dashboard/coaches/",
        {"coach_email": SAM, "tools": ["get_fitness"], "expires_on": "9999-12-31"},
        follow=True,
    )
    assert "at most two years ahead" in answer.content.decode()
    assert not CoachGrant.objects.exists()
    with pytest.raises(GrantError, match="at most two years ahead"):
        invite_coach(mara, SAM, ["get_fitness"], expires_on=timezone.localdate() + dt.timedelta(days=800))
    grant = invite_coach(mara, SAM, ["get_fitness"], expires_on=timezone.localdate() + dt.timedelta(days=700))
    edit = web.post(f"/dashboard/coaches/{grant.pk}/edit/", {"tools": ["get_fitness"], "expires_on": "9999-12-31"})
    assert edit.status_code == 302
    assert CoachGrant.objects.get(pk=grant.pk).expires_on == timezone.localdate() + dt.timedelta(days=700)


def test_a_far_future_or_broken_grant_row_never_takes_the_coach_url_offline(
    product: ServerThread, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    diego = make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox)
    aroha = make_athlete("aroha@example.com", athlete_id=AROHA, sandbox=sandbox)
    grant = accept_invite(invite_coach(mara, SAM, ["get_fitness"]))
    accept_invite(invite_coach(diego, SAM, ["get_fitness"]))
    broken = accept_invite(invite_coach(aroha, SAM, ["get_fitness"]))
    url = coach_url(product, grant)
    # Rows as an old version (or a hand edit) could have left them: the last representable day, and a
    # tools value that is not a list.
    CoachGrant.objects.filter(pk=grant.pk).update(expires_on=dt.date(9999, 12, 31))
    CoachGrant.objects.filter(pk=broken.pk).update(tools=5)

    caplog.set_level(logging.WARNING, logger="mcpserver.principal")
    response = httpx.post(
        url,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_athletes", "arguments": {}}},
        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert sorted(reached(url)) == [MARA, DIEGO], "the broken grant is skipped, the others still work"
    assert any(f"grant {broken.pk}" in r.getMessage() for r in caplog.records), caplog.text
    assert grant.coach_token is not None
    principal = load_principal(reveal_token(grant.coach_token))
    assert principal is not None and principal.changes_at is None, "9999-12-31 never ends by the clock"


# --- Invites are not a spam relay -----------------------------------------------------------------------------


def test_it_limits_new_coach_addresses_per_day_and_needs_a_connected_account(
    product: ServerThread, sandbox: Sandbox
) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    reads = grantable_tools()["read"][:1]
    for n in range(10):
        invite_coach(mara, f"coach{n}@example.com", reads)
    with pytest.raises(GrantError, match="10 new coaches a day"):
        invite_coach(mara, "coach10@example.com", reads)
    invite_coach(mara, "coach3@example.com", grantable_tools()["read"][:2])  # an edit is not a new address
    revoke_coach(CoachGrant.objects.get(coach_email="coach4@example.com", revoked_at=None), actor=mara)
    invite_coach(mara, "coach4@example.com", reads)  # nor is an address invited today already
    answer = logged_in(mara).post("/dashboard/coaches/", {"coach_email": "coach11@example.com", "tools": reads})
    assert "10 new coaches a day" in answer.content.decode()
    assert CoachGrant.objects.filter(athlete=mara).values("coach_email").distinct().count() == 10
    assert len({m.to[0] for m in mail.outbox}) == 10

    # A day later the count starts again.
    CoachGrant.objects.filter(athlete=mara).update(created_at=timezone.now() - dt.timedelta(hours=25))
    invite_coach(mara, "coach10@example.com", reads)

    nadia = make_athlete("nadia@example.com", athlete_id=None)
    with pytest.raises(GrantError, match=r"Connect Intervals\.icu"):
        invite_coach(nadia, "coach@example.com", reads)
    web = logged_in(nadia)
    page = web.post("/dashboard/coaches/", {"coach_email": "coach@example.com", "tools": reads}).content.decode()
    assert "Connect Intervals.icu" in page
    assert not CoachGrant.objects.filter(athlete=nadia).exists()
    assert not McpToken.objects.filter(email="coach@example.com").exists(), "no coach URL is minted either"


# --- A removed selection never falls back ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["athlete revokes", "coach removes"])
def test_a_selected_athlete_who_left_is_refused_with_the_choices_never_replaced(
    product: ServerThread, sandbox: Sandbox, how: str
) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    diego = make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox)
    grant = accept_invite(invite_coach(mara, SAM, ["get_training_history"]))
    accept_invite(invite_coach(diego, SAM, ["get_training_history"]))
    url = coach_url(product, grant)
    selected = call(url, "select_athlete", {"athlete": "Mara"})
    assert not selected.is_error and selected.structured_content["athlete"]["id"] == MARA
    assert call(url, "get_training_history").structured_content["athlete"]["id"] == MARA

    if how == "athlete revokes":
        revoke_coach(grant, actor=mara)
    else:
        from coaching.actions import remove_athlete

        remove_athlete(grant, actor=None)
    refused = call(url, "get_training_history")
    assert refused.is_error, refused.structured_content
    text = refused.content[0].text
    assert text == (
        f"No athlete '{MARA}' with get_training_history on this MCP URL. "
        f"Available with get_training_history: {DIEGO}."  # ids only: a name is free text (MCP safety)
    )
    whoami = call(url, "whoami").structured_content
    assert [a["is_default"] for a in whoami["athletes"]] == [False], "Diego is not silently the default"
    # Naming the athlete, or selecting again, works.
    assert not call(url, "get_training_history", {"athlete": DIEGO}).is_error
    assert not call(url, "select_athlete", {"athlete": DIEGO}).is_error
    assert call(url, "get_training_history").structured_content["athlete"]["id"] == DIEGO


# --- Existing coaches keep their access ----------------------------------------------------------------------


def test_the_migration_counts_existing_grants_as_accepted() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("coaching", "0004_catchupcursor")], [("coaching", "0005_coach_consent")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("accounts", "User").objects.create(email="mara@example.com", password="!")
    token = old.get_model("accounts", "McpToken").objects.create(
        email=SAM, kind="coach", token_hash="x" * 64, token_encrypted="x", hint="thr_…x"
    )
    Grant = old.get_model("coaching", "CoachGrant")
    live = Grant.objects.create(athlete=user, coach_email=SAM, coach_token=token, tools=["get_fitness"])
    gone = Grant.objects.create(
        athlete=user, coach_email="gone@example.com", tools=["get_fitness"], revoked_at=timezone.now()
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert CoachGrant.objects.get(pk=live.pk).accepted_at is not None, "current coaches keep their access"
    assert CoachGrant.objects.get(pk=gone.pk).accepted_at is not None
    assert CoachGrant.objects.get(pk=live.pk).end_reason == ""
