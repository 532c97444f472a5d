"""Contract of every read tool: strict input, annotations, the athlete echoed, no secrets, compact answers."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from mcp.client import Client

from mcpserver.catalogue import REGISTRY
from tests.conftest import MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.read_tools_helpers import mara_today, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

READ_TOOLS = (
    "get_activity_detail",
    "get_extended_metrics",
    "get_training_summary",
    "get_fitness",
    "get_wellness",
    "get_best_efforts",
    "get_power_curves",
    "get_events",
    "get_workout_library",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mara_url(product: ServerThread, sandbox: Sandbox) -> str:
    return mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))


def calls(sandbox: Sandbox) -> list[tuple[str, dict[str, Any]]]:
    today = mara_today()
    acts = upstream(sandbox, MARA, f"/athlete/{MARA}/activities", oldest=str(today - timedelta(days=14)))
    with_chat = next(a for a in acts if a.get("icu_chat_id"))["id"]
    stub = next(
        a
        for a in upstream(sandbox, MARA, f"/athlete/{MARA}/activities", oldest=str(today - timedelta(days=199)))
        if a.get("source") == "STRAVA"
    )["id"]
    return [
        ("get_activity_detail", {"activity_id": with_chat}),
        ("get_activity_detail", {"activity_id": stub}),
        ("get_extended_metrics", {"activity_id": with_chat, "profile_points": 20}),
        ("get_training_summary", {"period": "month"}),
        ("get_fitness", {"project_to": str(today + timedelta(days=14))}),
        ("get_wellness", {"start": str(today - timedelta(days=29)), "end": str(today)}),
        ("get_best_efforts", {"metric": "hr"}),
        ("get_power_curves", {"periods": ["42d", "1y"]}),
        ("get_events", {"start": str(today - timedelta(days=7))}),
        ("get_workout_library", {"with_steps": True, "query": "sweet"}),
    ]


async def test_every_read_tool_is_strict_annotated_and_leaks_nothing(mara_url: str, sandbox: Sandbox) -> None:
    async with Client(mara_url, mode="legacy") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for name in READ_TOOLS:
            tool = tools[name]
            assert tool.title and tool.annotations is not None and tool.annotations.read_only_hint is True
            assert tool.input_schema.get("additionalProperties") is False
            assert "athlete" in tool.input_schema["properties"]
            assert tool.output_schema is not None
            # The published shape names every top-level key the answer may carry, and only those.
            assert set(tool.output_schema["properties"]) == set(REGISTRY[name].output_model.model_fields), name
            size = len(json.dumps(tool.model_dump(by_alias=True, exclude_none=True), separators=(",", ":")))
            assert size <= 1200, (name, size)
        for name, args in calls(sandbox):
            result = await client.call_tool(name, args)
            assert not result.is_error, (name, result.content)
            blob = json.dumps(result.structured_content) + result.content[0].text  # type: ignore[union-attr]
            assert "SECRET" not in blob, name
            assert set(result.structured_content or {}) <= set(tools[name].output_schema["properties"]), name  # type: ignore[index]
            assert "@" not in blob.replace("@intervals.icu", ""), name  # no e-mail addresses
            assert result.structured_content["athlete"] == {  # type: ignore[index]
                "id": MARA,
                "name": {"untrusted": "Mara Lindqvist"},
                "timezone": "Europe/Stockholm",
            }
            unknown = await client.call_tool(name, {**args, "athlete_id": MARA})
            assert unknown.is_error and "unknown argument 'athlete_id'" in unknown.content[0].text  # type: ignore[union-attr]


async def test_upstream_failure_is_a_clear_error_never_a_crash(mara_url: str, sandbox: Sandbox) -> None:
    sandbox.state.faults.set(status=503)
    try:
        async with Client(mara_url, mode="legacy") as client:
            for name in ("get_fitness", "get_events", "get_workout_library"):
                result = await client.call_tool(name, {})
                assert result.is_error
                text = result.content[0].text  # type: ignore[union-attr]
                assert "Traceback" not in text and "internal error" not in text, text
    finally:
        sandbox.state.faults.clear()


async def test_it_answers_an_error_when_a_tool_breaks_its_own_output_schema(
    mara_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every answer is checked against the tool's output model before it leaves: a bug that returns the
    wrong shape is a clear isError answer (and a logged error), never a malformed result."""
    from dataclasses import replace

    from mcpserver.catalogue import ToolResult

    async def broken(call: Any, args: Any) -> ToolResult:
        return ToolResult(data={"athlete": "not an echo", "unexpected": 1}, text="oops")

    monkeypatch.setitem(REGISTRY, "get_workout_library", replace(REGISTRY["get_workout_library"], handler=broken))
    async with Client(mara_url, mode="legacy") as client:
        result = await client.call_tool("get_workout_library", {})
    assert result.is_error
    assert "internal error on Threshold's side" in result.content[0].text  # type: ignore[union-attr]
    assert result.structured_content is None
