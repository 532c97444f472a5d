"""`seed_demo --json`: idempotent demo athletes and a demo coach whose URL reaches two athletes."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.management import call_command

from accounts.models import McpToken, User
from coaching.actions import grantable_tools
from coaching.models import CoachGrant
from tests.conftest import DIEGO, MARA, Sandbox, ServerThread
from tests.read_tools_helpers import ok

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _sandbox_allowed(settings: Any) -> None:
    settings.SANDBOX_ENABLED = True  # seed_demo refuses to run against anything but the sandbox


def seed() -> dict[str, Any]:
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1, lines
    return dict(json.loads(lines[0]))


def test_seed_demo_is_idempotent_and_fills_the_coach(product: ServerThread, sandbox: Sandbox) -> None:
    first = seed()
    invites = len(mail.outbox)
    second = seed()
    assert first == second
    assert len(mail.outbox) == invites  # a re-run sends the coach no new invite emails
    assert [a["email"] for a in first["athletes"]] == [
        "mara@demo.threshold.local",
        "diego@demo.threshold.local",
        "aroha@demo.threshold.local",
    ]
    assert all(a["mcp_url"].startswith(f"{product.url}/mcp/thr_") for a in first["athletes"])
    assert first["coaches"] == [
        {
            "name": "Sam Okafor",
            "email": "coach@demo.threshold.local",
            "mcp_url": first["coaches"][0]["mcp_url"],
            "athletes": ["Mara Lindqvist", "Diego Alvarez"],
        }
    ]
    assert first["coaches"][0]["mcp_url"].startswith(f"{product.url}/mcp/thr_")
    coach = User.objects.get(email="coach@demo.threshold.local")
    assert EmailAddress.objects.get(user=coach).verified and coach.check_password("threshold-demo")
    assert McpToken.objects.filter(kind=McpToken.Kind.COACH, user=coach, revoked_at=None).count() == 1
    assert CoachGrant.objects.filter(coach_email=coach.email).count() == 2  # no duplicate grants on re-run
    assert User.objects.filter(email__endswith="@demo.threshold.local").count() == 4

    groups = grantable_tools()
    data = asyncio.run(ok(first["coaches"][0]["mcp_url"], "list_athletes", {}))
    rows = {a["id"]: a for a in data["athletes"]}
    assert set(rows) == {MARA, DIEGO}
    assert rows[MARA]["tools"] == sorted(groups["read"] + groups["write"])
    assert rows[DIEGO]["tools"] == groups["read"]
    assert rows[MARA]["timezone"] == "Europe/Stockholm" and rows[DIEGO]["name"] == {"untrusted": "Diego Alvarez"}


def test_seed_demo_prints_the_coach_url(product: ServerThread, sandbox: Sandbox) -> None:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert "Sam Okafor" in text and "coach@demo.threshold.local" in text
    assert "coach MCP URL " + product.url + "/mcp/thr_" in text
    assert "MCP URL" in text and "mara@demo.threshold.local / threshold-demo" in text
