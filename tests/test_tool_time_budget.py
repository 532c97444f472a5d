"""A tool call's time budget (MCP_TOOL_TIME_BUDGET_SECONDS): past it, a read answers a clear "took too long"
and stops; a write already on its way is left to finish and is journaled (with its pre-image) when it ends.

People: Mara plans her week while Intervals.icu crawls (each upstream request takes 0.7 to 2.5 s); Diego,
another tenant on the same server, asks who he is meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from coaching.models import AccessLogEntry
from tests.conftest import DIEGO, MARA, Sandbox, ServerThread, make_athlete, mcp_url
from tests.test_tools_write_helpers import THRESHOLD_STEPS, call, events_on, future_day, unique

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

BUDGET_S = 1.5
SLOW_MS = 700  # per upstream request: a push makes several, one after another


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def urls(product: ServerThread, sandbox: Sandbox, settings: Any) -> dict[str, str]:
    settings.MCP_TOOL_TIME_BUDGET_SECONDS = BUDGET_S
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    diego = make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox)
    return {"mara": mcp_url(product, mara), "diego": mcp_url(product, diego)}


async def timed(url: str, tool: str, args: dict[str, Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = await call(url, tool, args)
    return result, time.monotonic() - started


async def test_it_stops_a_slow_read_at_its_budget_with_a_clear_message(urls: dict[str, str], sandbox: Sandbox) -> None:
    sandbox.state.faults.set(latency_ms=2500)
    (result, seconds), (whoami, whoami_s) = await asyncio.gather(
        timed(urls["mara"], "get_fitness", {"project_to": future_day("Europe/Stockholm", 60).isoformat()}),
        timed(urls["diego"], "whoami", {}),
    )
    assert result.is_error
    text = result.content[0].text
    assert "took too long" in text and "Intervals.icu is slow right now" in text, text
    assert seconds < BUDGET_S + 1.5, seconds
    assert not whoami.is_error and whoami_s < 1.0, "Diego's call never waits for Mara's"


async def test_it_finishes_a_slow_write_after_answering_and_journals_it_for_undo(
    urls: dict[str, str], sandbox: Sandbox
) -> None:
    sandbox.state.faults.set(latency_ms=SLOW_MS)
    day = future_day("Europe/Stockholm", 20)
    name = unique("Slow push")
    args = {"date": day.isoformat(), "sport": "Ride", "name": name, "steps": THRESHOLD_STEPS}
    result, seconds = await timed(urls["mara"], "push_workout", args)
    assert result.is_error
    text = result.content[0].text
    assert "took too long" in text and "being finished" in text and "before retrying" in text, text
    assert seconds < BUDGET_S + 1.5, seconds

    # The write goes on without the client: on the calendar and in the access log, with what undo needs.
    deadline = time.monotonic() + 15
    entry = None
    while time.monotonic() < deadline and entry is None:
        await asyncio.sleep(0.3)
        entry = await sync_to_async(
            lambda: AccessLogEntry.objects.filter(tool="push_workout", outcome="ok", is_write=True).first()
        )()
    assert entry is not None, "the finished write is journaled"
    assert entry.write_kind == "event.create" and entry.post_image and entry.post_image["name"] == name
    sandbox.state.faults.clear()
    assert [e["name"] for e in events_on(sandbox, MARA, day) if e["name"] == name] == [name]
    # An undo deletes: its preview gives the code the undo itself needs (MCP safety).
    preview = await call(urls["mara"], "undo_last_write", {"dry_run": True})
    assert not preview.is_error and preview.structured_content is not None, preview.content
    undone = await call(urls["mara"], "undo_last_write", {"confirm": preview.structured_content["confirm"]})
    assert not undone.is_error, undone.content
    assert not [e for e in events_on(sandbox, MARA, day) if e["name"] == name]


async def test_it_finishes_and_journals_a_write_whose_client_went_away(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mara's assistant hangs up while her push is on its way upstream: the write ends and is logged anyway."""
    from pydantic import BaseModel

    from coaching.actions import WriteRecord
    from mcpserver import catalogue

    logged: list[tuple[str, Any, str]] = []

    async def log_call(spec: Any, call: Any, result: Any, message: str) -> None:
        logged.append((spec.name, result, message))

    async def slow_write(call: Any, args: Any) -> catalogue.ToolResult:
        await asyncio.sleep(0.3)
        write = WriteRecord(kind="event.create", target="1", before=None, after={"id": 1})
        return catalogue.ToolResult(data={}, text="Added.", write=write)

    monkeypatch.setattr(catalogue, "_log_call", log_call)
    spec = catalogue.ToolSpec(
        name="slow_write",
        title="",
        description="",
        input_model=catalogue.ToolInput,
        output_model=BaseModel,
        handler=slow_write,
        scope=None,
        read_only=False,
    )
    caller = asyncio.ensure_future(catalogue._within_budget(spec, Any, catalogue.ToolInput()))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0.6)
    assert [(name, result.text) for name, result, _ in logged] == [("slow_write", "Added.")]
