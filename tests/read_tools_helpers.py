"""Helpers shared by the read-tool end-to-end tests (tests/test_tools_read_*.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
from mcp.client import Client

from mcpserver import present
from tests.conftest import Sandbox


def upstream(sandbox: Sandbox, athlete_id: str, path: str, **params: Any) -> Any:
    """Ask the sandbox directly (as the real API would answer) with the athlete's demo token."""
    response = httpx.get(
        f"{sandbox.url}/api/v1{path}",
        params=params,
        headers={"Authorization": f"Bearer {sandbox.state.demo_token(athlete_id)}"},
    )
    response.raise_for_status()
    return response.json()


async def call(url: str, tool: str, args: dict[str, Any], *, mode: str = "legacy") -> Any:
    """Call one tool over real HTTP with the official client; returns the CallToolResult."""
    async with Client(url, mode=mode) as client:  # type: ignore[arg-type]
        return await client.call_tool(tool, args)


async def ok(url: str, tool: str, args: dict[str, Any], *, mode: str = "legacy") -> dict[str, Any]:
    """Call a tool that must succeed; returns its structuredContent."""
    result = await call(url, tool, args, mode=mode)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.content and result.content[0].text  # the short text rendering
    return dict(result.structured_content)


async def error_text(url: str, tool: str, args: dict[str, Any]) -> str:
    result = await call(url, tool, args)
    assert result.is_error, result.structured_content
    return str(result.content[0].text)


def requests_since(sandbox: Sandbox, mark: int) -> list[tuple[str, str, str, str | None, int]]:
    return list(sandbox.state.requests[mark:])


def mara_today() -> date:
    """Today in Mara's calendar (Europe/Stockholm): what the tools call today."""
    return present.local_today("Europe/Stockholm")
