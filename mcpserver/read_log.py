"""The read calls' access-log rows, written in batches off the request path.

Every tool call appears in the athlete's access log. A write is journaled before its answer goes out
(its pre-image is what undo restores, see catalogue._log_call); a read's row only says that it
happened, so it is queued here and written with the other rows of the last MCP_READ_LOG_FLUSH_SECONDS
in one statement. Writing each row right after its answer cost a database hop and a commit per call,
and that hop competed for the interpreter with the next request (bench/mcp_overhead: +0.3 ms p50).

Rows are flushed by one task per event loop while any are queued, and once more when the application
shuts down (the ASGI lifespan). A worker killed outright loses at most the last interval's read rows.
A failed flush keeps its rows for the next one, up to MAX_PENDING rows.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from typing import Any

from django.conf import settings

from config.middleware import database_unavailable
from mcpserver.db import run_db

logger = logging.getLogger(__name__)

MAX_PENDING = 20_000

_pending: list[dict[str, Any]] = []
_inflight = 0  # batches handed to a database thread and not finished there yet
_lock = threading.Lock()
_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def _write(rows: list[dict[str, Any]]) -> None:
    from coaching.actions import record_read_calls

    record_read_calls(rows)


def _write_batch(rows: list[dict[str, Any]]) -> None:
    """On a database thread: write one batch, then count it done (even if the task awaiting it is gone)."""
    global _inflight
    try:
        _write(rows)
    finally:
        with _lock:
            _inflight -= 1


async def record(rows: list[dict[str, Any]]) -> None:
    """Log the read rows of one answered call: queued for the next batch, or written now (interval 0)."""
    interval = float(settings.MCP_READ_LOG_FLUSH_SECONDS)
    if interval <= 0:
        await _flush_rows(rows)
        return
    with _lock:
        _pending.extend(rows)
    loop = asyncio.get_running_loop()
    task = _flushers.get(loop)
    if task is None or task.done():
        _flushers[loop] = loop.create_task(_flush_every(interval), name="threshold-read-log")


async def _flush_every(interval: float) -> None:
    # Ends once nothing is queued (an idle worker does not wake up every interval); the next record()
    # starts it again. Both run on this loop, so no row can slip in between the check and the return.
    while True:
        await asyncio.sleep(interval)
        await flush()
        if not pending_count():
            return


async def flush() -> None:
    """Write every queued row now."""
    with _lock:
        rows = _pending[:]
        _pending.clear()
    if rows:
        await _flush_rows(rows)


async def drain(timeout: float = 5.0) -> None:
    """Write every queued row and wait until no batch is still being written (the lifespan's shutdown).

    A batch stays in flight on its database thread even when the task awaiting it is cancelled (as the
    periodic flusher is when the event loop ends): returning before it finished would let the process
    exit, or a test tear its database down, in the middle of that write.
    """
    await flush()
    deadline = time.monotonic() + timeout
    while True:
        with _lock:
            if _inflight == 0:
                return
        if time.monotonic() > deadline:
            logger.warning("access log: a batch of read rows was still being written at shutdown")
            return
        await asyncio.sleep(0.01)


async def _flush_rows(rows: list[dict[str, Any]]) -> None:
    global _inflight
    with _lock:
        _inflight += 1
    try:
        await run_db(_write_batch, rows)
    except Exception as exc:
        if database_unavailable(exc):
            # One line per batch while PostgreSQL is away, not a traceback.
            logger.warning("access log: database unavailable; keeping %d read rows for the next flush", len(rows))
        else:
            logger.exception("could not write %d access-log rows; keeping them for the next flush", len(rows))
        with _lock:
            room = MAX_PENDING - len(_pending)
            if room > 0:
                _pending[:0] = rows[-room:]


def pending_count() -> int:
    with _lock:
        return len(_pending)
