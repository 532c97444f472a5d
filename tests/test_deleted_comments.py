"""A deleted comment, as the real API sends it, in every tool that reads comment threads (issue #14).

Intervals.icu keeps a deleted comment in the thread with `deleted` set to the date-time of the deletion
(OpenAPI `Message.deleted`, with `deleted_by_id`), not a boolean. Threshold parsed it as a boolean and
failed on it. Here Mara's recent thread gets Sam the coach's comment and Mara's reply, which she then
deleted; the sandbox serves it, and the athlete tool and every coach tool that reads threads are asked.
The corpus test (tests/test_corpus_tools.py) shows the same on a recorded shape, but only in the
activity detail: its deleted comment is older than the coach tools' windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accounts.actions import reveal_token
from coaching.actions import accept_invite, grantable_tools, invite_coach
from mcpserver import present
from tests.conftest import MARA, SAM, Sandbox, ServerThread, make_athlete, mcp_url
from tests.read_tools_helpers import call, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

DELETED_TEXT = "Actually my knee hurt the whole way"  # the API may keep the text of a deleted comment


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Thread:
    activity_id: str
    live: int  # comments not deleted, the planted ones included
    deleted_at: str  # when the deleted reply was written, in Mara's time zone


@pytest.fixture
def thread(sandbox: Sandbox) -> Iterator[Thread]:
    """Sam's comment and Mara's deleted reply on Mara's latest activity of the last 6 days; removed after."""
    today = present.local_today("Europe/Stockholm")
    recent = upstream(
        sandbox,
        MARA,
        f"/athlete/{MARA}/activities",
        oldest=(today - timedelta(days=5)).isoformat(),
        newest=f"{(today - timedelta(days=1)).isoformat()}T23:59:59",
    )
    activity = max((a for a in recent if a.get("source") != "STRAVA"), key=lambda a: a["start_date_local"])
    data = sandbox.state.athletes[MARA]
    aid = activity["id"]
    had_chat, chat_before = aid in data.chats, data.by_id[aid].data.get("icu_chat_id")
    now = datetime.now(UTC)
    planted = [
        {
            "id": sandbox.state.next_id(),
            "athlete_id": SAM,
            "name": "Sam Okafor",
            "created": (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "type": "TEXT",
            "content": "Nice pacing on the last block.",
            "activity_id": aid,
            "seen": True,
        },
        {
            "id": sandbox.state.next_id(),
            "athlete_id": MARA,
            "name": "Mara Lindqvist",
            "created": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "type": "TEXT",
            "content": DELETED_TEXT,
            "activity_id": aid,
            "seen": True,
            "deleted": (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "deleted_by_id": MARA,
        },
    ]
    for m in planted:
        sandbox.state.add_message(data, aid, m)
    live = sum(1 for m in data.messages[aid] if not m.get("deleted"))
    try:
        written = datetime.fromisoformat(planted[1]["created"]).astimezone(present.zone("Europe/Stockholm"))
        yield Thread(aid, live, f"{present.day_label(written.date())} {written:%H:%M}")
    finally:
        journal = sandbox.state.journal["messages"][MARA][aid]
        for m in planted:
            data.messages[aid].remove(m)
            journal["messages"].remove(m)
        if not had_chat:
            del data.chats[aid]
            del sandbox.state.journal["messages"][MARA][aid]
            data.by_id[aid].data["icu_chat_id"] = chat_before


@dataclass
class Urls:
    mara: str
    coach: str


@pytest.fixture
def urls(product: ServerThread, sandbox: Sandbox) -> Urls:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    grant = accept_invite(invite_coach(mara, "sam@example.com", grantable_tools()["read"]))
    assert grant.coach_token is not None
    return Urls(mcp_url(product, mara), f"{product.url}/mcp/{reveal_token(grant.coach_token)}")


async def answered(url: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await call(url, tool, args)
    assert not result.is_error, (tool, result.content)
    data = dict(result.structured_content or {})
    assert DELETED_TEXT not in str(data) + str(result.content[0].text), tool  # a deleted comment says nothing
    return data


async def test_it_lists_a_thread_with_a_deleted_comment_marked_and_not_counted(urls: Urls, thread: Thread) -> None:
    data = await answered(urls.mara, "get_activity_detail", {"activity_id": thread.activity_id})
    assert data["summary"]["comments"] == thread.live
    *_, sam, mara = data["comments"]
    assert (sam["by"], sam["text"]) == ({"untrusted": "Sam Okafor"}, {"untrusted": "Nice pacing on the last block."})
    assert mara == {
        "at": thread.deleted_at,
        "by": {"untrusted": "Mara Lindqvist"},
        "deleted": True,
    }  # marked, without its text


async def test_every_coach_tool_reading_threads_skips_the_deleted_comment(urls: Urls, thread: Thread) -> None:
    conversations = await answered(urls.coach, "get_conversations", {})
    columns, rows = conversations["threads"]["columns"], conversations["threads"]["rows"]
    (row,) = [dict(zip(columns, r, strict=True)) for r in rows if thread.activity_id in str(r)]
    # Sam wrote last once Mara's reply is gone: nothing awaits him, whatever the deleted reply said.
    assert row["awaiting_reply"] is False and row["messages"] == thread.live
    overview = await answered(urls.coach, "athlete_overview", {"athlete": MARA})
    (mine,) = [t for t in overview["open_threads"] if t.get("activity_id") == thread.activity_id]
    assert (mine["messages"], mine["awaiting_reply"]) == (thread.live, False)
    await answered(urls.coach, "roster_digest", {})
    news = await answered(urls.coach, "catch_up", {})
    assert "Nice pacing on the last block." in str([a.get("comments", []) for a in news["athletes"]])
