"""The coach tools agree with each other and say why they refuse (issue #14), on a sandbox pinned to
Thu 2026-03-12 (tests/pinned_sandbox.py says what Mara has that day).

Sam coaches Mara. What awaits his reply is one definition in every tool; a plan on the day of a Strava
import is never called missed; a write on an athlete who granted him read-only access, and an undo with
none of his own writes left, say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from accounts.actions import reveal_token
from coaching.actions import accept_invite, grantable_tools, invite_coach
from tests import pinned_sandbox
from tests.conftest import MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.pinned_sandbox import pinned
from tests.read_tools_helpers import call, ok

__all__ = ["pinned"]  # fixture used by name

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

SAM = "sam@coach.example"
RIDE_SEVEN_DAYS_AGO = date(2026, 3, 5)  # today - 7: outside "the last 7 days" (today - 6 .. today)
RIDE_TWO_DAYS_AGO = date(2026, 3, 10)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class People:
    mara: str  # Mara's own MCP URL
    sam: str  # Sam's coach URL


def people(product: ServerThread, pinned: Sandbox, tools: list[str]) -> People:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=pinned)
    grant = accept_invite(invite_coach(mara, SAM, tools))
    assert grant.coach_token is not None
    return People(mcp_url(product, mara), f"{product.url}/mcp/{reveal_token(grant.coach_token)}")


@pytest.fixture
def reader(product: ServerThread, pinned: Sandbox, settings: Any, monkeypatch: pytest.MonkeyPatch) -> People:
    """Sam with every read tool on Mara (read-only access)."""
    pinned_sandbox.aim(pinned, settings, monkeypatch)
    return people(product, pinned, grantable_tools()["read"])


@pytest.fixture
def writer(product: ServerThread, pinned: Sandbox, settings: Any, monkeypatch: pytest.MonkeyPatch) -> People:
    """Sam with every tool on Mara."""
    pinned_sandbox.aim(pinned, settings, monkeypatch)
    tools = grantable_tools()
    return people(product, pinned, tools["read"] + tools["write"])


def ride_on(pinned: Sandbox, day: date) -> str:
    return next(a.id for a in pinned.state.athletes[MARA].activities if a.day == day and not a.stub)


def mara_row(digest: dict[str, Any]) -> dict[str, list[str]]:
    row = next((r for r in digest["athletes"].get("rows", []) if r[0] == MARA), None)
    return {} if row is None else {f[0]: f for f in row[5]}


async def test_the_digest_and_the_conversations_await_the_same_replies(reader: People, pinned: Sandbox) -> None:
    old, recent = ride_on(pinned, RIDE_SEVEN_DAYS_AGO), ride_on(pinned, RIDE_TWO_DAYS_AGO)
    for activity in (old, recent):  # Mara writes last on both threads
        await ok(reader.mara, "add_activity_comment", {"activity_id": activity, "text": "Legs felt heavy."})
    digest = await ok(reader.sam, "roster_digest", {})
    talks = await ok(reader.sam, "get_conversations", {})
    columns = talks["threads"]["columns"]
    rows = [dict(zip(columns, r, strict=True)) for r in talks["threads"]["rows"]]
    awaiting = [r for r in rows if r["awaiting_reply"]]
    assert any(r["activity_id"] == recent for r in awaiting)
    assert not any(r["activity_id"] == old for r in rows)  # 7 days ago: not the last 7 days
    flag = mara_row(digest)["comments"]
    assert flag[2].startswith(f"{len(awaiting)} awaiting a reply"), (flag, awaiting)
    assert old not in flag[2]


async def test_a_plan_on_a_strava_import_s_day_is_not_called_missed(reader: People) -> None:
    # 03-05 .. 03-11: every planned ride is paired, but Wed 03-11's (done as a Strava import, pairing hidden).
    digest = await ok(reader.sam, "roster_digest", {})
    assert "missed" not in mara_row(digest)
    news = await ok(reader.sam, "catch_up", {})
    assert "missed" not in news["athletes"][0]


async def test_a_write_on_a_read_only_athlete_says_it_is_read_only(reader: People) -> None:
    chosen = await ok(reader.sam, "select_athlete", {"athlete": "Mara"})
    assert chosen["athlete"]["id"] == MARA
    steps = [{"seconds": 1800, "target": {"type": "%ftp", "value": 60}}]
    refused = await call(
        reader.sam, "push_workout", {"date": "2026-03-20", "sport": "Ride", "name": "Spin", "steps": steps}
    )
    assert refused.is_error
    text = refused.content[0].text
    assert text.startswith(f"No athlete '{MARA}' with push_workout on this MCP URL.")  # refusals read alike
    assert "granted this URL read-only access" in text and "list_athletes" in text


async def test_the_coach_s_undo_says_whose_writes_it_can_undo(writer: People) -> None:
    # Mara's own write (she logged 2): replacing a value goes preview -> confirm.
    preview = await ok(writer.mara, "log_wellness", {"soreness": 4, "dry_run": False})
    await ok(writer.mara, "log_wellness", {"soreness": 4, "dry_run": False, "confirm": preview["confirm"]})
    refused = await call(writer.sam, "undo_last_write", {"athlete": MARA})
    assert refused.is_error
    text = refused.content[0].text
    assert "it undoes only the writes it made itself" in text
    assert "Mara Lindqvist has 1 other write through Threshold" in text
