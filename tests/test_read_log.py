"""Read calls reach the athlete's access log in batches, off the request path, and none is lost on shutdown."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import anyio
import pytest
from asgiref.sync import sync_to_async

from coaching.models import AccessLogEntry
from mcpserver import read_log
from tests.conftest import MARA, Sandbox, ServerThread, free_port, make_athlete, mcp_url
from tests.read_tools_helpers import ok

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _empty_queue() -> None:
    read_log._pending.clear()  # nothing queued by an earlier test


def read_row(tool: str, summary: str = "ok") -> dict[str, Any]:
    return {
        "token_id": None,
        "actor_label": "Your assistant",
        "tool": tool,
        "athlete_id": MARA,
        "athlete_user_id": None,
        "outcome": "ok",
        "summary": summary,
        "is_write": False,
        "write": None,
        "undo_of_id": None,
    }


async def logged(**filters: Any) -> list[tuple[str, str, bool]]:
    def rows() -> list[tuple[str, str, bool]]:
        from django.db import connection

        try:
            return [(e.tool, e.outcome, e.is_write) for e in AccessLogEntry.objects.filter(**filters).order_by("pk")]
        finally:
            connection.close()

    return await sync_to_async(rows, thread_sensitive=False)()


async def test_it_queues_read_rows_and_writes_them_together(settings: Any) -> None:
    settings.MCP_READ_LOG_FLUSH_SECONDS = 60
    await read_log.record([read_row("get_wellness")])
    await read_log.record([read_row("get_fitness")])
    assert read_log.pending_count() == 2 and await logged(athlete_id=MARA) == []
    await read_log.flush()
    assert await logged(athlete_id=MARA) == [("get_wellness", "ok", False), ("get_fitness", "ok", False)]
    assert read_log.pending_count() == 0


async def test_it_flushes_on_its_own_every_interval(settings: Any) -> None:
    settings.MCP_READ_LOG_FLUSH_SECONDS = 0.1
    await read_log.record([read_row("get_events")])
    with anyio.fail_after(5):
        while not await logged(tool="get_events"):
            await anyio.sleep(0.05)
    flusher = read_log._flushers[asyncio.get_running_loop()]
    with anyio.fail_after(5):
        while not flusher.done():  # nothing left: an idle worker's flusher stops waking up
            await anyio.sleep(0.05)
    await read_log.record([read_row("get_best_efforts")])  # and the next row starts it again
    with anyio.fail_after(5):
        while not await logged(tool="get_best_efforts"):
            await anyio.sleep(0.05)


async def test_it_writes_at_once_with_an_interval_of_zero(settings: Any) -> None:
    settings.MCP_READ_LOG_FLUSH_SECONDS = 0
    await read_log.record([read_row("get_training_summary")])
    assert await logged(tool="get_training_summary") == [("get_training_summary", "ok", False)]


async def test_it_keeps_the_rows_of_a_failed_flush_for_the_next(settings: Any, monkeypatch: Any) -> None:
    settings.MCP_READ_LOG_FLUSH_SECONDS = 60
    await read_log.record([read_row("get_power_curves")])

    def database_down(rows: list[dict[str, Any]]) -> None:
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(read_log, "_write", database_down)
    await read_log.flush()
    assert read_log.pending_count() == 1 and await logged(tool="get_power_curves") == []
    monkeypatch.undo()
    await read_log.flush()
    assert await logged(tool="get_power_curves") == [("get_power_curves", "ok", False)]


async def test_a_call_answered_just_before_shutdown_still_reaches_the_log(settings: Any, sandbox: Sandbox) -> None:
    from config.asgi import build_application

    settings.MCP_READ_LOG_FLUSH_SECONDS = 60  # nothing would be written before the shutdown
    port = free_port()
    settings.SITE_URL = f"http://127.0.0.1:{port}"
    server = ServerThread(build_application(mount_sandbox=False), port=port).start()
    try:
        mara = await sync_to_async(make_athlete)("mara@example.com", athlete_id=MARA, sandbox=sandbox)
        url = await sync_to_async(mcp_url)(server, mara)
        await ok(url, "get_training_history", {})
        assert await logged(athlete_user__email="mara@example.com") == []
    finally:
        server.stop()  # the lifespan's shutdown flushes the queue
    assert await logged(athlete_user__email="mara@example.com") == [("get_training_history", "ok", False)]


async def test_a_row_whose_user_was_deleted_does_not_block_the_others(settings: Any, sandbox: Sandbox) -> None:
    settings.MCP_READ_LOG_FLUSH_SECONDS = 60
    gone = await sync_to_async(make_athlete)("gone@example.com", athlete_id=None)
    await read_log.record([{**read_row("get_wellness"), "athlete_user_id": gone.pk}, read_row("get_fitness")])
    await sync_to_async(gone.delete)()  # the account is deleted before the batch is written
    await read_log.flush()
    assert await logged(athlete_id=MARA) == [("get_fitness", "ok", False)]
    assert read_log.pending_count() == 0, "the row that can never be written is dropped, not retried forever"


async def test_a_batched_row_keeps_the_time_of_its_call(settings: Any) -> None:
    from django.utils import timezone

    settings.MCP_READ_LOG_FLUSH_SECONDS = 60
    answered = timezone.now() - timedelta(seconds=30)
    await read_log.record([{**read_row("get_athlete_profile"), "at": answered}])
    await read_log.flush()

    def stamp() -> Any:
        from django.db import connection

        try:
            return AccessLogEntry.objects.get(tool="get_athlete_profile").created_at
        finally:
            connection.close()

    assert await sync_to_async(stamp, thread_sensitive=False)() == answered


async def test_shutdown_waits_for_a_batch_still_being_written(settings: Any, monkeypatch: Any) -> None:
    """The periodic flusher is cancelled when its event loop ends, but its batch goes on being written on a
    database thread: shutdown must wait for it (a test's teardown truncating the tables under it deadlocked)."""
    import threading
    import time

    settings.MCP_READ_LOG_FLUSH_SECONDS = 60
    written = threading.Event()

    def slow_write(rows: list[dict[str, Any]]) -> None:
        time.sleep(0.5)
        written.set()

    monkeypatch.setattr(read_log, "_write", slow_write)
    await read_log.record([read_row("get_wellness")])
    flushing = asyncio.ensure_future(read_log.flush())
    await asyncio.sleep(0.05)  # the batch is on its database thread now
    flushing.cancel()  # as when the loop ends
    await read_log.drain()
    assert written.is_set(), "drain returned while the batch was still being written"
