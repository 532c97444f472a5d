"""The personal MCP URL end to end: uvicorn on loopback, the official `mcp` client, the sandbox upstream."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp.client import Client

from tests.conftest import AROHA, MARA, Sandbox, ServerThread, make_athlete, mcp_url

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

MODES = ["auto", "legacy"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


def upstream_activities(sandbox: Sandbox, athlete_id: str, start: date, end: date) -> list[dict[str, Any]]:
    """Ask the sandbox directly, as the real API would answer, to know what to expect."""
    response = httpx.get(
        f"{sandbox.url}/api/v1/athlete/{athlete_id}/activities",
        params={"oldest": start.isoformat(), "newest": f"{end.isoformat()}T23:59:59"},
        headers={"Authorization": f"Bearer {sandbox.state.demo_token(athlete_id)}"},
    )
    response.raise_for_status()
    return list(response.json())


@pytest.mark.parametrize("mode", MODES)
async def test_it_lists_tools_and_reads_training_history(mara_url: str, sandbox: Sandbox, mode: str) -> None:
    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=13)
    expected = [a for a in upstream_activities(sandbox, MARA, start, end) if a.get("source") != "STRAVA"]
    assert expected, "the sandbox athlete should have trained in two weeks"

    async with Client(mara_url, mode=mode) as client:  # type: ignore[arg-type]
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"whoami", "get_athlete_profile", "get_training_history"} <= set(tools)
        history = tools["get_training_history"]
        assert history.annotations is not None and history.annotations.read_only_hint is True
        assert history.output_schema is not None
        assert history.input_schema.get("additionalProperties") is False

        result = await client.call_tool("get_training_history", {"start": start.isoformat(), "end": end.isoformat()})
    assert not result.is_error, result.content
    data = result.structured_content
    assert data is not None
    assert data["athlete"] == {"id": MARA, "name": {"untrusted": "Mara Lindqvist"}, "timezone": "Europe/Stockholm"}
    real_rows = [r for r in data["activities"] if "unavailable" not in r]
    assert len(real_rows) == len(expected)
    by_id = {r["id"]: r for r in real_rows}
    for activity in expected:
        row = by_id[activity["id"]]
        assert row["name"] == {"untrusted": activity["name"]}
        assert row["sport"] == activity["type"]
        assert row["load"] == round(activity["icu_training_load"])
        day = date.fromisoformat(activity["start_date_local"][:10])
        assert row["date"] == f"{day:%a} {day.isoformat()}"
    assert "«Mara Lindqvist»" in result.content[0].text  # type: ignore[union-attr]  (fenced: her own words)


async def test_it_flags_strava_stubs_as_unavailable_never_zero(mara_url: str, sandbox: Sandbox) -> None:
    end = date.today()
    start = end - timedelta(days=200)
    stubs = [a for a in upstream_activities(sandbox, MARA, start, end) if a.get("source") == "STRAVA"]
    assert stubs, "the sandbox seeds Strava stubs"
    async with Client(mara_url, mode="legacy") as client:
        result = await client.call_tool(
            "get_training_history", {"start": (end - timedelta(days=199)).isoformat(), "end": end.isoformat()}
        )
    rows = {r["id"]: r for r in result.structured_content["activities"]}  # type: ignore[index]
    for stub in stubs:
        row = rows[str(stub["id"])]
        assert "Strava" in row["unavailable"]
        assert "load" not in row and "duration" not in row


async def test_it_rejects_bad_arguments_with_a_clear_tool_error(mara_url: str) -> None:
    async with Client(mara_url, mode="legacy") as client:
        wrong_type = await client.call_tool("get_training_history", {"start": "last tuesday"})
        unknown = await client.call_tool("get_training_history", {"api_key": "x"})
        too_long = await client.call_tool("get_training_history", {"start": "2020-01-01", "end": "2026-01-01"})
        reversed_window = await client.call_tool("get_training_history", {"start": "2026-02-01", "end": "2026-01-01"})
    assert wrong_type.is_error and "start" in wrong_type.content[0].text  # type: ignore[union-attr]
    assert unknown.is_error and "unknown argument 'api_key'" in unknown.content[0].text  # type: ignore[union-attr]
    assert too_long.is_error and "maximum is" in too_long.content[0].text  # type: ignore[union-attr]
    assert reversed_window.is_error and "after end" in reversed_window.content[0].text  # type: ignore[union-attr]


async def test_it_reports_an_upstream_outage_as_a_tool_error_not_a_500(mara_url: str, sandbox: Sandbox) -> None:
    sandbox.state.faults.set(status=500)
    async with Client(mara_url, mode="legacy") as client:
        result = await client.call_tool("get_training_history", {})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "not answering" in text and "Traceback" not in text


async def test_it_retries_a_429_and_still_answers(mara_url: str, sandbox: Sandbox) -> None:
    sandbox.state.faults.set(status=429, retry_after=0, times=2)
    async with Client(mara_url, mode="legacy") as client:
        result = await client.call_tool("get_training_history", {})
    assert not result.is_error, result.content


@pytest.fixture
def aroha_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("aroha@example.com", athlete_id=AROHA, sandbox=sandbox))


@pytest.fixture
def partial_url(product: ServerThread, sandbox: Sandbox) -> str:
    user = make_athlete("partial@example.com", athlete_id=MARA, sandbox=sandbox, scopes="ACTIVITY:READ")
    return mcp_url(product, user)


async def test_it_answers_the_same_token_as_a_bearer_header(product: ServerThread, aroha_url: str) -> None:
    url = aroha_url
    token = url.rsplit("/", 1)[1]
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    from mcp.client.streamable_http import streamable_http_client

    async with Client(streamable_http_client(f"{product.url}/mcp/", http_client=http), mode="legacy") as client:
        result = await client.call_tool("whoami", {})
    assert result.structured_content["athletes"][0]["timezone"] == "Pacific/Auckland"  # type: ignore[index]


async def test_it_hides_and_refuses_tools_whose_scope_was_not_granted(partial_url: str) -> None:
    async with Client(partial_url, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "get_training_history" in names and "get_athlete_profile" not in names
        refused = await client.call_tool("get_athlete_profile", {})
        missing = await client.call_tool("no_such_tool", {})
    assert refused.is_error and missing.is_error
    refused_text = refused.content[0].text.replace("get_athlete_profile", "X")  # type: ignore[union-attr]
    missing_text = missing.content[0].text.replace("no_such_tool", "X")  # type: ignore[union-attr]
    assert refused_text == missing_text
    assert refused_text.startswith("No athlete '(default athlete)' with X on this MCP URL.")


async def test_it_records_every_call_in_the_athletes_access_log(mara_url: str) -> None:
    from asgiref.sync import sync_to_async

    from coaching.models import AccessLogEntry

    async with Client(mara_url, mode="legacy") as client:
        await client.call_tool("get_training_history", {})
        await client.call_tool("get_training_history", {"start": "2026-02-01", "end": "2026-01-01"})

    def rows() -> list[tuple[str, str, str, bool]]:
        from django.db import connection

        try:
            return [
                (e.tool, e.athlete_id, e.outcome, e.is_write)
                for e in AccessLogEntry.objects.filter(athlete_user__email="mara@example.com").order_by("pk")
            ]
        finally:
            connection.close()  # this runs on a helper thread the test database teardown cannot see

    # Read calls are journaled right after their answer is sent: give the server a moment.
    for _ in range(50):
        found = await sync_to_async(rows)()
        if len(found) >= 2:
            break
        await anyio.sleep(0.05)
    assert found == [
        ("get_training_history", MARA, "ok", False),
        ("get_training_history", MARA, "error", False),
    ]


async def test_it_limits_calls_per_token_with_a_clear_retry_after(mara_url: str, settings: Any) -> None:
    from integrations.intervals.ratelimit import reset_limiter

    settings.MCP_TOKEN_CALLS_PER_MINUTE = 6  # one call every 10 s
    settings.MCP_TOKEN_BURST = 2
    reset_limiter()
    async with Client(mara_url, mode="legacy") as client:
        first = await client.call_tool("whoami", {})
        second = await client.call_tool("whoami", {})
        third = await client.call_tool("whoami", {})
        listed = await client.list_tools()  # listing tools is never throttled
    assert not first.is_error and not second.is_error
    assert third.is_error
    text = third.content[0].text  # type: ignore[union-attr]
    assert text.startswith("Too many calls through this MCP URL right now; retry after about")
    assert listed.tools
