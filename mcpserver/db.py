"""Database work from async MCP code: `await run_db(fn, *args)`.

Django's ORM is synchronous. Each call runs on a shared worker thread (not a thread made per request,
which costs a thread start and join on every MCP call) and closes that thread's connections when it
is done (returned to the pool), because nothing else would: MCP requests never fire Django's
request_finished signal. Keep each call self-contained (its own transaction, no lazy querysets out).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections

T = TypeVar("T")


def _closing(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


async def run_db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn(*args, **kwargs)` (sync, ORM) off the event loop and release its connection after."""
    return await sync_to_async(_closing, thread_sensitive=False)(fn, args, kwargs)
