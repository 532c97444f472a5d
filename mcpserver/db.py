"""Database work for the MCP endpoint: a few long-lived threads, a connection back to the pool after each hop.

Django's ORM is synchronous, so every MCP request hops to a thread for its database work (the principal
before the call, a write's journal row, the read log after the answer). `asgiref`'s per-request
`ThreadSensitiveContext` would start a new thread for each request: starting a thread blocks the event
loop until it runs, which under load cost milliseconds per request (cProfile of bench/mcp_overhead:
thread start-up was the event loop's largest single cost). These threads live as long as the process.

No hop relies on a transaction or a connection surviving into the next one, so hops need no thread of
their own. Each hop hands its connection back at the end (to the psycopg pool in production): a tool call
spends most of its time waiting on Intervals.icu, and holding a pooled connection across that wait would
cap a worker's calls in flight at the pool size.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import close_old_connections

P = ParamSpec("P")
T = TypeVar("T")


@functools.cache
def _executor() -> ThreadPoolExecutor:
    # At most as many threads as pooled connections: a hop never waits on the pool for a connection
    # another hop of ours holds. Without a pool (tests, SQLite), a handful is plenty.
    options = settings.DATABASES["default"].get("OPTIONS") or {}
    pool = int((options.get("pool") or {}).get("max_size", 0)) if isinstance(options.get("pool"), dict) else 0
    workers = max(2, pool - 1) if pool > 0 else 4
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mcp-db")


def _hop(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


async def run_db(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run the synchronous `fn(*args, **kwargs)` on a database thread and return its result.

    Context variables are carried over; the thread's connection is released when `fn` returns or raises.
    """
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    return await loop.run_in_executor(_executor(), ctx.run, _hop, fn, args, kwargs)
