"""Helpers shared by the write-tool end-to-end tests (tests/test_tools_write_*.py); no tests here.

The sandbox is shared by the whole test session: write tests only touch dates well in the future (or
restore what they change), and use names unique to the test so other tests never see their events.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from mcp.client import Client

from mcpserver import present
from tests.conftest import Sandbox


def upstream(sandbox: Sandbox, athlete_id: str, method: str, path: str, **kwargs: Any) -> Any:
    """Ask the sandbox directly, as the real API would answer, with the athlete's demo token."""
    response = httpx.request(
        method,
        f"{sandbox.url}/api/v1{path}",
        headers={"Authorization": f"Bearer {sandbox.state.demo_token(athlete_id)}"},
        **kwargs,
    )
    response.raise_for_status()
    return response.json() if response.content else None


def events_on(sandbox: Sandbox, athlete_id: str, day: date) -> list[dict[str, Any]]:
    return list(
        upstream(sandbox, athlete_id, "GET", f"/athlete/{athlete_id}/events", params={"oldest": day, "newest": day})
    )


def local_today(tz: str) -> date:
    return present.local_today(tz)


def future_day(tz: str, days: int) -> date:
    return local_today(tz) + timedelta(days=days)


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


async def call(url: str, tool: str, args: dict[str, Any]) -> Any:
    async with Client(url, mode="legacy") as client:
        return await client.call_tool(tool, args)


async def ok(url: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """Call a tool that must succeed; its structuredContent."""
    result = await call(url, tool, args)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.content and result.content[0].text
    return dict(result.structured_content)


async def error_text(url: str, tool: str, args: dict[str, Any]) -> str:
    result = await call(url, tool, args)
    assert result.is_error, result.structured_content
    return str(result.content[0].text)


THRESHOLD_STEPS: list[dict[str, Any]] = [
    {"seconds": 900, "phase": "warmup", "ramp": True, "target": {"type": "%ftp", "value": 50, "to": 75}},
    {
        "repeat": 3,
        "steps": [
            {"seconds": 720, "target": {"type": "%ftp", "value": 95, "to": 100}},
            {"seconds": 360, "phase": "rest", "target": {"type": "%ftp", "value": 55}},
        ],
    },
    {"seconds": 600, "phase": "cooldown", "target": {"type": "%ftp", "value": 50}},
]
THRESHOLD_TEXT = (
    "Warmup\n- 15m ramp 50-75%\n\nMain Set 3x\n- 12m 95-100%\n- 6m 55% intensity=rest\n\nCooldown\n- 10m 50%\n"
)


async def ok_confirmed(url: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """Call a tool that overwrites or deletes as a user who agreed to it does: the preview (which writes
    nothing and carries a code), then the same call with that code."""
    preview = await ok(url, tool, args)
    assert preview["status"] == "preview" and preview.get("confirm"), preview
    return await ok(url, tool, {**args, "confirm": preview["confirm"]})
